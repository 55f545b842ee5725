//! goshim's own stderr output: errors always, diagnostics only when `GOSHIM_LOG` asks.

use std::sync::OnceLock;

use crate::settings::vars::{self, Env};

/// The one global: set from the start-up environment by [`init`], so that
/// `debug!` works anywhere without an `Env` to hand. Off until then.
static ON: OnceLock<bool> = OnceLock::new();

/// Takes `GOSHIM_LOG` from the environment (first call wins).
pub fn init(process: &Env) {
    let _ = ON.set(wants_log(process));
}

/// Whether `GOSHIM_LOG` is set to anything but empty/0/off.
fn wants_log(process: &Env) -> bool {
    process.non_empty(vars::GOSHIM_LOG).is_some() && !process.is_falsy(vars::GOSHIM_LOG)
}

/// Whether diagnostics are shown.
pub fn enabled() -> bool {
    ON.get().copied().unwrap_or(false)
}

/// Writes one `goshim: ` line to stderr; a closed or broken stderr is not an error.
pub fn line(args: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "goshim: {args}");
}

/// A diagnostic line, shown only with `GOSHIM_LOG`.
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled() {
            $crate::log::line(format_args!($($arg)*));
        }
    };
}
pub(crate) use debug;

/// A line about something that went wrong; always shown.
macro_rules! warn_line {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
pub(crate) use warn_line as warn;

/// "1 proxy", "2 proxies": a count with the right form of its noun.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goshim_log_values() {
        let log = |v| wants_log(&Env::from_pairs(&[("GOSHIM_LOG", v)]));
        assert!(log("1") && log("debug") && log("info"));
        assert!(!log("") && !log("0") && !log("off") && !log("false") && !log("no"));
        assert!(!wants_log(&Env::default()));
    }
}

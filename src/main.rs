//! goshim: a `go` toolchain shim. The personality comes from the name it was
//! started as (the file stem of argv[0]): `go` is the shim, anything else
//! (`goshim`) the CLI.
//!
//! The folders follow the architecture:
//! - `shim`: the go personality: finding the real go (`discovery`), what a
//!   command may do (`command`), running and supervising go (`child`), reading
//!   go's errors (`failover`), and carrying out the plan.
//! - `go`: the go command's own settings and vocabulary: `go env` (cached),
//!   GOPROXY lists, module paths, toolchain switches.
//! - `health`: the health snapshot, scores, and the choice of proxies (`select`).
//! - `probe`: measuring proxies, in the foreground or a detached refresh.
//! - `relay`: the loopback relay that fails over per request.
//! - `upstream`: one proxy endpoint: URL, credentials (GOAUTH, .netrc, Basic auth), TLS.
//! - `settings`: goshim's config file, environment variables, presets, paths.
//!   The environment is read once, in `main`, into a `settings::vars::Env`
//!   that is passed down (only the logger and TLS keep a value of it globally).
//! - `cli`, `doctor`, `metrics`: the goshim personality.
//! - `platform`: what differs between Unix and Windows (file identity and
//!   modes, detaching a process); running go differs in `shim::child`.
//! - `error_class`, `state_file`, `log`: shared vocabulary and plumbing.

use std::ffi::OsString;
use std::path::Path;

use platform::Platform;
use settings::vars::{self, Env};

mod cli;
mod doctor;
mod error_class;
mod go;
mod health;
mod log;
mod metrics;
mod platform;
mod probe;
mod relay;
mod settings;
mod shim;
mod state_file;
mod upstream;

fn main() {
    // The only read of the process environment: everything below gets `&Env`.
    // Leaked (it lives as long as the process anyway) so that the upstream
    // clients can keep a reference instead of copying settings at every start.
    let process: &'static Env = Box::leak(Box::new(Env::capture()));
    if process.get_os(vars::GOSHIM_FORCE_ARG0).is_some() {
        // It names this process only (the Windows prober's personality):
        // what this process starts (go, GOAUTH helpers) must not inherit it.
        // SAFETY: no other thread exists yet.
        unsafe { std::env::remove_var(vars::GOSHIM_FORCE_ARG0) };
    }
    crate::log::init(process);
    crate::upstream::init(process);
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    if started_as_go(process, &argv0) {
        crate::shim::main(process, rest)
    } else {
        crate::cli::main(process, rest)
    }
}

/// The file stem of argv[0], unless a test forces another name.
fn started_as_go(process: &Env, argv0: &OsString) -> bool {
    let name = process.get_os(vars::GOSHIM_FORCE_ARG0).unwrap_or(argv0);
    is_go(Platform::CURRENT, Path::new(name))
}

/// Whether a program of this name is the go shim: its file stem is `go`
/// (`go.exe`, and in any case on Windows, where names ignore case).
fn is_go(platform: Platform, name: &Path) -> bool {
    name.file_stem().is_some_and(|stem| match platform {
        Platform::Unix | Platform::MacOs => stem == "go",
        Platform::Windows => stem.eq_ignore_ascii_case("go"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_by_file_stem() {
        let table = [
            (Platform::Unix, "go", true),
            (Platform::Unix, "/home/u/.goshim/bin/go", true),
            (Platform::Unix, "GO", false),
            (Platform::Unix, "goshim", false),
            (Platform::Unix, "go.exe", true),
            (Platform::Windows, "C:/Users/u/.goshim/bin/go.exe", true),
            (Platform::Windows, "GO.EXE", true),
            (Platform::Windows, "Go", true),
            (Platform::Windows, "goshim.exe", false),
            (Platform::Windows, "gofmt.exe", false),
        ];
        for (platform, name, want) in table {
            assert_eq!(
                is_go(platform, Path::new(name)),
                want,
                "{platform:?} {name}"
            );
        }
    }
}

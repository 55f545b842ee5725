//! Running the real go: exec when nothing is left to do afterwards, otherwise
//! spawn and supervise it like a good parent (after uv's child.rs). How
//! differs per platform (`unix`: exec, signals, reaping; `windows`: no exec,
//! console control events, a job object); what go's ending means is decided
//! here, for both.

use std::io::{self, Read, Write};
use std::process::ExitStatus;

use crate::platform::Platform;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

pub use imp::{exec, interrupted, run};

/// How a supervised run ended, with the stderr text when it was captured.
pub struct Outcome {
    pub status: ExitStatus,
    pub stderr: String,
}

/// The longest stderr tail kept for classification; older text is dropped.
const STDERR_KEEP: usize = 256 * 1024;

/// The exit code of a Windows process ended by Ctrl-C or Ctrl-Break
/// (STATUS_CONTROL_C_EXIT); never a Unix exit code, which is one byte.
const CONTROL_C_EXIT: i32 = 0xC000_013A_u32 as i32;

/// How the shim ends so that its caller sees what go's own ending shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ending {
    /// exit(code): on Windows the full 32-bit code, not a byte of it.
    Code(i32),
    /// Re-raise the signal (Unix); 128+n where it cannot kill us (as PID 1).
    Signal(i32),
}

impl Ending {
    /// go's raw status as the platform reports it: a wait(2) status on Unix,
    /// the process exit code (GetExitCodeProcess) on Windows.
    pub fn of(platform: Platform, raw: u32) -> Ending {
        match platform {
            Platform::Windows => Ending::Code(raw as i32),
            Platform::Unix | Platform::MacOs => match raw & 0x7f {
                0 => Ending::Code(((raw >> 8) & 0xff) as i32),
                signal => Ending::Signal(signal as i32),
            },
        }
    }

    /// Whether go was stopped rather than finished (a signal, or Ctrl-C on
    /// Windows): a run the user interrupted is never repeated.
    pub fn stopped(self) -> bool {
        matches!(self, Ending::Signal(_) | Ending::Code(CONTROL_C_EXIT))
    }
}

/// Whether go was stopped rather than finished (see [`Ending::stopped`]).
pub fn stopped(status: ExitStatus) -> bool {
    imp::ending(status).stopped()
}

/// Ends this process the way the child ended: same exit code, or same signal.
pub fn exit_like(status: ExitStatus) -> ! {
    let _ = io::stderr().flush();
    match imp::ending(status) {
        Ending::Code(code) => std::process::exit(code),
        Ending::Signal(sig) => imp::die_by(sig),
    }
}

/// Copies the child's stderr to ours chunk by chunk and keeps the text.
/// Returns true if our stderr turned out to be a broken pipe, after calling
/// `on_broken` (go's write that we could not pass on would have failed).
fn tee(mut pipe: impl Read, on_broken: impl FnOnce()) -> (String, bool) {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut out = io::stderr().lock();
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = out.write_all(&buf[..n]).and_then(|()| out.flush())
                    && e.kind() == io::ErrorKind::BrokenPipe
                {
                    on_broken();
                    return (String::from_utf8_lossy(&kept).into_owned(), true);
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_ending_maps_to_the_shim_ending() {
        use Ending::{Code, Signal};
        let table: [(Platform, u32, Ending, bool); 9] = [
            (Platform::Unix, 0, Code(0), false),
            (Platform::Unix, 1 << 8, Code(1), false),
            (Platform::Unix, 255 << 8, Code(255), false),
            (Platform::Unix, 2, Signal(2), true), // SIGINT
            (Platform::Unix, 0x80 | 11, Signal(11), true), // SIGSEGV, core dumped
            (Platform::Windows, 0, Code(0), false),
            (Platform::Windows, 1, Code(1), false),
            // Ctrl-C: the whole code, which is no byte and no signal.
            (Platform::Windows, 0xC000_013A, Code(-1_073_741_510), true),
            (Platform::Windows, 0xC000_0005, Code(-1_073_741_819), false),
        ];
        for (platform, raw, ending, stopped) in table {
            let got = Ending::of(platform, raw);
            assert_eq!(got, ending, "{platform:?} {raw:#x}");
            assert_eq!(got.stopped(), stopped, "{platform:?} {raw:#x}");
        }
    }
}

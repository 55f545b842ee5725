//! Comparing and showing process outputs: the "same as direct go" assertions.
//!
//! Messages always show both runs in full (status, stdout, stderr), since a
//! transparency failure is only understandable side by side.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

/// stdout as text (lossy), for messages and simple comparisons.
pub fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text (lossy).
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether `text` carries the HTTP status `code` as a word, the way go and
/// goshim's relay print one (`…/@v/list: 503 Service Unavailable`, `answered
/// 503 …`); not goshim's list-mode summary, which says `http_503`.
/// A bare `contains("503")` is not enough: the lines hold the relay's random
/// hex token and ports, which may contain any three digits.
pub fn says_http_status(text: &str, code: u16) -> bool {
    text.contains(&format!(" {code} "))
}

/// How a process ended, e.g. "exit code 1" or "killed by signal 15".
pub fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{status:?}"),
    }
}

/// A readable dump of an output for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        describe_status(&out.status),
        stdout_text(out),
        stderr_text(out)
    )
}

/// Asserts that the shim's run and the direct run ended the same way (same
/// exit code or same signal) with byte-identical stdout and stderr.
pub fn assert_same_outcome(what: &str, shim: &Output, direct: &Output) {
    assert_same_status_and_stdout(what, shim, direct);
    assert!(
        shim.stderr == direct.stderr,
        "{what}: stderr differs\n=== through the shim ===\n{}\n=== direct ===\n{}",
        show(shim),
        show(direct)
    );
}

/// Like [`assert_same_outcome`] without comparing stderr (for runs whose
/// stderr legitimately differs, e.g. the first one downloads modules).
pub fn assert_same_status_and_stdout(what: &str, shim: &Output, direct: &Output) {
    assert!(
        shim.status.into_raw() == direct.status.into_raw(),
        "{what}: shim {} but direct go {}\n=== through the shim ===\n{}\n=== direct ===\n{}",
        describe_status(&shim.status),
        describe_status(&direct.status),
        show(shim),
        show(direct)
    );
    assert!(
        shim.stdout == direct.stdout,
        "{what}: stdout differs\n=== through the shim ===\n{}\n=== direct ===\n{}",
        show(shim),
        show(direct)
    );
}

/// Asserts that direct go failed and the shim ended with the same exit code
/// (for failures whose output legitimately differs).
pub fn assert_same_failure_code(what: &str, shim: &Output, direct: &Output) {
    assert!(
        !direct.status.success(),
        "{what}: direct go\n{}",
        show(direct)
    );
    assert_eq!(
        shim.status.code(),
        direct.status.code(),
        "{what}: exit code\n=== through the shim ===\n{}\n=== direct ===\n{}",
        show(shim),
        show(direct)
    );
}

/// Asserts a successful run with nothing on stderr.
pub fn assert_clean_success(what: &str, out: &Output) {
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{what}: expected success with empty stderr\n{}",
        show(out)
    );
}

/// `out` with go's per-run temporary directory names (`go-build<random digits>`)
/// replaced by `go-buildN`: `go env` prints one inside GOGCCFLAGS, so even two
/// direct runs differ there, and nowhere else.
pub fn mask_go_build_dirs(out: &Output) -> Output {
    Output {
        status: out.status,
        stdout: mask(&out.stdout),
        stderr: mask(&out.stderr),
    }
}

fn mask(bytes: &[u8]) -> Vec<u8> {
    const MARK: &[u8] = b"go-build";
    let mut result = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(MARK) {
            result.extend_from_slice(MARK);
            i += MARK.len();
            let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                result.push(b'N');
                i += digits;
            }
        } else {
            result.push(bytes[i]);
            i += 1;
        }
    }
    result
}

//! What differs between Unix and Windows in goshim's own files and processes
//! (running go is `shim::child`): file identity, what counts as executable,
//! private file modes, replacing a file, starting the detached prober.
//!
//! Decisions that differ per platform are pure functions taking a
//! [`Platform`], so that their tests run on any host (`paths`, `discovery`,
//! `child::ending`, the doctor's PATH order).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// The platform family whose conventions a decision follows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Platform {
    Unix,
    /// Unix, but where go keeps its own settings (`os.UserConfigDir`).
    MacOs,
    Windows,
}

impl Platform {
    /// The one goshim was built for.
    pub const CURRENT: Platform = if cfg!(windows) {
        Platform::Windows
    } else if cfg!(target_os = "macos") {
        Platform::MacOs
    } else {
        Platform::Unix
    };
}

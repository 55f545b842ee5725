//! Every environment variable goshim reads or sets, in one place.
//!
//! Go's own variables (GOPROXY, GOFLAGS, ...) are read through `go env`
//! (see `goenv`), except where noted here. [`Env`] holds the values.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Path of the real `go` binary to run; wins over the PATH search.
pub const GOSHIM_GO: &str = "GOSHIM_GO";
/// `1`/`true`: run the real go with the environment untouched (no proxy logic).
pub const GOSHIM_DISABLE: &str = "GOSHIM_DISABLE";
/// Diagnostics on stderr: `1`/`info` for decisions, `debug` for more.
pub const GOSHIM_LOG: &str = "GOSHIM_LOG";
/// Directory for goshim's cache files (go env cache, health snapshot, locks).
pub const GOSHIM_CACHE_DIR: &str = "GOSHIM_CACHE_DIR";
/// Path of the config file (default `$XDG_CONFIG_HOME/goshim/config.toml`).
pub const GOSHIM_CONFIG: &str = "GOSHIM_CONFIG";
/// Extra candidate proxy URLs, comma-separated, tried after the user's GOPROXY entries.
pub const GOSHIM_PROXIES: &str = "GOSHIM_PROXIES";
/// Module used by probes for `<proxy>/<module>/@v/list` (default golang.org/x/text).
pub const GOSHIM_PROBE_MODULE: &str = "GOSHIM_PROBE_MODULE";
/// Per-proxy probe deadline in milliseconds (default 3000).
pub const GOSHIM_PROBE_TIMEOUT_MS: &str = "GOSHIM_PROBE_TIMEOUT_MS";
/// Seconds a health snapshot stays fresh (default 600). `0` = never refresh in the background.
pub const GOSHIM_TTL: &str = "GOSHIM_TTL";
/// Maximum number of runs of a retryable command (default 3, `1` disables re-runs).
pub const GOSHIM_ATTEMPTS: &str = "GOSHIM_ATTEMPTS";
/// Preset of well-known public mirrors to add as candidates (`cn`, `global`,
/// `all`; `none`: no preset); wins over the config file's `preset` key.
pub const GOSHIM_PRESET: &str = "GOSHIM_PRESET";
/// TOML file that replaces the built-in list of public mirrors and presets
/// (see `presets`); also what `goshim doctor --all` probes.
pub const GOSHIM_PRESETS_FILE: &str = "GOSHIM_PRESETS_FILE";
/// Modules whose `@v/list` `goshim doctor` compares across proxies
/// (comma-separated; the probe module is always checked first).
pub const GOSHIM_DOCTOR_MODULES: &str = "GOSHIM_DOCTOR_MODULES";
/// Set by goshim on every child: the shims already passed through
/// (`dev:ino` list), so that no shim ever runs another shim in a loop.
pub const GOSHIM_SEEN: &str = "GOSHIM_SEEN";
/// Test hook (like rustup's RUSTUP_FORCE_ARG0): act as if started under this name.
pub const GOSHIM_FORCE_ARG0: &str = "GOSHIM_FORCE_ARG0";

/// Read by the PATH search.
pub const PATH: &str = "PATH";
/// Windows: the extensions a PATH search tries, in order (`.COM;.EXE;...`).
pub const PATHEXT: &str = "PATHEXT";
/// Windows: the roaming application-data folder (goshim's config, go's env file).
pub const APPDATA: &str = "APPDATA";
/// Windows: the local application-data folder (goshim's cache).
pub const LOCALAPPDATA: &str = "LOCALAPPDATA";
/// Go variables goshim overrides for the child (only for commands that may fetch).
pub const GOPROXY: &str = "GOPROXY";
/// Set to `local` for the shim's own `go env` call, so that it never downloads
/// a toolchain; read to tell whether go will switch toolchains.
pub const GOTOOLCHAIN: &str = "GOTOOLCHAIN";
/// The go.work go reads (`off`: none), as go itself takes it.
pub const GOWORK: &str = "GOWORK";
/// Location of the go env file (input of the go env cache key).
pub const GOENV: &str = "GOENV";
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
pub const HOME: &str = "HOME";
/// Where zsh reads .zshrc/.zshenv from, instead of HOME (goshim self uninstall).
pub const ZDOTDIR: &str = "ZDOTDIR";
/// Location of the netrc file with credentials for upstream proxies (as go reads it).
pub const NETRC: &str = "NETRC";
/// `0`/`off`: no loopback relay; go gets the health-ordered GOPROXY list instead.
pub const GOSHIM_RELAY: &str = "GOSHIM_RELAY";
/// `0`/`off`: the relay does not fetch ahead of go's requests (default on).
pub const GOSHIM_PREFETCH: &str = "GOSHIM_PREFETCH";
/// Relay deadline for connecting to an upstream, in milliseconds (default 5000).
pub const GOSHIM_CONNECT_TIMEOUT_MS: &str = "GOSHIM_CONNECT_TIMEOUT_MS";
/// Relay deadline for an upstream's response headers, in milliseconds (default 15000).
pub const GOSHIM_RESPONSE_TIMEOUT_MS: &str = "GOSHIM_RESPONSE_TIMEOUT_MS";
/// Relay deadline between two body chunks from an upstream, in milliseconds (default 15000).
pub const GOSHIM_STALL_TIMEOUT_MS: &str = "GOSHIM_STALL_TIMEOUT_MS";
/// Relay hedge delay in milliseconds: after this long without an answer the
/// next upstream is asked too; 0 turns hedging off (default: adaptive, about 1 s).
pub const GOSHIM_HEDGE_DELAY_MS: &str = "GOSHIM_HEDGE_DELAY_MS";
/// Test-only fault injection: `relay_start` (the relay cannot bind) or
/// `runtime` (its async runtime cannot be built).
pub const GOSHIM_FAULT_INJECT: &str = "GOSHIM_FAULT_INJECT";
/// The PEM file of trusted CAs, replacing the system bundle (as go reads it).
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// The proxy for https upstreams (then `https_proxy`), as go reads it.
pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
/// The proxy for plain-http upstreams (then `http_proxy`), as go reads it.
pub const HTTP_PROXY: &str = "HTTP_PROXY";
/// Hosts reached without a proxy (then `no_proxy`), as go reads it.
pub const NO_PROXY: &str = "NO_PROXY";
/// Set in a CGI program, where go ignores HTTP_PROXY.
pub const REQUEST_METHOD: &str = "REQUEST_METHOD";
/// Folders of PEM files of trusted CAs, replacing the system folders (as go reads them).
pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// The process environment and current directory, read once at start-up
/// (like rustup's `Process`): goshim's decisions take `&Env`, so tests can
/// give them any environment without touching the real one. The go child
/// still inherits the real environment through `Command`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// In the environment's order. A list, not a map: ~50 entries are
    /// scanned faster than a map is built, and only a handful are looked up.
    vars: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

impl Env {
    /// The real environment and working directory, now.
    pub fn capture() -> Env {
        Env {
            vars: std::env::vars_os().collect(),
            cwd: std::env::current_dir().ok(),
        }
    }

    /// An environment with just these variables and no current directory.
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            cwd: None,
        }
    }

    /// The same, in this current directory.
    #[cfg(test)]
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Env {
        self.cwd = Some(cwd.into());
        self
    }

    pub fn get_os(&self, name: &str) -> Option<&OsStr> {
        // The first of duplicate entries, as getenv(3) answers. Windows names
        // are case-insensitive (its PATH is usually spelt `Path`).
        let name = OsStr::new(name);
        self.vars
            .iter()
            .find(|(k, _)| match cfg!(windows) {
                true => k.eq_ignore_ascii_case(name),
                false => k == name,
            })
            .map(|(_, v)| v.as_os_str())
    }

    /// The value when it is valid UTF-8 (else unset, as `std::env::var` has it).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_os(name)?.to_str()
    }

    /// The value, treating empty as unset (as the go command does).
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// True when the variable is set to something that means "no".
    pub fn is_falsy(&self, name: &str) -> bool {
        self.get(name).is_some_and(means_no)
    }

    /// True when the variable is set to something that means "yes".
    pub fn is_truthy(&self, name: &str) -> bool {
        matches!(
            self.get(name).map(str::trim),
            Some("1" | "true" | "TRUE" | "True" | "yes" | "on")
        )
    }

    /// Every variable, in the environment's order.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// The working directory at start-up (None if it could not be read).
    pub fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }
}

/// Whether a setting's value means "no" (`0`, `off`, `false`, `no`).
pub fn means_no(value: &str) -> bool {
    matches!(value.trim(), "0" | "off" | "false" | "no")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_truthy_is_a_short_list() {
        let env = Env::from_pairs(&[("A", ""), ("B", " on "), ("C", "2")]);
        assert_eq!(env.get("A"), Some(""));
        assert_eq!(env.non_empty("A"), None);
        assert_eq!(env.non_empty("B").as_deref(), Some(" on "));
        assert!(env.is_truthy("B"));
        assert!(!env.is_truthy("C"));
        assert!(!env.is_truthy("D"));
        let twice = Env::from_pairs(&[("A", "first"), ("A", "second")]);
        assert_eq!(twice.get("A"), Some("first"));
    }

    #[test]
    #[cfg(unix)]
    fn non_utf8_values_read_as_unset_but_stay_available_raw() {
        use std::os::unix::ffi::OsStrExt;
        let mut env = Env::default();
        let raw = OsStr::from_bytes(b"/tmp/\xff");
        env.vars.push(("GOSHIM_GO".into(), raw.into()));
        assert_eq!(env.get("GOSHIM_GO"), None);
        assert_eq!(env.get_os("GOSHIM_GO"), Some(raw));
    }
}

//! Credentials for upstream proxies, exactly as the go in use would send them.
//!
//! Since go 1.24 that is GOAUTH (cmd/go/internal/auth): a `;`-separated list
//! of `off`, `netrc`, `git <dir>` or a helper command, whose credentials are
//! cached by URL prefix ([`store`]); on a 4xx, go runs the list again with the
//! URL and retries once. Before 1.24 go sent the `.netrc` login of the
//! machine named exactly like the request's `host[:port]`.
//!
//! Nothing here runs or reads anything until the first https request asks
//! for credentials ([`Auth::load`]); helpers are blocking processes, so the
//! async callers go through [`ensure_loaded`] and [`refresh`].

mod git;
pub mod helper;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::log::debug;
use crate::settings::vars::Env;
use crate::upstream::{basic_auth, netrc};
use store::{Headers, Store};

/// One GOAUTH entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Netrc,
    /// `git credential fill` in this directory.
    Git(PathBuf),
    /// A helper's command line.
    Command(String),
}

/// How the go in use authenticates to proxies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// go before 1.24: `.netrc` only, the machine equal to `host[:port]`.
    HostNetrc,
    /// GOAUTH=off.
    Off,
    /// GOAUTH entries, in the user's order (the first wins a prefix).
    Methods(Vec<Method>),
}

/// A GOAUTH that go itself rejects (`base.Fatalf`) when it first fetches
/// over https. Holds no part of the value: a helper's command line may carry
/// a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingError {
    EmptyEntry,
    OffCombined,
    GitWithoutDir,
    GitDirNotAbsolute,
    GitDirMissing,
    GitDirNotADirectory,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self {
            SettingError::EmptyEntry => "an empty entry",
            SettingError::OffCombined => "off combined with other entries",
            SettingError::GitWithoutDir => "git without exactly one directory",
            SettingError::GitDirNotAbsolute => "a git directory that is not absolute",
            SettingError::GitDirMissing => "a git directory that cannot be read",
            SettingError::GitDirNotADirectory => "a git directory that is not a directory",
        };
        write!(f, "GOAUTH has {why}")
    }
}

/// Whether `go env GOVERSION` (`go1.23.4`, `go1.24rc1`, `devel go1.25-…`)
/// names a go that reads GOAUTH (1.24 and later). An empty value is a go
/// older than 1.16, which did not report it.
pub fn reads_goauth(goversion: &str) -> bool {
    let Some(rest) = goversion.trim().strip_prefix("go1.") else {
        return !goversion.trim().is_empty(); // devel builds: the newest rules
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u32>().is_ok_and(|minor| minor >= 24)
}

/// The setting of a go (its GOVERSION) with this GOAUTH, checked as go
/// checks it (git directories aside: see [`Setting::check_dirs`]).
pub fn setting(goversion: &str, goauth: &str) -> Result<Setting, SettingError> {
    if !reads_goauth(goversion) {
        return Ok(Setting::HostNetrc);
    }
    // Unset or empty: go's default.
    let goauth = if goauth.is_empty() { "netrc" } else { goauth };
    let entries: Vec<&str> = goauth.split(';').map(str::trim).collect();
    let mut methods = Vec::new();
    for entry in &entries {
        let words: Vec<&str> = entry.split_whitespace().collect();
        match words.as_slice() {
            [] => return Err(SettingError::EmptyEntry),
            ["off", ..] if entries.len() == 1 => return Ok(Setting::Off),
            ["off", ..] => return Err(SettingError::OffCombined),
            ["netrc", ..] => methods.push(Method::Netrc),
            ["git", dir] if Path::new(dir).is_absolute() => methods.push(Method::Git(dir.into())),
            ["git", _] => return Err(SettingError::GitDirNotAbsolute),
            ["git", ..] => return Err(SettingError::GitWithoutDir),
            _ => methods.push(Method::Command(entry.to_string())),
        }
    }
    Ok(Setting::Methods(methods))
}

impl Setting {
    /// go's remaining check: every git directory exists and is one.
    pub fn check_dirs(&self) -> Result<(), SettingError> {
        let Setting::Methods(methods) = self else {
            return Ok(());
        };
        for m in methods {
            if let Method::Git(dir) = m {
                match std::fs::metadata(dir) {
                    Err(_) => return Err(SettingError::GitDirMissing),
                    Ok(meta) if !meta.is_dir() => return Err(SettingError::GitDirNotADirectory),
                    Ok(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Whether a refused request can get other credentials: go reruns the
    /// list with the URL, but `.netrc` is read once, so only helpers (and
    /// git) can change the answer.
    fn refreshes(&self) -> bool {
        matches!(self, Setting::Methods(ms) if ms.iter().any(|m| !matches!(m, Method::Netrc)))
    }
}

/// The headers of one request: GOAUTH's (or .netrc's), then Basic from the
/// URL's userinfo unless an Authorization is already there: go's net/http
/// uses userinfo only then.
pub fn merge(found: Option<&Headers>, userinfo_basic: Option<&str>) -> Headers {
    let mut out = found.cloned().unwrap_or_default();
    if let Some(basic) = userinfo_basic
        && !out
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        out.push(("Authorization".to_string(), format!("Basic {basic}")));
    }
    out
}

/// `host[:port]` of an https URL (userinfo dropped): what go before 1.24
/// compared netrc machines with (the request's Host).
fn request_host(url: &str) -> &str {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

#[derive(Default)]
struct State {
    loaded: bool,
    netrc: Vec<netrc::Line>,
    store: Store,
}

/// The credentials of one goshim process, shared by its requests.
pub struct Auth {
    setting: Setting,
    netrc_path: Option<PathBuf>,
    state: Mutex<State>,
    /// One refresh at a time: helpers run in order, as they would in go.
    refreshing: Mutex<()>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({:?})", std::mem::discriminant(&self.setting))
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth {
    /// Reads nothing yet.
    pub fn new(setting: Setting, process: &Env) -> Arc<Auth> {
        Arc::new(Auth {
            setting,
            netrc_path: netrc::path(process),
            state: Mutex::default(),
            refreshing: Mutex::default(),
        })
    }

    /// The setting of the go in use, from its `go env` (GOVERSION, GOAUTH).
    /// A GOAUTH go would refuse gives no credentials here (the relay does not
    /// start then: see the shim), and says why in the debug log.
    pub fn for_go(goversion: &str, goauth: &str, process: &Env) -> Arc<Auth> {
        let setting = setting(goversion, goauth).and_then(|s| s.check_dirs().map(|()| s));
        let setting = setting.unwrap_or_else(|e| {
            debug!("{e}; no credentials for proxies");
            Setting::Off
        });
        Auth::new(setting, process)
    }

    /// No credentials at all.
    #[cfg(test)]
    pub fn none() -> Arc<Auth> {
        Auth::new(Setting::Off, &Env::default())
    }

    pub fn is_loaded(&self) -> bool {
        locked(&self.state).loaded
    }

    /// Whether a 4xx from an https upstream is worth a refresh.
    pub fn refreshes(&self) -> bool {
        self.setting.refreshes()
    }

    /// Blocking, once: reads .netrc and runs the helpers without a URL (go
    /// does so before its first https request). Concurrent callers wait.
    pub fn load(&self) {
        let mut state = locked(&self.state);
        if state.loaded {
            return;
        }
        state.loaded = true;
        let reads_netrc = match &self.setting {
            Setting::HostNetrc => true,
            Setting::Off => false,
            Setting::Methods(ms) => ms.contains(&Method::Netrc),
        };
        if reads_netrc && let Some(path) = &self.netrc_path {
            match netrc::read(path) {
                Ok(lines) => state.netrc = lines,
                Err(e) => debug!("cannot read {}: {}", path.display(), e.kind()),
            }
        }
        let updates = self.run_methods(&state.netrc, None);
        for (prefix, headers) in updates {
            state.store.put(&prefix, headers);
        }
    }

    /// The credential headers for `url` (an https URL as go would request
    /// it, userinfo included); none before [`Auth::load`].
    pub fn lookup(&self, url: &str) -> Headers {
        let state = locked(&self.state);
        match &self.setting {
            Setting::Off => Headers::new(),
            Setting::HostNetrc => {
                let host = request_host(url);
                state
                    .netrc
                    .iter()
                    .find(|l| l.machine == host)
                    .map(|l| {
                        let basic = basic_auth::from_login(&l.login, &l.password);
                        vec![("Authorization".to_string(), format!("Basic {basic}"))]
                    })
                    .unwrap_or_default()
            }
            Setting::Methods(_) => state.store.get(url).cloned().unwrap_or_default(),
        }
    }

    /// Blocking: go's answer to a 4xx for `url`: every entry again, helpers
    /// with the URL as last argument and `response` on stdin.
    pub fn refresh(&self, url: &str, response: &str) {
        if !self.refreshes() {
            return;
        }
        let _one = locked(&self.refreshing);
        self.load();
        let netrc = locked(&self.state).netrc.clone();
        let updates = self.run_methods(&netrc, Some((url, response)));
        let mut state = locked(&self.state);
        for (prefix, headers) in updates {
            state.store.put(&prefix, headers);
        }
    }

    /// What each entry yields, applied in order: the entries run last to
    /// first, so the first one listed wins a prefix (go's order).
    fn run_methods(
        &self,
        netrc: &[netrc::Line],
        refused: Option<(&str, &str)>,
    ) -> Vec<(String, Headers)> {
        let Setting::Methods(methods) = &self.setting else {
            return Vec::new();
        };
        let mut updates = Vec::new();
        for method in methods.iter().rev() {
            match method {
                Method::Netrc => {
                    // Last line first: the first of a repeated machine wins.
                    for l in netrc.iter().rev() {
                        let basic = basic_auth::from_login(&l.login, &l.password);
                        let h = vec![("Authorization".to_string(), format!("Basic {basic}"))];
                        updates.push((l.machine.clone(), h));
                    }
                }
                // go asks git only about a refused URL (not before the first request).
                Method::Git(dir) => {
                    if let Some((url, _)) = refused {
                        match git::fill(dir, url) {
                            Ok(found) => updates.push(found),
                            // go too goes on without them (it says why only under -x).
                            Err(e) => debug!("GOAUTH git: {e}"),
                        }
                    }
                }
                Method::Command(command) => {
                    let url = refused.map(|(u, _)| u);
                    let stdin = refused.map(|(_, r)| r);
                    match helper::run(command, url, stdin)
                        .map(|out| helper::parse_output(&out).map_err(helper::HelperError::Output))
                    {
                        Ok(Ok(found)) => updates.extend(found),
                        // go too goes on without them (it says why only under -x).
                        Ok(Err(e)) | Err(e) => debug!("GOAUTH helper: {e}"),
                    }
                }
            }
        }
        updates
    }
}

/// Loads the credentials off the async thread (helpers may run) the first
/// time; later calls return at once.
pub async fn ensure_loaded(auth: &Arc<Auth>) {
    if auth.is_loaded() {
        return;
    }
    let auth = auth.clone();
    let _ = tokio::task::spawn_blocking(move || auth.load()).await;
}

/// [`Auth::refresh`] off the async thread.
pub async fn refresh(auth: &Arc<Auth>, url: String, response: String) {
    let auth = auth.clone();
    let _ = tokio::task::spawn_blocking(move || auth.refresh(&url, &response)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goauth_is_read_from_go_1_24_on() {
        for (v, want) in [
            ("go1.24.0", true),
            ("go1.24rc1", true),
            ("go1.27.1", true),
            ("devel go1.25-1234 +0000", true),
            ("go1.23.4", false),
            ("go1.9", false),
            ("go1.2", false),
            ("", false),
        ] {
            assert_eq!(reads_goauth(v), want, "{v}");
        }
    }

    #[test]
    fn parses_goauth_as_go_does() {
        use Method::*;
        use SettingError::*;
        let cmd = |s: &str| Command(s.to_string());
        let cases: Vec<(&str, &str, Result<Setting, SettingError>)> = vec![
            ("go1.23.1", "/bin/helper", Ok(Setting::HostNetrc)),
            ("go1.24.0", "", Ok(Setting::Methods(vec![Netrc]))),
            ("go1.24.0", "netrc", Ok(Setting::Methods(vec![Netrc]))),
            ("go1.24.0", " off ", Ok(Setting::Off)),
            (
                "go1.24.0",
                GIT_LINE,
                Ok(Setting::Methods(vec![
                    Netrc,
                    cmd("/bin/h 'a b'"),
                    Git(REPO.into()),
                ])),
            ),
            ("go1.24.0", "netrc;", Err(EmptyEntry)),
            ("go1.24.0", ";netrc", Err(EmptyEntry)),
            ("go1.24.0", "off;netrc", Err(OffCombined)),
            ("go1.24.0", "git", Err(GitWithoutDir)),
            ("go1.24.0", "git /a /b", Err(GitWithoutDir)),
            ("go1.24.0", "git rel/dir", Err(GitDirNotAbsolute)),
        ];
        for (v, goauth, want) in cases {
            assert_eq!(setting(v, goauth), want, "{v} {goauth:?}");
        }
        if cfg!(unix) {
            let missing = setting("go1.24.0", "git /nonexistent/dir").unwrap();
            assert_eq!(missing.check_dirs(), Err(GitDirMissing));
            let file = setting("go1.24.0", "git /bin/sh").unwrap();
            assert_eq!(file.check_dirs(), Err(GitDirNotADirectory));
            assert_eq!(setting("go1.24.0", "git /").unwrap().check_dirs(), Ok(()));
        }
        assert!(!format!("{}", OffCombined).contains("netrc"));
    }

    /// An absolute folder for `git <dir>` (go's filepath.IsAbs: with a drive
    /// letter on Windows).
    const REPO: &str = if cfg!(windows) { r"C:\repo" } else { "/repo" };
    const GIT_LINE: &str = if cfg!(windows) {
        r"netrc; /bin/h 'a b' ;git C:\repo"
    } else {
        "netrc; /bin/h 'a b' ;git /repo"
    };

    fn auth_with(setting: Setting, netrc_text: &str) -> Arc<Auth> {
        let auth = Arc::new(Auth {
            setting,
            netrc_path: None,
            state: Mutex::default(),
            refreshing: Mutex::default(),
        });
        let mut state = locked(&auth.state);
        state.loaded = true;
        state.netrc = netrc::parse(netrc_text);
        let updates = auth.run_methods(&state.netrc, None);
        for (p, h) in updates {
            state.store.put(&p, h);
        }
        drop(state);
        auth
    }

    fn authorization(auth: &Auth, url: &str) -> Option<String> {
        auth.lookup(url)
            .into_iter()
            .find(|(n, _)| n == "Authorization")
            .map(|(_, v)| v)
    }

    #[test]
    fn netrc_by_prefix_since_1_24_and_by_host_before() {
        let text = "machine h.example login a password 1\nmachine h.example:8443 login b password 2\nmachine h.example login c password 3\n";
        let basic = |u: &str, p: &str| Some(format!("Basic {}", basic_auth::from_login(u, p)));
        let new = auth_with(Setting::Methods(vec![Method::Netrc]), text);
        let old = auth_with(Setting::HostNetrc, text);
        for auth in [&new, &old] {
            assert_eq!(
                authorization(auth, "https://h.example/m/@v/list"),
                basic("a", "1")
            );
            assert_eq!(
                authorization(auth, "https://h.example:8443/m"),
                basic("b", "2")
            );
            assert_eq!(authorization(auth, "https://h.example:9443/m"), None);
        }
        // Userinfo is part of go 1.24's lookup key, not of the old Host.
        assert_eq!(authorization(&new, "https://u:p@h.example/m"), None);
        assert_eq!(
            authorization(&old, "https://u:p@h.example/m"),
            basic("a", "1")
        );
        let off = auth_with(Setting::Off, text);
        assert_eq!(authorization(&off, "https://h.example/m"), None);
    }

    #[test]
    #[cfg(unix)] // the helpers are sh scripts
    fn the_first_goauth_entry_wins_a_prefix() {
        let helper = "sh -c 'printf \"https://h.example\\n\\nAuthorization: Bearer t\\n\\n\"'";
        let text = "machine h.example login a password 1\n";
        let both = |ms| auth_with(Setting::Methods(ms), text);
        let cmd = Method::Command(helper.to_string());
        let a = both(vec![cmd.clone(), Method::Netrc]);
        assert_eq!(
            authorization(&a, "https://h.example/x").as_deref(),
            Some("Bearer t")
        );
        let b = both(vec![Method::Netrc, cmd]);
        assert_eq!(
            authorization(&b, "https://h.example/x"),
            Some(format!("Basic {}", basic_auth::from_login("a", "1")))
        );
    }

    #[test]
    #[cfg(unix)] // the helper is an sh script
    fn a_refusal_runs_the_helper_again_with_the_url() {
        // The helper answers with a token naming its argument count.
        let helper = "sh -c 'printf \"https://h.example\\n\\nAuthorization: Bearer n$#\\n\\n\"' h";
        let auth = auth_with(Setting::Methods(vec![Method::Command(helper.into())]), "");
        assert_eq!(
            authorization(&auth, "https://h.example/x").as_deref(),
            Some("Bearer n0")
        );
        auth.refresh("https://h.example/x", "HTTP/1.1 401 Unauthorized\n\n");
        assert_eq!(
            authorization(&auth, "https://h.example/x").as_deref(),
            Some("Bearer n1")
        );
        // A broken helper leaves the credentials as they were.
        let broken = auth_with(
            Setting::Methods(vec![Method::Command("sh -c 'echo junk'".into())]),
            "",
        );
        assert_eq!(authorization(&broken, "https://h.example/x"), None);
    }

    #[test]
    fn userinfo_only_without_an_authorization() {
        let bearer: Headers = vec![("Authorization".into(), "Bearer t".into())];
        assert_eq!(merge(Some(&bearer), Some("dTpw")), bearer);
        let other: Headers = vec![("X-Key".into(), "k".into())];
        assert_eq!(
            merge(Some(&other), Some("dTpw")),
            vec![
                ("X-Key".into(), "k".into()),
                ("Authorization".into(), "Basic dTpw".into())
            ]
        );
        assert_eq!(merge(None, None), Headers::new());
    }
}

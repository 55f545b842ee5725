//! The effective Go settings that matter to goshim, from `go env -json`, cached.
//!
//! The cache is valid while its inputs are unchanged: the real go binary (path,
//! size, mtime), the GOENV file, `$GOROOT/go.env` and every GO* environment
//! variable. Values that come from the environment are never written to the
//! cache (the environment is read again on every call), and a GOPROXY carrying
//! credentials is never cached at all: the cache file holds no secrets.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::go::proxy_list::has_credentials;
use crate::log::debug;
use crate::settings::paths;
use crate::settings::vars::{self, Env};
use crate::state_file::{self, Durability};

/// The variables goshim asks go for. (Not GOTOOLCHAIN: the query itself must
/// run with GOTOOLCHAIN=local, so go would only echo that back.)
const KEYS: [&str; 10] = [
    "GOPROXY",
    // How go authenticates to proxies (see upstream::goauth).
    "GOAUTH",
    "GOVERSION",
    "GOSUMDB",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOFLAGS",
    "GOMODCACHE",
    "GOROOT",
];

const CACHE_VERSION: u32 = 2;
const CACHE_FILE: &str = "goenv.json";

/// Effective values of [`KEYS`] (missing key = empty).
#[derive(Debug, Clone, Default)]
pub struct GoEnv(BTreeMap<String, String>);

impl GoEnv {
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    /// The name of the checksum database go uses (GOSUMDB's first word,
    /// without its key); None when GOSUMDB=off.
    pub fn sumdb_name(&self) -> Option<String> {
        let value = self.get("GOSUMDB").trim();
        let first = value.split_whitespace().next().unwrap_or("sum.golang.org");
        let name = first.split('+').next().unwrap_or(first);
        (name != "off").then(|| name.to_string())
    }

    /// GONOPROXY as go applies it (GOPRIVATE by default, as go env reports
    /// it; "none" → ""): module paths go fetches directly, never from a proxy.
    pub fn direct_patterns(&self) -> &str {
        Some(self.get("GONOPROXY"))
            .filter(|p| p.trim() != "none")
            .unwrap_or_default()
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> GoEnv {
        GoEnv(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    key: String,
    goroot_env: String,
    values: BTreeMap<String, String>,
}

/// The effective settings: from the cache when valid, else from `go env -json`.
/// None when go cannot tell us (goshim then stays out of the way).
pub fn load(process: &Env, real_go: &Path) -> Option<GoEnv> {
    let key = cache_key(process, real_go);
    let cache_path = paths::cache_dir(process).map(|d| d.join(CACHE_FILE));
    if let Some(values) = cache_path
        .as_deref()
        .and_then(|p| read_cache(process, p, &key))
    {
        return Some(with_environment(process, values));
    }
    let fresh = query_go(real_go)?;
    if let Some(path) = cache_path {
        write_cache(process, &path, &key, &fresh);
    }
    Some(GoEnv(fresh))
}

fn read_cache(process: &Env, path: &Path, key: &str) -> Option<BTreeMap<String, String>> {
    let bytes = state_file::read(path)?;
    let cache: CacheFile = serde_json::from_slice(&bytes).ok()?;
    if cache.version != CACHE_VERSION || cache.key != key {
        return None;
    }
    let goroot = process
        .non_empty("GOROOT")
        .or_else(|| cache.values.get("GOROOT").cloned())?;
    if cache.goroot_env != stamp(&Path::new(&goroot).join("go.env")) {
        return None;
    }
    Some(cache.values)
}

/// Environment values win over cached ones, as they do for go itself.
fn with_environment(process: &Env, mut values: BTreeMap<String, String>) -> GoEnv {
    // go reports its own version whatever the environment says.
    for key in KEYS.into_iter().filter(|k| *k != "GOVERSION") {
        if let Some(v) = process.non_empty(key) {
            values.insert(key.to_string(), v);
        }
    }
    GoEnv(values)
}

fn write_cache(process: &Env, path: &Path, key: &str, fresh: &BTreeMap<String, String>) {
    let from_file_with_secrets = process.non_empty("GOPROXY").is_none()
        && fresh.get("GOPROXY").is_some_and(|v| has_credentials(v));
    if from_file_with_secrets {
        debug!("not caching go env: GOPROXY from the go env file carries credentials");
        return;
    }
    // A helper's command line may carry a token.
    let helper_from_file = process.non_empty("GOAUTH").is_none()
        && fresh.get("GOAUTH").is_some_and(|v| names_a_helper(v));
    if helper_from_file {
        debug!("not caching go env: GOAUTH from the go env file names a helper command");
        return;
    }
    let values: BTreeMap<String, String> = fresh
        .iter()
        .filter(|(k, _)| *k == "GOVERSION" || process.non_empty(k).is_none())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let goroot = fresh.get("GOROOT").map_or("", String::as_str);
    let cache = CacheFile {
        version: CACHE_VERSION,
        key: key.to_string(),
        goroot_env: stamp(&Path::new(goroot).join("go.env")),
        values,
    };
    if let Ok(bytes) = serde_json::to_vec(&cache)
        && let Err(e) = state_file::write_atomic(path, &bytes, Durability::Cache)
    {
        debug!("cannot write {}: {e}", path.display());
    }
}

/// Whether a GOAUTH value has an entry other than off, netrc and git.
fn names_a_helper(goauth: &str) -> bool {
    goauth.split(';').any(|entry| {
        let first = entry.split_whitespace().next().unwrap_or("");
        !matches!(first, "" | "off" | "netrc" | "git")
    })
}

/// Runs `go env -json KEYS...` with GOTOOLCHAIN=local, so it never downloads a toolchain.
fn query_go(real_go: &Path) -> Option<BTreeMap<String, String>> {
    let output = Command::new(real_go)
        .arg("env")
        .arg("-json")
        .args(KEYS)
        .env(vars::GOTOOLCHAIN, "local")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout).ok(),
        Ok(out) => {
            debug!("go env failed ({}); running go unchanged", out.status);
            None
        }
        Err(e) => {
            debug!("cannot run go env: {e}; running go unchanged");
            None
        }
    }
}

/// Everything the answer of `go env` depends on, hashed (the environment may hold secrets).
fn cache_key(process: &Env, real_go: &Path) -> String {
    let mut text = format!("go={}|{}\n", real_go.display(), stamp(real_go));
    let env_file = paths::go_env_file(process);
    let env_file_stamp = env_file.as_deref().map(stamp).unwrap_or_default();
    text.push_str(&format!(
        "goenv={}|{env_file_stamp}\n",
        env_file.unwrap_or_default().display()
    ));
    // Lossy: a non-UTF-8 value still keys the cache.
    let mut go_vars: Vec<_> = process
        .iter()
        .filter(|(k, _)| {
            let k = k.as_encoded_bytes();
            k.starts_with(b"GO") && !k.starts_with(b"GOSHIM_")
        })
        .map(|(k, v)| (k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    go_vars.sort();
    for (k, v) in go_vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// Size and mtime of a file, or "-" when it is absent.
fn stamp(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => crate::platform::stamp(&m),
        Err(_) => "-".to_string(),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_follows_go_variables_only() {
        let go = Path::new("/nonexistent/go");
        let key = |pairs: &[(&str, &str)]| cache_key(&Env::from_pairs(pairs), go);
        let base = key(&[("HOME", "/h"), ("GOFLAGS", "-mod=mod")]);
        assert_eq!(base, key(&[("GOFLAGS", "-mod=mod"), ("HOME", "/h")]));
        assert_eq!(
            base,
            key(&[("HOME", "/h"), ("GOFLAGS", "-mod=mod"), ("TERM", "x")])
        );
        assert_eq!(
            base,
            key(&[("HOME", "/h"), ("GOFLAGS", "-mod=mod"), ("GOSHIM_LOG", "1")])
        );
        assert_ne!(base, key(&[("HOME", "/h"), ("GOFLAGS", "-mod=vendor")]));
        assert_ne!(
            base,
            key(&[("HOME", "/h"), ("GOFLAGS", "-mod=mod"), ("GOPROXY", "off")])
        );
        // The go env file's location is an input too (under %AppData% on Windows).
        let other = [
            ("HOME", "/other"),
            ("APPDATA", "/other"),
            ("GOFLAGS", "-mod=mod"),
        ];
        assert_ne!(base, key(&other));
    }

    #[test]
    fn environment_wins_over_cached_values_unless_empty() {
        let cached = BTreeMap::from([
            ("GOPROXY".to_string(), "https://cached".to_string()),
            ("GOSUMDB".to_string(), "sum.golang.org".to_string()),
        ]);
        let process = Env::from_pairs(&[("GOPROXY", "https://env"), ("GOSUMDB", "")]);
        let env = with_environment(&process, cached);
        assert_eq!(env.get("GOPROXY"), "https://env");
        assert_eq!(env.get("GOSUMDB"), "sum.golang.org");
    }

    #[test]
    fn a_goauth_helper_from_the_go_env_file_is_not_cached() {
        for (v, helper) in [
            ("netrc", false),
            ("off", false),
            ("netrc; git /repo", false),
            ("", false),
            ("/bin/helper --token t", true),
            ("netrc;helper", true),
        ] {
            assert_eq!(names_a_helper(v), helper, "{v}");
        }
    }
}

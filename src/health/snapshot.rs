//! The health snapshot: one small versioned JSON file in the cache dir.
//!
//! Readers never lock and treat anything unexpected (missing, empty, truncated,
//! garbage, another version) as "no snapshot". Writers merge their observations
//! under a short exclusive lock (so concurrent writers do not lose each other's
//! updates) and replace the file atomically.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::score;
use crate::error_class::ErrorClass;
use crate::settings::paths;
use crate::settings::vars::Env;
use crate::state_file::{self, Durability};

pub const VERSION: u32 = 1;
const FILE: &str = "health.json";
const LOCK: &str = "health.lock";
/// Outcomes remembered per proxy.
const HISTORY: usize = 10;
/// Proxies not seen for this long are forgotten.
const FORGET_AFTER_SECS: u64 = 7 * 24 * 3600;

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Up,
    Degraded,
    Down,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
        }
    }
}

/// Time spent in each stage of one request, in milliseconds (None = not measured).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub first_byte_ms: Option<f64>,
    pub total_ms: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ProxyHealth {
    /// Without credentials (see proxy_list::redact).
    pub url: String,
    pub state: State,
    pub score: f64,
    pub latency: Option<Latency>,
    /// Error class of the last failure, if the last check failed: its
    /// serialized name, kept as text so that a name from another goshim
    /// version does not make the whole snapshot unreadable.
    pub last_error: Option<String>,
    /// When this proxy was last checked (probe or observed failure), Unix seconds.
    pub checked_at: u64,
    pub last_failure_at: Option<u64>,
    /// Whether it serves the checksum database (None = unknown).
    pub sumdb: Option<bool>,
    /// Recent outcomes, oldest first.
    pub history: Vec<bool>,
    /// At the last probe, it listed one of the sample modules (false: it
    /// answered 404/410 for all of them; absent: unknown). See probe::samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serves_modules: Option<bool>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Snapshot {
    pub version: u32,
    /// When the last full probe finished, Unix seconds.
    pub probed_at: Option<u64>,
    pub proxies: Vec<ProxyHealth>,
}

/// One thing learned about one proxy.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Redacted URL.
    pub url: String,
    /// Ok, or what went wrong (stored by its name: "timeout", "http_502", ...).
    pub result: Result<(), ErrorClass>,
    pub latency: Option<Latency>,
    pub sumdb: Option<bool>,
    /// From a probe's sample modules (None: not asked, e.g. a relay failure).
    pub serves_modules: Option<bool>,
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn path(process: &Env) -> Option<PathBuf> {
    paths::cache_dir(process).map(|d| d.join(FILE))
}

impl Snapshot {
    /// The snapshot, or None for anything but a well-formed current-version file.
    pub fn read(process: &Env) -> Option<Snapshot> {
        Snapshot::read_from(&path(process)?)
    }

    fn read_from(path: &Path) -> Option<Snapshot> {
        let bytes = state_file::read(path)?;
        let snap: Snapshot = serde_json::from_slice(&bytes).ok()?;
        (snap.version == VERSION).then_some(snap)
    }

    pub fn get(&self, url_key: &str) -> Option<&ProxyHealth> {
        self.proxies.iter().find(|p| p.url == url_key)
    }

    /// Age of the last full probe.
    pub fn age(&self) -> Option<Duration> {
        self.probed_at
            .map(|t| Duration::from_secs(now_secs().saturating_sub(t)))
    }

    /// Older than `ttl`, never probed, or probed "in the future" (the clock went back).
    pub fn is_stale(&self, ttl: Duration) -> bool {
        let future = self.probed_at.is_some_and(|t| t > now_secs() + 60);
        future || self.age().is_none_or(|age| age > ttl)
    }

    fn apply(&mut self, obs: &Observation, now: u64) {
        let idx = match self.proxies.iter().position(|p| p.url == obs.url) {
            Some(i) => i,
            None => {
                self.proxies.push(ProxyHealth {
                    url: obs.url.clone(),
                    state: State::Down,
                    score: 0.0,
                    latency: None,
                    last_error: None,
                    checked_at: now,
                    last_failure_at: None,
                    sumdb: None,
                    history: Vec::new(),
                    serves_modules: None,
                });
                self.proxies.len() - 1
            }
        };
        let p = &mut self.proxies[idx];
        p.checked_at = now;
        p.history.push(obs.result.is_ok());
        if p.history.len() > HISTORY {
            p.history.remove(0);
        }
        if obs.latency.is_some() {
            p.latency = obs.latency.clone();
        }
        if obs.sumdb.is_some() {
            p.sumdb = obs.sumdb;
        }
        if obs.serves_modules.is_some() {
            p.serves_modules = obs.serves_modules;
        }
        match &obs.result {
            Ok(()) => p.last_error = None,
            Err(class) => {
                p.last_error = Some(class.name());
                p.last_failure_at = Some(now);
            }
        }
        let since_failure = p.last_failure_at.map(|t| now.saturating_sub(t) as f64);
        // A failed request's duration says nothing about how fast the proxy serves.
        let latency = obs
            .result
            .as_ref()
            .ok()
            .and(p.latency.as_ref())
            .map(|l| l.total_ms);
        p.score = score::score(&p.history, latency, since_failure);
        p.state = match obs.result {
            Err(_) => State::Down,
            Ok(()) if p.score >= score::UP_THRESHOLD => State::Up,
            Ok(()) => State::Degraded,
        };
    }
}

/// Merges observations into the snapshot on disk. `full_probe` marks the
/// snapshot as freshly probed. Failures to write are returned, never fatal.
pub fn record(
    process: &Env,
    observations: &[Observation],
    full_probe: bool,
) -> std::io::Result<Snapshot> {
    let path = path(process)
        .ok_or_else(|| std::io::Error::other("no cache dir (set HOME or GOSHIM_CACHE_DIR)"))?;
    let lock_file = state_file::open_lock(&path.with_file_name(LOCK))?;
    // Writers only: readers never take this lock.
    lock_file.lock()?; // released when lock_file closes
    let mut snap = Snapshot::read_from(&path).unwrap_or_default();
    snap.version = VERSION;
    let now = now_secs();
    for obs in observations {
        snap.apply(obs, now);
    }
    snap.proxies
        .retain(|p| now.saturating_sub(p.checked_at) < FORGET_AFTER_SECS);
    if full_probe {
        snap.probed_at = Some(now);
    }
    let bytes = serde_json::to_vec_pretty(&snap).map_err(std::io::Error::other)?;
    state_file::write_atomic(&path, &bytes, Durability::Cache)?;
    Ok(snap)
}

/// For other modules' unit tests: a snapshot with one observation applied.
#[cfg(test)]
pub fn tests_apply(mut snap: Snapshot, obs: Observation) -> Snapshot {
    snap.apply(&obs, now_secs());
    snap
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str, ms: f64) -> Observation {
        Observation {
            url: url.into(),
            result: Ok(()),
            latency: Some(Latency {
                total_ms: ms,
                ..Latency::default()
            }),
            sumdb: Some(true),
            serves_modules: Some(true),
        }
    }

    #[test]
    fn failures_mark_down_and_successes_bring_back() {
        let mut snap = Snapshot::default();
        snap.apply(&ok("https://a", 20.0), 1000);
        assert_eq!(snap.get("https://a").unwrap().state, State::Up);
        let fail = Observation {
            url: "https://a".into(),
            result: Err(ErrorClass::Http(502)),
            latency: None,
            sumdb: None,
            serves_modules: None,
        };
        snap.apply(&fail, 1001);
        // A relay failure says nothing of the modules it serves.
        assert_eq!(snap.get("https://a").unwrap().serves_modules, Some(true));
        let a = snap.get("https://a").unwrap();
        assert_eq!(a.state, State::Down);
        assert_eq!(a.last_error.as_deref(), Some("http_502"));
        snap.apply(&ok("https://a", 20.0), 1002);
        assert_ne!(snap.get("https://a").unwrap().state, State::Down);
    }

    #[test]
    fn garbage_and_other_versions_read_as_absent() {
        let dir = std::env::temp_dir().join(format!("goshim-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("health.json");
        for bad in [
            "",
            "{",
            "null",
            "[1,2]",
            "{\"version\":99,\"proxies\":[]}",
            "\u{0}\u{1}",
        ] {
            std::fs::write(&file, bad).unwrap();
            assert!(Snapshot::read_from(&file).is_none(), "{bad:?}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

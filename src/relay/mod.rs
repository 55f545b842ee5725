//! The loopback relay: go talks to `http://127.0.0.1:<port>/<token>` and the
//! relay fails over *per request* between upstream proxies, with deadlines go
//! itself does not have (it waits forever on a proxy that accepts and hangs).
//!
//! Design: the relay lives inside the shim process, for the lifetime of the go
//! child. A shared daemon would reuse connections across invocations, but it
//! brings a lifecycle (Docker build steps and CI jobs kill it, upgrades must
//! replace it, IDE bursts race to start it) and a security surface (one user's
//! credentials serving another's requests). In-process, the cost on the hot path
//! is one loopback bind and one thread (tens of microseconds); the async
//! runtime and the HTTP client are created only when go sends its first request,
//! so a fully cached `go build` never starts them. The random port plus a
//! 128-bit path token keep other local users out.

mod forward;
pub mod route;
mod server;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::basic_auth;
use crate::health::Observation;
use crate::health::snapshot::Latency;
use crate::netrc;
use crate::proxy_list::{Proxy, ProxyList, Tail, UrlParts};

/// One upstream proxy as the relay reaches it.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Redacted URL: for logs, health and error messages.
    pub key: String,
    /// `scheme://host[:port]/path` without userinfo, query or trailing slash.
    base: String,
    query: Option<String>,
    /// `Authorization` header value, from userinfo or netrc.
    auth: Option<String>,
    /// Position in the user's own GOPROXY list, and whether go would move past
    /// it on any error there (`|`); None for goshim's extra candidates.
    user_slot: Option<(usize, bool)>,
    /// Serves the checksum database (None = unknown).
    sumdb: Option<bool>,
}

impl Upstream {
    pub fn new(
        proxy: &Proxy,
        user_slot: Option<(usize, bool)>,
        sumdb: Option<bool>,
        logins: &[(String, netrc::Login)],
    ) -> Upstream {
        let parts = UrlParts::parse(&proxy.url);
        let scheme = parts.scheme.unwrap_or("https");
        let hostport = parts.hostport;
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        // Like go: credentials only over https.
        let auth = (scheme == "https")
            .then(|| {
                parts.userinfo.map(basic_auth::from_userinfo).or_else(|| {
                    netrc::find(logins, host).map(|l| basic_auth::from_login(&l.user, &l.password))
                })
            })
            .flatten()
            .map(|v| format!("Basic {v}"));
        Upstream {
            key: proxy.key(),
            base: format!("{scheme}://{hostport}{}", parts.path),
            query: parts.query.map(str::to_string),
            auth,
            user_slot,
            sumdb,
        }
    }

    fn url_for(&self, rel: &str) -> String {
        match &self.query {
            Some(q) => format!("{}/{rel}?{q}", self.base),
            None => format!("{}/{rel}", self.base),
        }
    }
}

/// Deadlines for each upstream request.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub connect: Duration,
    /// Until the response headers arrive.
    pub response: Duration,
    /// Between two body chunks.
    pub stall: Duration,
}

pub struct Settings {
    /// In health order.
    pub upstreams: Vec<Upstream>,
    /// GONOSUMDB and GOPRIVATE patterns: such paths only go where the user's list would send them.
    pub private_patterns: String,
    pub deadlines: Deadlines,
}

/// Per-upstream outcomes seen during this run, for the health snapshot.
#[derive(Default)]
struct Tally {
    failures: u32,
    last_error: Option<String>,
    first_byte_ms: Vec<f64>,
}

pub(crate) struct Shared {
    settings: Settings,
    token: String,
    client: OnceLock<reqwest::Client>,
    tally: Mutex<HashMap<usize, Tally>>,
    /// Which upstream served each path, to blame it if go rejects the content.
    served: Mutex<HashMap<String, usize>>,
    /// Failures per upstream during this run: the relay's own ordering penalty.
    penalty: Mutex<HashMap<usize, u32>>,
    /// Upstreams found to serve the checksum database during this run.
    sumdb_learned: Mutex<HashSet<usize>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            let tls = crate::tls::client_config(&[b"h2", b"http/1.1"]);
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .connect_timeout(self.settings.deadlines.connect)
                .user_agent(concat!("goshim/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }

    fn note_ok(&self, i: usize, first_byte_ms: f64) {
        let mut tally = locked(&self.tally);
        let t = tally.entry(i).or_default();
        t.first_byte_ms.push(first_byte_ms);
    }

    fn note_failure(&self, i: usize, class: &str) {
        *locked(&self.penalty).entry(i).or_default() += 1;
        let mut tally = locked(&self.tally);
        let t = tally.entry(i).or_default();
        t.failures += 1;
        t.last_error = Some(class.to_string());
    }

    fn note_served(&self, rel: &str, i: usize) {
        locked(&self.served).insert(rel.to_string(), i);
    }

    fn note_sumdb(&self, i: usize) {
        locked(&self.sumdb_learned).insert(i);
    }

    fn serves_sumdb(&self, i: usize) -> Option<bool> {
        if locked(&self.sumdb_learned).contains(&i) {
            return Some(true);
        }
        self.settings.upstreams[i].sumdb
    }
}

/// A running relay; it stops when the process exits.
pub struct Relay {
    port: u16,
    shared: Arc<Shared>,
}

impl Relay {
    /// Binds 127.0.0.1 on a random port and starts accepting in a thread.
    pub fn start(settings: Settings) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            settings,
            token: random_token()?,
            client: OnceLock::new(),
            tally: Mutex::default(),
            served: Mutex::default(),
            penalty: Mutex::default(),
            sumdb_learned: Mutex::default(),
        });
        server::spawn(listener, shared.clone())?;
        Ok(Relay { port, shared })
    }

    /// The relay's URL (holds the token: give it only to the child).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, self.shared.token)
    }

    /// The child's GOPROXY: the relay, then the user's own tail.
    pub fn goproxy(&self, tail: Option<&Tail>) -> String {
        match tail {
            Some(t) => format!("{}{}{}", self.url(), t.sep, t.word),
            None => self.url(),
        }
    }

    /// The upstreams, in the relay's starting order, without credentials.
    pub fn upstream_keys(&self) -> Vec<String> {
        self.shared
            .settings
            .upstreams
            .iter()
            .map(|u| u.key.clone())
            .collect()
    }

    /// go rejected what the relay served for these paths: demote whoever served them.
    pub fn blame(&self, rel_paths: &[String]) {
        for rel in rel_paths {
            let served = locked(&self.shared.served).get(rel).copied();
            if let Some(i) = served {
                self.shared.note_failure(i, "bad_content");
                *locked(&self.shared.penalty).entry(i).or_default() += 10;
            }
        }
    }

    /// Failed requests per upstream so far (each one sent the request to the
    /// next upstream, or ended it), for the metrics; empty when none failed.
    pub fn failure_counts(&self) -> Vec<(String, u64)> {
        let tally = locked(&self.shared.tally);
        let ups = &self.shared.settings.upstreams;
        tally
            .iter()
            .filter(|(_, t)| t.failures > 0)
            .filter_map(|(i, t)| Some((ups.get(*i)?.key.clone(), u64::from(t.failures))))
            .collect()
    }

    /// What this run learned about each upstream it used, then forgets it.
    pub fn take_observations(&self) -> Vec<Observation> {
        let mut tally = locked(&self.shared.tally);
        let ups = &self.shared.settings.upstreams;
        tally
            .drain()
            .filter_map(|(i, t)| {
                let up = ups.get(i)?;
                let result = match (&t.last_error, t.failures) {
                    (Some(class), f) if f > 0 => Err(class.clone()),
                    _ => Ok(()),
                };
                let latency = median(&t.first_byte_ms).map(|ms| Latency {
                    first_byte_ms: Some(ms),
                    total_ms: ms,
                    ..Latency::default()
                });
                Some(Observation {
                    url: up.key.clone(),
                    result,
                    latency,
                    sumdb: self.shared.serves_sumdb(i),
                })
            })
            .collect()
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn random_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The upstreams for the relay: the plan's order, each knowing its place in the user's list.
pub fn upstreams(
    order: &[Proxy],
    user: &ProxyList,
    sumdb_of: impl Fn(&str) -> Option<bool>,
) -> Vec<Upstream> {
    let logins = netrc::load();
    order
        .iter()
        .map(|p| {
            let slot = user
                .proxies
                .iter()
                .position(|u| u.key() == p.key())
                .map(|i| (i, user.fallback[i]));
            Upstream::new(p, slot, sumdb_of(&p.key()), &logins)
        })
        .collect()
}

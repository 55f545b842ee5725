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

mod ahead;
mod body;
mod forward;
mod local_cache;
mod race;
pub mod route;
mod server;
mod transfer;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error_class::ErrorClass;
use crate::go::proxy_list::{Proxy, ProxyList, Tail};
use crate::health::Observation;
use crate::health::snapshot::Latency;
use crate::log::debug;
use crate::upstream::Endpoint;
use crate::upstream::goauth::Auth;
use ahead::Ahead;
pub use ahead::Prefetch;

/// One upstream proxy as the relay reaches it: the endpoint, and what only
/// the relay needs to know about it.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub endpoint: Endpoint,
    /// Position in the user's own GOPROXY list, and whether go would move past
    /// it on any error there (`|`); None for goshim's extra candidates.
    user_slot: Option<(usize, bool)>,
    /// Serves the checksum database (None = unknown).
    sumdb: Option<bool>,
    /// Ask the next upstream too when this one has not answered after this long.
    hedge_after: Option<Duration>,
    /// The health snapshot already says "up": a smooth run has nothing to add.
    known_up: bool,
    /// How long its first bytes took when last seen (health snapshot).
    known_first_byte_ms: Option<f64>,
}

impl Upstream {
    pub fn new(
        proxy: &Proxy,
        user_slot: Option<(usize, bool)>,
        sumdb: Option<bool>,
        credentials: &Arc<Auth>,
    ) -> Upstream {
        Upstream {
            endpoint: Endpoint::new(proxy, credentials),
            user_slot,
            sumdb,
            hedge_after: None,
            known_up: false,
            known_first_byte_ms: None,
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

/// When to ask the next upstream for a request the first has not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hedge {
    Off,
    /// This long after the request went out.
    After(Duration),
    /// A few times the upstream's first-byte latency in the snapshot, clamped.
    Adaptive,
}

impl Hedge {
    pub fn from_ms(ms: u64) -> Hedge {
        match ms {
            0 => Hedge::Off,
            ms => Hedge::After(Duration::from_millis(ms)),
        }
    }

    /// The delay for an upstream whose first bytes took `first_byte_ms` when last seen.
    pub fn delay(self, first_byte_ms: Option<f64>) -> Option<Duration> {
        match self {
            Hedge::Off => None,
            Hedge::After(d) => Some(d),
            Hedge::Adaptive => Some(match first_byte_ms {
                // Four times the usual first byte: rare on a healthy upstream.
                Some(ms) => Duration::from_secs_f64((4.0 * ms / 1000.0).clamp(0.25, 2.0)),
                None => Duration::from_secs(1),
            }),
        }
    }
}

/// What the relay fetches ahead for this command.
pub struct FetchAhead {
    pub prefetch: Prefetch,
    /// Where go looks for the main module's go.mod or go.work (the start
    /// directory and GOWORK); None when go reads another file (`-modfile`).
    pub main_module: Option<(std::path::PathBuf, Option<String>)>,
    /// Whether to fetch the `.mod` of the main modules' requirements at go's
    /// first request (commands that load the whole module graph).
    pub requirements: bool,
    /// Whether to fetch, at go's first request, the zips of the main modules'
    /// requirements whose hashes their go.sum holds (commands that build the
    /// main module's packages).
    pub summed_zips: bool,
}

pub struct Settings {
    /// In health order.
    pub upstreams: Vec<Upstream>,
    /// GONOSUMDB and GOPRIVATE patterns: such paths only go where the user's list would send them.
    pub private_patterns: String,
    /// GONOPROXY (as go env reports it, GOPRIVATE by default; "none" → ""):
    /// paths go fetches directly, never from a proxy.
    pub direct_patterns: String,
    pub deadlines: Deadlines,
    /// The checksum database go's GOSUMDB names (None: off): the one whose
    /// support the health snapshot's `sumdb` records.
    pub sumdb_name: Option<String>,
    /// The user's GOPROXY goes on after its proxies (`direct` or `off`): go
    /// moves on to it when its walk through the proxies ends without an answer.
    pub tail: bool,
    /// What to fetch ahead of go's requests.
    pub ahead: FetchAhead,
    /// go's download cache (`$GOMODCACHE/cache/download`): the last tier.
    pub local_cache: Option<PathBuf>,
    /// Test-only: make the start or the runtime fail.
    pub inject: Option<String>,
}

/// Requests in flight to one upstream at once, go's own and fetches ahead
/// together: over HTTP/1.1 each is a connection (go itself opens about 2),
/// and a small server's listen queue overflows when many commands each open
/// many at once. Not fewer: on a distant upstream fetching ahead is worth
/// what it runs at once (40 modules 150 ms away, `go mod download`: 1.7 s
/// with 16 fetches ahead, 3.0 s with 8; plain go 15.4 s).
const PER_UPSTREAM: usize = 18;
/// Of those, fetches ahead at most: the rest is kept for go's own requests.
pub(crate) const AHEAD_PER_UPSTREAM: usize = 16;

/// The share of an upstream's connection budget one request holds.
pub(crate) type Permits = (
    Option<tokio::sync::OwnedSemaphorePermit>,
    tokio::sync::OwnedSemaphorePermit,
);

/// One upstream's connection budget (see [`PER_UPSTREAM`]).
struct Budget {
    all: Arc<tokio::sync::Semaphore>,
    ahead: Arc<tokio::sync::Semaphore>,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            all: Arc::new(tokio::sync::Semaphore::new(PER_UPSTREAM)),
            ahead: Arc::new(tokio::sync::Semaphore::new(AHEAD_PER_UPSTREAM)),
        }
    }

    /// Waits for a share of the budget: a fetch ahead first for one of the
    /// places fetches ahead may take. None if the relay is going away.
    async fn take(&self, ahead: bool) -> Option<Permits> {
        let first = match ahead {
            true => Some(self.ahead.clone().acquire_owned().await.ok()?),
            false => None,
        };
        Some((first, self.all.clone().acquire_owned().await.ok()?))
    }
}

/// How long an upstream that looked down (hung, refused, stalled) is left
/// alone within a run: later requests skip it instead of waiting on it again.
const DOWN_FOR: Duration = Duration::from_secs(30);

/// Per-upstream outcomes seen during this run, for the health snapshot.
#[derive(Default)]
struct Tally {
    served: u32,
    failures: u32,
    slow: u32,
    last_error: Option<ErrorClass>,
    first_byte_ms: Vec<f64>,
}

pub(crate) struct Shared {
    settings: Settings,
    token: String,
    client: OnceLock<Option<reqwest::Client>>,
    tally: Mutex<HashMap<usize, Tally>>,
    /// Which upstream served each path, to blame it if go rejects the content.
    served: Mutex<HashMap<String, usize>>,
    /// Failures and lost races per upstream during this run: the relay's own ordering penalty.
    penalty: Mutex<HashMap<usize, u32>>,
    /// Upstreams that looked down, until when they are skipped, and why.
    down_until: Mutex<HashMap<usize, (Instant, ErrorClass)>>,
    /// Whether each upstream asked `sumdb/<name>/supported` during this run
    /// serves that database (200) or not (404/410), by upstream and database
    /// name: a nested go may use another GOSUMDB.
    sumdb_learned: Mutex<HashMap<(usize, String), bool>>,
    /// Requests answered from the local module cache after every upstream failed.
    local_answers: AtomicU32,
    ahead: Ahead,
    /// Per upstream: how many requests may be in flight to it at once.
    budgets: Vec<Budget>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The HTTP client, built on first use; None if it cannot be built.
    fn client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                let Some(tls) = crate::upstream::tls::client_config(&[b"h2", b"http/1.1"]) else {
                    debug!("relay: cannot set up TLS; every upstream request fails");
                    return None;
                };
                let built = reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    // go's proxy rules, not reqwest's own reading of the environment.
                    .no_proxy()
                    .proxy(reqwest::Proxy::custom(|url| {
                        let host = url
                            .host_str()?
                            .trim_start_matches('[')
                            .trim_end_matches(']');
                        let port = url.port_or_known_default()?;
                        crate::upstream::proxy_for_url(url.scheme(), host, port)
                            .map(|p| p.url.as_str())
                    }))
                    .connect_timeout(self.settings.deadlines.connect)
                    .user_agent(concat!("goshim/", env!("CARGO_PKG_VERSION")))
                    .build();
                if let Err(e) = &built {
                    debug!("relay: cannot build its HTTP client: {e}");
                }
                built.ok()
            })
            .as_ref()
    }

    fn upstream(&self, i: usize) -> &Upstream {
        &self.settings.upstreams[i]
    }

    /// A share of upstream `i`'s connection budget, for a fetch ahead or for
    /// go's own request, held until the request and its body are done.
    async fn budget(&self, i: usize, ahead: bool) -> Option<Permits> {
        self.budgets.get(i)?.take(ahead).await
    }

    /// An answer began after `first_byte_ms`.
    fn note_first_byte(&self, i: usize, first_byte_ms: f64) {
        self.ahead.on_latency(first_byte_ms);
        locked(&self.tally)
            .entry(i)
            .or_default()
            .first_byte_ms
            .push(first_byte_ms);
    }

    /// A whole answer: a complete body, or a "not found".
    fn note_served_whole(&self, i: usize) {
        locked(&self.tally).entry(i).or_default().served += 1;
    }

    fn note_failure(&self, i: usize, class: ErrorClass) {
        *locked(&self.penalty).entry(i).or_default() += 1;
        if class.means_down() {
            locked(&self.down_until).insert(i, (Instant::now() + DOWN_FOR, class));
        }
        let mut tally = locked(&self.tally);
        let t = tally.entry(i).or_default();
        t.failures += 1;
        t.last_error = Some(class);
    }

    /// Whether upstream `i` served a whole answer in this run.
    fn has_served(&self, i: usize) -> bool {
        locked(&self.tally).get(&i).is_some_and(|t| t.served > 0)
    }

    /// Lost a race after `waited`: slow, not down. Its wait counts as a
    /// (lower bound of a) first-byte time, so the score sees the slowness.
    fn note_slow(&self, i: usize, waited: Option<Duration>) {
        *locked(&self.penalty).entry(i).or_default() += 1;
        let mut tally = locked(&self.tally);
        let t = tally.entry(i).or_default();
        t.slow += 1;
        t.first_byte_ms
            .extend(waited.map(|w| w.as_secs_f64() * 1000.0));
    }

    fn is_down(&self, i: usize) -> bool {
        self.down_class(i).is_some()
    }

    /// Why the upstream is being skipped, while it is.
    fn down_class(&self, i: usize) -> Option<ErrorClass> {
        locked(&self.down_until)
            .get(&i)
            .filter(|(until, _)| Instant::now() < *until)
            .map(|(_, class)| *class)
    }

    fn note_served(&self, rel: &str, i: usize) {
        locked(&self.served).insert(rel.to_string(), i);
    }

    fn note_sumdb(&self, i: usize, db: &str, serves: bool) {
        locked(&self.sumdb_learned).insert((i, db.to_string()), serves);
    }

    fn note_local_answer(&self) {
        self.local_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether upstream `i` serves the checksum database `db`: learned in
    /// this run, else what the health snapshot says when `db` is the one it
    /// records (GOSUMDB's).
    fn serves_sumdb(&self, i: usize, db: &str) -> Option<bool> {
        if let Some(&serves) = locked(&self.sumdb_learned).get(&(i, db.to_string())) {
            return Some(serves);
        }
        let snapshots_db = self.settings.sumdb_name.as_deref() == Some(db);
        self.upstream(i).sumdb.filter(|_| snapshots_db)
    }

    /// What the health snapshot should say about upstream `i` and GOSUMDB's database.
    fn serves_gosumdb(&self, i: usize) -> Option<bool> {
        match self.settings.sumdb_name.as_deref() {
            Some(db) => self.serves_sumdb(i, db),
            None => self.upstream(i).sumdb,
        }
    }

    /// Each upstream that failed in this run, with what it did last, for a person.
    fn failure_account(&self) -> Vec<String> {
        let d = self.settings.deadlines;
        let tally = locked(&self.tally);
        self.settings
            .upstreams
            .iter()
            .enumerate()
            .filter_map(|(i, up)| {
                let class = tally
                    .get(&i)
                    .and_then(|t| t.last_error)
                    .or_else(|| self.down_class(i))?;
                Some(format!(
                    "{} {}",
                    up.endpoint.key,
                    class.describe(d.response, d.stall)
                ))
            })
            .collect()
    }
}

/// A running relay; it stops when the process exits.
pub struct Relay {
    port: u16,
    shared: Arc<Shared>,
}

impl Relay {
    /// Binds 127.0.0.1 on a random port, builds the (single-threaded) async
    /// runtime and starts serving in a thread. Any failure here leaves go
    /// with the GOPROXY list instead, before go ever sees the relay.
    pub fn start(settings: Settings) -> std::io::Result<Relay> {
        if settings.inject.as_deref() == Some("relay_start") {
            return Err(std::io::Error::other("injected relay start failure"));
        }
        let runtime = server::runtime(settings.inject.as_deref())?;
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let ahead = Ahead::new(&settings.ahead);
        let upstreams = settings.upstreams.len();
        if let Some(ms) = settings
            .upstreams
            .first()
            .and_then(|u| u.known_first_byte_ms)
        {
            ahead.on_latency(ms);
        }
        let shared = Arc::new(Shared {
            settings,
            token: random_token()?,
            client: OnceLock::new(),
            tally: Mutex::default(),
            served: Mutex::default(),
            penalty: Mutex::default(),
            down_until: Mutex::default(),
            sumdb_learned: Mutex::default(),
            local_answers: AtomicU32::new(0),
            ahead,
            budgets: (0..upstreams).map(|_| Budget::new()).collect(),
        });
        server::spawn(runtime, listener, shared.clone())?;
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
            .map(|u| u.endpoint.key.clone())
            .collect()
    }

    /// go rejected what the relay served for these paths: demote whoever served them.
    pub fn blame(&self, rel_paths: &[String]) {
        for rel in rel_paths {
            let served = locked(&self.shared.served).get(rel).copied();
            if let Some(i) = served {
                self.shared.note_failure(i, ErrorClass::BadContent);
                *locked(&self.shared.penalty).entry(i).or_default() += 10;
            }
        }
    }

    /// True when every upstream this run involved failed (or is being
    /// skipped as down) without serving one whole answer: running go again
    /// now would only fail again. Upstreams never asked (extra candidates of
    /// a private path, non-sumdb ones for sumdb traffic) do not count.
    pub fn all_failed(&self) -> bool {
        let tally = locked(&self.shared.tally);
        let mut involved = 0;
        for i in 0..self.shared.settings.upstreams.len() {
            let (served, failures) = tally.get(&i).map_or((0, 0), |t| (t.served, t.failures));
            let down = self.shared.is_down(i);
            if served > 0 {
                return false;
            }
            if failures > 0 || down {
                involved += 1;
            }
        }
        involved > 0
    }

    /// What this run fetched ahead, and of that what go never asked for.
    pub fn prefetch_counters(&self) -> crate::metrics::PrefetchCounters {
        let s = &self.shared.ahead.stats;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let (fetched, fetched_bytes) = (get(&s.fetched), get(&s.fetched_bytes));
        crate::metrics::PrefetchCounters {
            fetched,
            fetched_bytes,
            unused: fetched.saturating_sub(get(&s.used)),
            unused_bytes: fetched_bytes.saturating_sub(get(&s.used_bytes)),
            zips: get(&s.zips),
            unused_zips: get(&s.zips).saturating_sub(get(&s.zips_used)),
        }
    }

    /// How many requests the local module cache answered because every upstream failed.
    pub fn local_answers(&self) -> u32 {
        self.shared.local_answers.load(Ordering::Relaxed)
    }

    /// `<upstream> <what it did>` for each upstream that failed in this run.
    pub fn failure_account(&self) -> Vec<String> {
        self.shared.failure_account()
    }

    /// Failed requests per upstream so far (each one sent the request to the
    /// next upstream, or ended it), for the metrics; empty when none failed.
    pub fn failure_counts(&self) -> Vec<(String, u64)> {
        let tally = locked(&self.shared.tally);
        let ups = &self.shared.settings.upstreams;
        tally
            .iter()
            .filter(|(_, t)| t.failures > 0)
            .filter_map(|(i, t)| Some((ups.get(*i)?.endpoint.key.clone(), u64::from(t.failures))))
            .collect()
    }

    /// What this run learned about each upstream it used, then forgets it.
    /// A lost race is no failure: it shows as a slow first byte. Upstreams the
    /// snapshot knows as up and that did nothing wrong are left out, so the
    /// common smooth run writes no state file at all.
    pub fn take_observations(&self) -> Vec<Observation> {
        let mut tally = locked(&self.shared.tally);
        let ups = &self.shared.settings.upstreams;
        tally
            .drain()
            .filter_map(|(i, t)| {
                let up = ups.get(i)?;
                let news =
                    t.failures > 0 || t.slow > 0 || self.shared.serves_gosumdb(i) != up.sumdb;
                if up.known_up && !news {
                    return None;
                }
                let result = match t.last_error {
                    Some(class) if t.failures > 0 => Err(class),
                    _ => Ok(()),
                };
                let latency = median(&t.first_byte_ms).map(|ms| Latency {
                    first_byte_ms: Some(ms),
                    total_ms: ms,
                    ..Latency::default()
                });
                Some(Observation {
                    url: up.endpoint.key.clone(),
                    result,
                    latency,
                    sumdb: self.shared.serves_gosumdb(i),
                    serves_modules: None,
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

pub(crate) fn random_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A relay URL as goshim hands it to go: `http://127.0.0.1:<port>/<32 hex>`.
/// A go that finds one as its GOPROXY runs under a supervising goshim.
pub fn is_relay_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://127.0.0.1:") else {
        return false;
    };
    let Some((port, token)) = rest.split_once('/') else {
        return false;
    };
    port.parse::<u16>().is_ok() && token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the health snapshot says about an upstream.
#[derive(Debug, Default, Clone, Copy)]
pub struct KnownHealth {
    pub sumdb: Option<bool>,
    pub first_byte_ms: Option<f64>,
    pub up: bool,
}

/// The upstreams for the relay: the plan's order, each knowing its place in
/// the user's list and its hedge delay, sharing `credentials`.
pub fn upstreams(
    order: &[Proxy],
    user: &ProxyList,
    hedge: Hedge,
    health_of: impl Fn(&str) -> Option<KnownHealth>,
    credentials: &Arc<Auth>,
) -> Vec<Upstream> {
    order
        .iter()
        .map(|p| {
            let slot = user
                .proxies
                .iter()
                .position(|u| u.key() == p.key())
                .map(|i| (i, user.fallback[i]));
            let known = health_of(&p.key()).unwrap_or_default();
            let mut up = Upstream::new(p, slot, known.sumdb, credentials);
            up.hedge_after = hedge.delay(known.first_byte_ms);
            up.known_up = known.up;
            up.known_first_byte_ms = known.first_byte_ms;
            up
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedge_delay_adapts_to_known_latency() {
        let a = Hedge::Adaptive;
        assert_eq!(a.delay(None), Some(Duration::from_secs(1)));
        assert_eq!(a.delay(Some(100.0)), Some(Duration::from_millis(400)));
        assert_eq!(a.delay(Some(10.0)), Some(Duration::from_millis(250)));
        assert_eq!(a.delay(Some(5000.0)), Some(Duration::from_secs(2)));
        assert_eq!(Hedge::from_ms(0).delay(Some(100.0)), None);
        assert_eq!(
            Hedge::from_ms(300).delay(None),
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn recognises_relay_urls() {
        assert!(is_relay_url(
            "http://127.0.0.1:4000/0123456789abcdef0123456789abcdef"
        ));
        assert!(!is_relay_url("http://127.0.0.1:4000/short"));
        assert!(!is_relay_url("https://goproxy.cn"));
    }
}

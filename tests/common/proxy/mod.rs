//! `TestProxy`: a GOPROXY server on 127.0.0.1 with switchable faults.
//!
//! It serves a [`ModTree`]'s protocol files over plain HTTP/1.1 (keep-alive,
//! Content-Length bodies) plus `/sumdb/<name>/supported` and, when a
//! [`SumDb`] is attached ([`ProxyBuilder::sumdb`]), that database's `latest`,
//! `lookup/...` and `tile/...`; optionally honours
//! `Range: bytes=N-` ([`ProxyBuilder::ranges`]), logs every request,
//! and can misbehave in the ways real proxies do (error statuses, rate limits,
//! hangs, slow, stalled or cut-off bodies). Faults can be switched at runtime, so a test
//! can make a proxy bad and then healthy again, and can target only some paths
//! (e.g. only `.zip` downloads) through a path-suffix filter, or a substring
//! filter (e.g. only `/sumdb/` paths).
//!
//! Threads: one acceptor plus one per connection, at most [`MAX_CONNECTIONS`]
//! at a time (extra connections are closed at once). Dropping the proxy stops
//! them all, hung connections included, within ~100 ms.
//!
//! ```ignore
//! let tree = ModTree::new(3);
//! let proxy = TestProxy::start(&tree);
//! world.set_env("GOPROXY", &proxy.url());
//! proxy.set_fault_for(".zip", Fault::Status(503)); // only downloads fail
//! proxy.heal();
//! ```

mod conn;

pub(crate) use conn::wait_for_connection;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::modtree::ModTree;
use super::sumdb::SumDb;

/// Most connections served at once; more are closed on accept. High enough
/// that no test reaches it: 20 concurrent relays keep well over 32 keep-alive
/// connections open, and a proxy that resets connections over a small cap is
/// a fault of its own, not what "healthy" means.
pub const MAX_CONNECTIONS: usize = 1024;

/// How a proxy (mis)behaves for the requests a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Serve files normally (200, or 404 for unknown paths).
    Healthy,
    /// Answer every request with this status (e.g. 500, 502, 503, 504, 403, 404, 410).
    Status(u16),
    /// Answer 429 Too Many Requests with a `Retry-After` header.
    Status429 { retry_after_secs: u64 },
    /// Answer `status` to every n-th matching request (n, 2n, ...), normally otherwise.
    EveryNth { n: u64, status: u16 },
    /// Read the request and never answer (until the proxy is dropped).
    Hang,
    /// `Hang` for the first `n` matching requests, normally afterwards.
    HangFirst { n: u64 },
    /// Send headers at once, then the body `bytes_per_chunk` at a time, `delay` apart.
    SlowDrip {
        bytes_per_chunk: usize,
        delay: Duration,
    },
    /// Wait this long before answering, then answer normally (a slow first byte).
    Delay(Duration),
    /// Wait this long, then answer `status` (e.g. a 404 that takes a while).
    LateStatus { delay: Duration, status: u16 },
    /// Send headers with the full Content-Length and half the body, then reset (RST).
    ResetMidBody,
    /// Send headers with the full Content-Length and half the body, then nothing
    /// more, keeping the connection open (until the proxy is dropped): a body
    /// that stalls for good. A HEAD request gets the headers only.
    StallMidBody,
    /// Like `StallMidBody`, but the rest follows once [`TestProxy::resume`] is called.
    PauseMidBody,
    /// For `.zip` paths, send only the first half of the zip with a matching
    /// Content-Length (a valid HTTP response carrying a corrupt zip). Other paths are served normally.
    TruncatedZip,
    /// Send only the first half of any 200 body with a matching Content-Length
    /// (e.g. a short checksum-database tile).
    Truncated,
    /// Send the headers with the full Content-Length, then close the
    /// connection before any body byte.
    CutBeforeBody,
    /// Send any 200 body chunked (no Content-Length) with 32 bytes too many
    /// at its end (e.g. a hash tile longer than its path says).
    LongChunked,
}

/// One request the proxy received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The path as requested (prefix included, query string removed).
    pub path: String,
    pub at: Instant,
    /// The query string, without the '?' (the log's `path` has none).
    pub query: Option<String>,
    /// `N` of a `Range: bytes=N-` header, if the request had one.
    pub range_from: Option<u64>,
    /// The `Authorization` header, if the request had one.
    pub authorization: Option<String>,
    /// The status line sent (`None` when nothing was sent: `Hang`).
    pub status: Option<u16>,
    /// What the proxy did: `Healthy`, or the fault applied (for `EveryNth`,
    /// the resulting `Status` on the failing requests and `Healthy` on the others).
    pub fault: Fault,
}

/// A fault and the paths it applies to.
struct Rule {
    fault: Fault,
    filter: Filter,
    matched: u64,
}

/// Which paths (prefix stripped) a rule applies to.
enum Filter {
    All,
    Suffix(String),
    Contains(String),
}

impl Filter {
    fn matches(&self, path: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Suffix(s) => path.ends_with(s.as_str()),
            Filter::Contains(s) => path.contains(s.as_str()),
        }
    }
}

/// State shared between the proxy handle and its threads.
struct State {
    files: RwLock<BTreeMap<String, Vec<u8>>>,
    rules: Mutex<Vec<Rule>>,
    sumdb_supported: AtomicBool,
    /// The checksum database served under `/sumdb/<its name>/`, if any.
    sumdb: RwLock<Option<SumDb>>,
    /// Whether healthy answers honour `Range: bytes=N-` (206 + Content-Range).
    ranges: AtomicBool,
    log: Mutex<Vec<Request>>,
    shutdown: AtomicBool,
    /// Paused bodies (`Fault::PauseMidBody`) may go on.
    resumed: AtomicBool,
    prefix: String,
    /// Requests being answered now, and the most ever answered at once.
    answering: AtomicUsize,
    peak_answering: AtomicUsize,
}

impl State {
    /// The fault to apply to a request for `path` (prefix stripped), counting
    /// it against the first matching rule.
    fn fault_for(&self, path: &str) -> Fault {
        let mut rules = self.rules.lock().unwrap();
        let Some(rule) = rules.iter_mut().find(|r| r.filter.matches(path)) else {
            return Fault::Healthy;
        };
        rule.matched += 1;
        match rule.fault {
            Fault::EveryNth { n, status } if rule.matched % n.max(1) == 0 => Fault::Status(status),
            Fault::EveryNth { .. } => Fault::Healthy,
            Fault::HangFirst { n } if rule.matched <= n => Fault::Hang,
            Fault::HangFirst { .. } => Fault::Healthy,
            ref other => other.clone(),
        }
    }

    fn record(&self, head: &conn::Head, status: Option<u16>, fault: &Fault) {
        self.log.lock().unwrap().push(Request {
            method: head.method.clone(),
            path: head.path.clone(),
            query: head.query.clone(),
            range_from: head.range_from,
            authorization: head.authorization.clone(),
            at: Instant::now(),
            status,
            fault: fault.clone(),
        });
    }

    fn ranges(&self) -> bool {
        self.ranges.load(Ordering::SeqCst)
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// Options for a proxy, set before it starts.
pub struct ProxyBuilder {
    files: BTreeMap<String, Vec<u8>>,
    prefix: String,
    sumdb_supported: bool,
    sumdb: Option<SumDb>,
    ranges: bool,
    fault: Fault,
}

impl ProxyBuilder {
    /// Serve this tree's modules.
    pub fn tree(mut self, tree: &ModTree) -> Self {
        self.files = tree.proxy_files();
        self
    }

    /// Serve these protocol files (path relative to the proxy root, as
    /// [`ModTree::proxy_files`] gives them): modules not made by a `ModTree`.
    pub fn files(mut self, files: BTreeMap<String, Vec<u8>>) -> Self {
        self.files = files;
        self
    }

    /// Serve under a path prefix: `url()` becomes `http://127.0.0.1:PORT<prefix>`
    /// and requests outside it get 404. E.g. `"/mirror"`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        assert!(
            trimmed.is_empty() || trimmed.starts_with('/'),
            "prefix must start with '/'"
        );
        self.prefix = trimmed.to_string();
        self
    }

    /// Whether `/sumdb/<name>/supported` answers 200 (default) or 404.
    pub fn sumdb_supported(mut self, yes: bool) -> Self {
        self.sumdb_supported = yes;
        self
    }

    /// Serve `db` under `/sumdb/<db name>/` (`latest`, `lookup/...`, `tile/...`).
    pub fn sumdb(mut self, db: &SumDb) -> Self {
        self.sumdb = Some(db.clone());
        self
    }

    /// Whether healthy answers honour `Range: bytes=N-` with 206 and
    /// `Content-Range` (default: no, the full body with 200, as many proxies do).
    pub fn ranges(mut self, yes: bool) -> Self {
        self.ranges = yes;
        self
    }

    /// The fault in force from the first request on (default `Healthy`).
    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    pub fn start(self) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let rules = match self.fault {
            Fault::Healthy => Vec::new(),
            fault => vec![Rule {
                fault,
                filter: Filter::All,
                matched: 0,
            }],
        };
        let state = Arc::new(State {
            files: RwLock::new(self.files),
            rules: Mutex::new(rules),
            sumdb_supported: AtomicBool::new(self.sumdb_supported),
            sumdb: RwLock::new(self.sumdb),
            ranges: AtomicBool::new(self.ranges),
            log: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            resumed: AtomicBool::new(false),
            prefix: self.prefix,
            answering: AtomicUsize::new(0),
            peak_answering: AtomicUsize::new(0),
        });
        let acceptor = {
            let state = state.clone();
            thread::spawn(move || conn::accept_loop(listener, state))
        };
        TestProxy {
            state,
            addr,
            acceptor: Some(acceptor),
        }
    }
}

/// A running test proxy; see the module docs.
pub struct TestProxy {
    state: Arc<State>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl TestProxy {
    /// A healthy proxy serving `tree`, sumdb "supported".
    pub fn start(tree: &ModTree) -> TestProxy {
        TestProxy::builder().tree(tree).start()
    }

    /// A proxy serving `tree` with `fault` in force from the first request on.
    pub fn faulty(tree: &ModTree, fault: Fault) -> TestProxy {
        TestProxy::builder().tree(tree).fault(fault).start()
    }

    /// A healthy proxy with no modules (every module lookup gets 404).
    pub fn empty() -> TestProxy {
        TestProxy::builder().start()
    }

    pub fn builder() -> ProxyBuilder {
        ProxyBuilder {
            files: BTreeMap::new(),
            prefix: String::new(),
            sumdb_supported: true,
            sumdb: None,
            ranges: false,
            fault: Fault::Healthy,
        }
    }

    /// `http://127.0.0.1:PORT` plus the prefix, if any: a GOPROXY list entry.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.state.prefix)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies `fault` to every request from now on (`Healthy` clears all faults).
    pub fn set_fault(&self, fault: Fault) {
        self.replace_rules(fault, Filter::All);
    }

    /// Applies `fault` only to paths ending with `suffix` (e.g. ".zip", "/@v/list");
    /// other paths are served normally. Replaces any previous faults.
    pub fn set_fault_for(&self, suffix: &str, fault: Fault) {
        self.replace_rules(fault, Filter::Suffix(suffix.to_string()));
    }

    /// Applies `fault` only to paths containing `needle` (e.g. "/sumdb/",
    /// "/tile/"); other paths are served normally. Replaces any previous faults.
    pub fn set_fault_containing(&self, needle: &str, fault: Fault) {
        self.replace_rules(fault, Filter::Contains(needle.to_string()));
    }

    /// Adds a rule after the existing ones (the first matching rule wins).
    /// `suffix: None` matches every path.
    pub fn add_fault(&self, suffix: Option<&str>, fault: Fault) {
        let filter = suffix.map_or(Filter::All, |s| Filter::Suffix(s.to_string()));
        self.state.rules.lock().unwrap().push(Rule {
            fault,
            filter,
            matched: 0,
        });
    }

    /// Lets bodies paused by `Fault::PauseMidBody` go on.
    pub fn resume(&self) {
        self.state.resumed.store(true, Ordering::SeqCst);
    }

    /// Back to healthy for every path.
    pub fn heal(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    fn replace_rules(&self, fault: Fault, filter: Filter) {
        let mut rules = self.state.rules.lock().unwrap();
        rules.clear();
        if fault != Fault::Healthy {
            rules.push(Rule {
                fault,
                filter,
                matched: 0,
            });
        }
    }

    /// Switches `/sumdb/<name>/supported` between 200 and 404.
    pub fn set_sumdb_supported(&self, yes: bool) {
        self.state.sumdb_supported.store(yes, Ordering::SeqCst);
    }

    /// Serves `db` under `/sumdb/<db name>/` from now on (None: no database).
    pub fn set_sumdb(&self, db: Option<&SumDb>) {
        *self.state.sumdb.write().unwrap() = db.cloned();
    }

    /// Switches `Range: bytes=N-` support (206 + Content-Range) on or off.
    pub fn set_ranges(&self, yes: bool) {
        self.state.ranges.store(yes, Ordering::SeqCst);
    }

    /// Replaces the served modules with `tree`'s.
    pub fn set_tree(&self, tree: &ModTree) {
        *self.state.files.write().unwrap() = tree.proxy_files();
    }

    /// Serves, in place of each of `tree`'s zips, a valid zip with other
    /// contents than the module's (see [`ModTree::tampered_zips`]).
    pub fn serve_tampered_zips(&self, tree: &ModTree) {
        self.state
            .files
            .write()
            .unwrap()
            .extend(tree.tampered_zips());
    }

    /// Serves `contents` at `path` (relative to the proxy root, no leading slash).
    pub fn insert_file(&self, path: &str, contents: Vec<u8>) {
        self.state
            .files
            .write()
            .unwrap()
            .insert(path.to_string(), contents);
    }

    /// The most requests that were ever being answered at once (over
    /// HTTP/1.1, each on a connection of its own).
    pub fn peak_requests(&self) -> usize {
        self.state.peak_answering.load(Ordering::SeqCst)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.state.log.lock().unwrap().clone()
    }

    /// The paths of every request received so far.
    pub fn request_paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }

    pub fn request_count(&self) -> usize {
        self.state.log.lock().unwrap().len()
    }

    /// Requests whose path ends with `suffix`.
    pub fn requests_ending_with(&self, suffix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// Waits until at least `n` requests were received; panics after `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.requests();
            if log.len() >= n {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "proxy got {} requests within {timeout:?}, expected {n}: {log:?}",
                log.len()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.state.shutdown.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join(); // joins every connection thread too
        }
    }
}

/// A `http://127.0.0.1:PORT` URL where nothing listens (connection refused):
/// binds a port, then frees it.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    drop(listener);
    format!("http://{addr}")
}

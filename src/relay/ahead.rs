//! Fetching ahead: on a distant proxy go's requests cost a round trip each,
//! a few at a time, and it asks for a module's files one after the other
//! (`go build`: `.zip`, `.mod`, `.info`; `go mod download`: every `.mod`,
//! then every `.info`, then every `.zip`). The relay starts what go will ask
//! next as soon as it can tell, and holds the answers for the rest of the run:
//!
//! - within a module version: any of its files asked → the small others
//!   (`.info`, `.mod`; not `.info` for `go mod tidy` and `go mod graph`,
//!   which never ask for it); and for commands that download every zip anyway
//!   (`go mod download`), the `.info` asked → the `.zip`;
//! - along the module graph: a `.mod` given to go → the `.mod` of each of
//!   its `require` lines, which go's version selection asks next (one round
//!   trip per level of the graph instead of one per module); and the graph's
//!   first level, the main go.mod's requirements, at go's first request
//!   (go reads that file itself, so the relay never sees it go by);
//! - the checksum database's lookup of each module version go will check:
//!   go checks every `.mod` it downloads and asks the database, a round trip
//!   right after the `.mod`'s, when go.sum does not have it. Fetched for the
//!   `.mod` files go got and those the main modules require (fetched ahead
//!   at go's first request, and certain to be loaded), not for the rest of
//!   the graph, which go may prune; and only once go has been told the
//!   database is served (`supported`).
//!
//! A fetch ahead is an ordinary race (same order, failover, hedging,
//! deadlines, private-path rules); one that fails is forgotten and go's own
//! request runs as usual. Never more than [`NEAR`] at once, or [`FAR`] once
//! the upstream is seen to be distant, and a go
//! request never waits for one that has not started. go waits for a small
//! file under way; a zip under way it takes over (what came so far, then the
//! rest as it arrives), so a big zip is never first held whole and then
//! copied out. Nothing outlives the run: bodies are held in memory up to
//! [`MEMORY_BUDGET`], larger ones in an unlinked 0600 temporary file.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use hyper::header::HeaderValue;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};

use super::FetchAhead;
use super::race::{Race, Step};
use super::route::{self, Route};
use super::{Shared, locked};
use crate::error_class::ErrorClass;
use crate::go::{mod_file, module_path};

/// Fetches ahead running at once while every answer came at once: on a
/// proxy next door more would only compete with go for the CPU (measured:
/// 16 cost 0.07× more of the list mode's time than 4 on a local proxy).
const NEAR: usize = 4;
/// Fetches ahead running at once for a distant upstream, where each costs a
/// round trip (go itself asks about GOMAXPROCS at a time). No more than an
/// upstream's connection budget allows fetches ahead
/// (`super::AHEAD_PER_UPSTREAM`), so that a fetch ahead go waits for is
/// never itself waiting for a place.
const FAR: usize = super::AHEAD_PER_UPSTREAM;
/// An upstream whose first bytes took this long is distant.
const DISTANT_MS: f64 = 5.0;
/// Bodies held in memory, all together; beyond it they go to a file.
const MEMORY_BUDGET: usize = 32 * 1024 * 1024;
/// A body larger than this is held in a file.
const IN_MEMORY_UP_TO: usize = 1024 * 1024;
/// Zips fetched ahead and not yet taken by go (or under way), all together.
/// When go falls behind (it downloads a few at a time), the next zip waits
/// for go to take one: fetching ahead of 2,000 modules must not hold 2,000
/// zips (each spilled zip is an open file). Enough to keep every fetch ahead
/// busy on a distant proxy while go works through what is held.
const ZIPS_HELD: usize = 32;
/// Bytes of all bodies held or arriving (memory and files): a fetch ahead
/// that would go over is dropped, and go fetches that file itself. Bounds a
/// tmpfs `/tmp` (memory) however large the zips.
const HELD_BYTES: u64 = 256 * 1024 * 1024;

/// What the relay fetches ahead for this command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    Off,
    /// `.mod` files only (`go mod tidy`, `go mod graph`: they never ask for `.info`).
    ModsOnly,
    /// `.info`, `.mod` and the module graph's `.mod` files.
    Small,
    /// Zips too: the command downloads every zip it learns of (`go mod download`).
    WithZips,
}

/// A body fetched ahead, with what it counts against (kept for its `Drop`).
pub enum Held {
    /// In memory.
    Memory(Bytes, #[allow(dead_code)] Hold),
    /// In an unlinked temporary file of this length.
    File(Arc<File>, u64, #[allow(dead_code)] Hold),
}

/// What a body fetched ahead counts against while it is held or arriving:
/// given back when it is dropped (go took it, the fetch failed, the run ended).
#[derive(Default)]
pub struct Hold {
    /// Its bytes, in the run's count of everything held ([`HELD_BYTES`]).
    bytes: u64,
    held: Option<Arc<AtomicU64>>,
    /// Its bytes in the run's in-memory budget ([`MEMORY_BUDGET`]), once whole.
    in_memory: Option<(usize, Arc<AtomicUsize>)>,
    /// A zip's place among [`ZIPS_HELD`].
    _zip_slot: Option<OwnedSemaphorePermit>,
}

impl Hold {
    /// Counts `n` more bytes; false (nothing counted) when that would go over [`HELD_BYTES`].
    fn add(&mut self, n: u64) -> bool {
        let Some(held) = &self.held else {
            return true;
        };
        if held.fetch_add(n, Ordering::Relaxed) + n > HELD_BYTES {
            held.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        self.bytes += n;
        true
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(held) = &self.held {
            held.fetch_sub(self.bytes, Ordering::Relaxed);
        }
        if let Some((n, in_memory)) = &self.in_memory {
            in_memory.fetch_sub(*n, Ordering::Relaxed);
        }
    }
}

impl Held {
    pub fn len(&self) -> u64 {
        match self {
            Held::Memory(b, _) => b.len() as u64,
            Held::File(_, len, _) => *len,
        }
    }

    /// The body from `offset`, at most `max` bytes (empty at the end).
    pub fn read_at(&self, offset: u64, max: usize) -> std::io::Result<Bytes> {
        match self {
            Held::Memory(b, _) => {
                let start = (offset as usize).min(b.len());
                Ok(b.slice(start..(start + max).min(b.len())))
            }
            Held::File(f, len, _) => {
                let n = max.min(len.saturating_sub(offset) as usize);
                let mut buf = vec![0u8; n];
                crate::platform::read_exact_at(f, &mut buf, offset)?;
                Ok(buf.into())
            }
        }
    }
}

/// The outcome of one fetch ahead: the body, its content type and the
/// upstreams that failed on the way (recorded once go uses the body), or None.
type Fetched = Option<(Arc<Held>, Option<HeaderValue>, Failures)>;

/// Upstreams that failed, and how.
type Failures = Vec<(usize, ErrorClass)>;

/// What go gets for a request that was fetched ahead.
pub enum Found {
    /// The whole body and its content type.
    Whole(Arc<Held>, Option<HeaderValue>),
    /// A zip still arriving: the bytes so far, and the race bringing the rest.
    Partial(Held, Box<Race>),
}

/// What came so far of a zip under way, and the race bringing the rest.
type Handover = (Held, Box<Race>);

struct Entry {
    /// A permit was granted: go may wait for it rather than ask again.
    started: AtomicBool,
    done: watch::Receiver<Option<Fetched>>,
    /// go asked for a zip under way: where to hand over what came so far and
    /// the race itself, so go gets the rest as it arrives (on a fast proxy,
    /// waiting for the whole zip and then copying it out of a file would
    /// cost more than fetching ahead saves).
    taker: std::sync::Mutex<Option<oneshot::Sender<Handover>>>,
    /// Signalled once `taker` is set.
    wanted: Notify,
}

/// The checksum database's name once go was told it is served; until then,
/// the `.mod` files go will check, whose lookups wait for it.
#[derive(Default)]
struct Lookups {
    sumdb: Option<String>,
    waiting: Vec<String>,
}

/// Per-run state of fetching ahead.
pub struct Ahead {
    mode: Prefetch,
    /// Where to look for the main module's go.mod; taken on go's first request.
    main_module: std::sync::Mutex<Option<(PathBuf, Option<String>)>>,
    /// Fetch the main modules' requirements at go's first request.
    requirements: bool,
    /// Fetch the zips go.sum names at go's first request.
    summed_zips: bool,
    /// Module paths the main modules' `replace` lines redirect; set at go's
    /// first request.
    replaced: OnceLock<HashSet<String>>,
    /// The go.mod or go.work go reads (None: no main module); set at go's
    /// first request, never with `-modfile`.
    main_file: OnceLock<Option<mod_file::MainFile>>,
    /// What the main modules' sum files hold (see
    /// [`mod_file::summed_go_mods`]), read when go is told its checksum
    /// database is served. Unknown: no lookup is fetched ahead.
    summed: OnceLock<HashSet<String>>,
    lookups: std::sync::Mutex<Lookups>,
    entries: std::sync::Mutex<HashMap<String, Arc<Entry>>>,
    /// Paths go asked for: never fetched ahead again.
    asked: std::sync::Mutex<HashSet<String>>,
    permits: Arc<Semaphore>,
    /// Whether the upstream was seen to be distant (and [`FAR`] permits given).
    far: AtomicBool,
    in_memory: Arc<AtomicUsize>,
    /// Places for zips held or under way ([`ZIPS_HELD`]).
    zip_slots: Arc<Semaphore>,
    /// Bytes of every body held or arriving ([`HELD_BYTES`]).
    held_bytes: Arc<AtomicU64>,
    pub stats: Stats,
}

/// Fetched ahead, and of that what go used (requests and bytes).
#[derive(Default)]
pub struct Stats {
    pub fetched: AtomicU64,
    pub fetched_bytes: AtomicU64,
    pub used: AtomicU64,
    pub used_bytes: AtomicU64,
    /// Zips whose fetch ahead started, and of those the ones go asked for
    /// (whole or under way).
    pub zips: AtomicU64,
    pub zips_used: AtomicU64,
}

impl Stats {
    fn count_fetched(&self, bytes: u64) {
        self.fetched.fetch_add(1, Ordering::Relaxed);
        self.fetched_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Ahead {
    pub fn new(settings: &FetchAhead) -> Ahead {
        Ahead {
            mode: settings.prefetch,
            main_module: std::sync::Mutex::new(settings.main_module.clone()),
            requirements: settings.requirements,
            summed_zips: settings.summed_zips,
            replaced: OnceLock::new(),
            main_file: OnceLock::new(),
            summed: OnceLock::new(),
            lookups: Default::default(),
            entries: Default::default(),
            asked: Default::default(),
            permits: Arc::new(Semaphore::new(NEAR)),
            far: AtomicBool::new(false),
            in_memory: Arc::default(),
            zip_slots: Arc::new(Semaphore::new(ZIPS_HELD)),
            held_bytes: Arc::default(),
            stats: Stats::default(),
        }
    }

    /// An upstream's answer began after `first_byte_ms` (or did, says the
    /// health snapshot): a distant one gets more fetches ahead at once.
    pub fn on_latency(&self, first_byte_ms: f64) {
        if first_byte_ms >= DISTANT_MS && !self.far.swap(true, Ordering::Relaxed) {
            self.permits.add_permits(FAR - NEAR);
        }
    }

    /// go asks for `rel`: the answer fetched ahead if there is one (waiting
    /// for a small one that is under way; taking over a zip's).
    pub async fn on_request(shared: &Arc<Shared>, rel: &str) -> Option<Found> {
        let ahead = &shared.ahead;
        if ahead.mode == Prefetch::Off {
            return None;
        }
        locked(&ahead.asked).insert(rel.to_string());
        let entry = locked(&ahead.entries).remove(rel)?;
        if !entry.started.load(Ordering::Acquire) {
            return None; // still queued: go's own request goes first
        }
        let mut done = entry.done.clone();
        let (tx, mut taken) = oneshot::channel();
        if rel.ends_with(".zip") {
            *locked(&entry.taker) = Some(tx);
            entry.wanted.notify_one();
        } // else `tx` is dropped here and only `done` can answer
        // A handed-over race is looked at first: once it is sent, `done` is
        // closed without an answer.
        let found = tokio::select! {
            biased;
            Ok((head, race)) = &mut taken => Found::Partial(head, race),
            whole = done.wait_for(Option::is_some) => {
                let (held, ct, failed) = whole.ok()?.clone()??;
                // go uses what they failed to bring: their failures count now.
                for (up, class) in failed {
                    shared.note_failure(up, class);
                }
                Found::Whole(held, ct)
            }
        };
        let len = match &found {
            Found::Whole(held, _) => held.len(),
            Found::Partial(head, _) => head.len(),
        };
        ahead.stats.used.fetch_add(1, Ordering::Relaxed);
        ahead.stats.used_bytes.fetch_add(len, Ordering::Relaxed);
        if rel.ends_with(".zip") {
            ahead.stats.zips_used.fetch_add(1, Ordering::Relaxed);
        }
        Some(found)
    }

    /// `rel` exists (its answer is starting): fetch what go will ask next.
    /// Not before: a module version that does not exist costs nothing more.
    pub fn on_found(shared: &Arc<Shared>, rel: &str) {
        if shared.ahead.mode != Prefetch::Off {
            for next in siblings(rel, shared.ahead.mode) {
                schedule(shared, next);
            }
            if rel.ends_with(".mod") {
                will_check(shared, rel);
            }
        }
    }

    /// go was told that the checksum database `name` is served: read what
    /// go.sum holds, and fetch the lookups waiting for it.
    pub fn on_sumdb_supported(shared: &Arc<Shared>, name: String) {
        let ahead = &shared.ahead;
        if ahead.mode == Prefetch::Off {
            return;
        }
        // go may ask this before any module (all else in its cache).
        Ahead::on_first_request(shared);
        let waiting = {
            let mut lookups = locked(&ahead.lookups);
            if lookups.sumdb.is_some() {
                return; // (a nested go asks again)
            }
            let summed = match ahead.main_file.get() {
                Some(Some(file)) => mod_file::summed_go_mods(file),
                Some(None) => Some(HashSet::new()), // no module, no go.sum
                None => None,
            };
            if let Some(summed) = summed {
                let _ = ahead.summed.set(summed);
            }
            lookups.sumdb = Some(name.clone());
            std::mem::take(&mut lookups.waiting)
        };
        for rel in waiting {
            if let Some(lookup) = lookup_rel(&name, &rel) {
                schedule(shared, lookup);
            }
        }
    }

    /// A `.mod` went to go whole: fetch the `.mod` files it requires.
    pub fn on_mod_served(shared: &Arc<Shared>, rel: &str, go_mod: &[u8]) {
        if shared.ahead.mode == Prefetch::Off || !rel.ends_with(".mod") {
            return;
        }
        for (path, version) in mod_file::requirements(&String::from_utf8_lossy(go_mod)) {
            schedule(shared, mod_rel(&path, &version));
        }
    }

    /// go's first request for a module: read the main modules' go.mod (or
    /// go.work) once, before any `.mod` reaches go, so that the paths their
    /// `replace` lines redirect are known to every fetch ahead. In a command
    /// that loads the whole module graph, go will then ask for the `.mod` of
    /// every module they require (a few at a time, a round trip each): fetch
    /// those ahead, and note them as go.mod files go will check (whether
    /// fetched or in go's cache, which go checks too). In a command that
    /// builds the main modules' packages, go will ask for the zip of each
    /// module providing a package they import, which is what go.sum's zip
    /// lines name (see [`build_zips`]). The main go.mod, or the go.work and
    /// the go.mod files it uses, read on the relay's thread; for lookups,
    /// go.sum waits until go asks for the checksum database.
    pub fn on_first_request(shared: &Arc<Shared>) {
        let ahead = &shared.ahead;
        let Some((start, gowork)) = locked(&ahead.main_module).take() else {
            return;
        };
        if ahead.mode == Prefetch::Off {
            return;
        }
        let file = mod_file::find(&start, gowork.as_deref());
        let _ = ahead.main_file.set(file.clone());
        let Some(file) = file else {
            return;
        };
        let main = mod_file::main_modules(&file);
        let _ = ahead.replaced.set(main.replaced.into_iter().collect());
        if ahead.summed_zips {
            let summed = mod_file::summed_zips(&file).unwrap_or_default();
            // In the order go asks for a module's files when it builds.
            for (path, version) in build_zips(&main.requirements, &summed) {
                for ext in ["zip", "mod", "info"] {
                    schedule(shared, module_rel(path, version, ext));
                }
            }
        }
        if ahead.requirements {
            for (path, version) in main.requirements {
                let rel = mod_rel(&path, &version);
                schedule(shared, rel.clone());
                will_check(shared, &rel);
            }
        }
    }
}

/// The zips a build will download: each requirement (direct ones first, as
/// go asks for them) at the version the main modules select, when go.sum
/// holds its zip hash. Not the versions go.sum keeps from before an upgrade,
/// and not modules no package needs (no zip line: go.mod-only lines).
/// Replaced, direct (GONOPROXY) and cached ones are left out by
/// [`worth_fetching`].
fn build_zips<'a>(
    requirements: &'a [(String, String)],
    summed: &HashSet<String>,
) -> impl Iterator<Item = &'a (String, String)> {
    requirements
        .iter()
        .filter(move |(path, version)| summed.contains(&format!("{path} {version}")))
}

/// go will check the `.mod` `rel` against the checksum database: fetch its
/// lookup, now or once go has been told the database is served.
fn will_check(shared: &Arc<Shared>, rel: &str) {
    let lookup = {
        let mut lookups = locked(&shared.ahead.lookups);
        match &lookups.sumdb {
            Some(name) => lookup_rel(name, rel),
            None => {
                lookups.waiting.push(rel.to_string());
                None
            }
        }
    };
    if let Some(lookup) = lookup {
        schedule(shared, lookup);
    }
}

/// The checksum database's lookup go makes for the `.mod` `rel`.
fn lookup_rel(sumdb: &str, rel: &str) -> Option<String> {
    let (base, file) = rel.rsplit_once("/@v/")?;
    let version = file.strip_suffix(".mod")?;
    Some(format!("sumdb/{sumdb}/lookup/{base}@{version}"))
}

/// Starts fetching `rel` ahead unless go asked for it already, it is under
/// way, or go will not ask a proxy for it (see [`worth_fetching`]). Whether
/// it is (now) fetched ahead.
fn schedule(shared: &Arc<Shared>, rel: String) -> bool {
    let ahead = &shared.ahead;
    let settings = &shared.settings;
    let gate = Gate {
        direct_patterns: &settings.direct_patterns,
        private_patterns: &settings.private_patterns,
        replaced: ahead.replaced.get(),
        summed: ahead.summed.get(),
        download_cache: settings.local_cache.as_deref(),
    };
    if locked(&ahead.asked).contains(&rel) || !worth_fetching(&rel, &gate) {
        return false;
    }
    let (tx, rx) = watch::channel(None);
    let entry = Arc::new(Entry {
        started: AtomicBool::new(false),
        done: rx,
        taker: Default::default(),
        wanted: Notify::new(),
    });
    {
        // `asked` again under this lock: go may have asked since (it marks
        // `asked` before it looks for an entry).
        let mut entries = locked(&ahead.entries);
        if entries.contains_key(&rel) {
            return true;
        }
        if locked(&ahead.asked).contains(&rel) {
            return false;
        }
        entries.insert(rel.clone(), entry.clone());
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        // A zip first waits for go to take one of those held, if need be
        // (without holding up the small files meanwhile).
        let zip_slot = match rel.ends_with(".zip") {
            true => match shared.ahead.zip_slots.clone().acquire_owned().await {
                Ok(slot) => Some(slot),
                Err(_) => return,
            },
            false => None,
        };
        let Ok(_permit) = shared.ahead.permits.clone().acquire_owned().await else {
            return;
        };
        // go asked meanwhile and went ahead on its own: nothing to do. Else
        // mark it started under the lock go takes the entry with, so go sees
        // either the entry started or no entry.
        {
            let entries = locked(&shared.ahead.entries);
            if !entries.contains_key(&rel) {
                return;
            }
            entry.started.store(true, Ordering::Release);
        }
        if rel.ends_with(".zip") {
            shared.ahead.stats.zips.fetch_add(1, Ordering::Relaxed);
        }
        let hold = Hold {
            bytes: 0,
            held: Some(shared.ahead.held_bytes.clone()),
            in_memory: None,
            _zip_slot: zip_slot,
        };
        let Some(fetched) = fetch(&shared, rel, &entry, hold).await else {
            return; // go took it over
        };
        if let Some((held, ..)) = &fetched {
            shared.ahead.stats.count_fetched(held.len());
        }
        let _ = tx.send(Some(fetched));
    });
    true
}

/// Runs the race for `rel` to the end: the body, or Some(None) when it
/// failed; None when go took the race over on the way.
async fn fetch(shared: &Arc<Shared>, rel: String, entry: &Entry, hold: Hold) -> Option<Fetched> {
    let mut race = Race::ahead_of_go(shared.clone(), rel);
    let mut body = Collector::new(hold);
    loop {
        // go may ask while the body has stopped for a while: hand it over
        // then, not after the next bytes. A race can be left between
        // events (it handles each as it takes it).
        // Not before the first bytes: until then go's own answer (an error
        // status, a 404 for its list to move on, the local-cache tier) can
        // still be chosen, and go gets it by asking again itself.
        let step = tokio::select! {
            biased;
            () = entry.wanted.notified(), if body.has_data() => None,
            step = race.step() => Some(step),
        };
        match step {
            Some(Step::Data(chunk)) if body.push(&chunk) => {}
            Some(Step::Data(_) | Step::Exhausted) => return Some(None),
            Some(Step::Done) => break,
            None => {
                let Some(taker) = locked(&entry.taker).take() else {
                    continue;
                };
                let head = body.into_head();
                shared.ahead.stats.count_fetched(head.len());
                race.given_to_go(); // the head's way to go is not the upstream's time
                let _ = taker.send((head, Box::new(race))); // go may be gone: then drop it all
                return None;
            }
        }
    }
    let held = body.finish(&shared.ahead.in_memory);
    let failed = race.take_deferred();
    Some(held.map(|held| (Arc::new(held), race.content_type(), failed)))
}

/// A body being fetched ahead: in memory, in a file once it is large.
struct Collector {
    memory: Vec<u8>,
    file: Option<(File, u64)>,
    hold: Hold,
}

impl Collector {
    fn new(hold: Hold) -> Collector {
        Collector {
            memory: Vec::new(),
            file: None,
            hold,
        }
    }

    fn has_data(&self) -> bool {
        !self.memory.is_empty() || self.file.is_some()
    }

    /// Takes a chunk; false if it cannot be kept (the fetch is then dropped).
    fn push(&mut self, chunk: &[u8]) -> bool {
        if !self.hold.add(chunk.len() as u64) {
            return false;
        }
        if let Some((file, len)) = &mut self.file {
            *len += chunk.len() as u64;
            return file.write_all(chunk).is_ok();
        }
        self.memory.extend_from_slice(chunk);
        self.memory.len() <= IN_MEMORY_UP_TO || self.spill()
    }

    fn spill(&mut self) -> bool {
        let Ok(mut file) = spill_file() else {
            return false;
        };
        let ok = file.write_all(&self.memory).is_ok();
        self.file = Some((file, self.memory.len() as u64));
        self.memory = Vec::new();
        ok
    }

    /// What arrived so far, for go to take over (not counted against the
    /// memory budget: go's connection sends it at once).
    fn into_head(self) -> Held {
        match self.file {
            Some((file, len)) => Held::File(Arc::new(file), len, self.hold),
            None => Held::Memory(self.memory.into(), self.hold),
        }
    }

    /// The whole body, counted against the memory budget while in memory.
    fn finish(mut self, in_memory: &Arc<AtomicUsize>) -> Option<Held> {
        let n = self.memory.len();
        if self.file.is_none() {
            if in_memory.fetch_add(n, Ordering::Relaxed) + n <= MEMORY_BUDGET {
                self.hold.in_memory = Some((n, in_memory.clone()));
            } else {
                in_memory.fetch_sub(n, Ordering::Relaxed);
                if !self.spill() {
                    return None;
                }
            }
        }
        Some(self.into_head())
    }
}

/// What decides whether a request is worth fetching ahead.
struct Gate<'a> {
    /// GONOPROXY: go fetches these paths directly, never from a proxy.
    direct_patterns: &'a str,
    /// GONOSUMDB and GOPRIVATE: paths not to look up (go does not, for
    /// GONOSUMDB, which defaults to GOPRIVATE).
    private_patterns: &'a str,
    /// Paths a main module's `replace` redirects (it holds for the whole graph).
    replaced: Option<&'a HashSet<String>>,
    /// The go.mod hashes the main modules' sum files hold; None when not known.
    summed: Option<&'a HashSet<String>>,
    /// go's download cache, which holds checksum-database lookups too.
    download_cache: Option<&'a Path>,
}

/// Whether go may still ask a proxy for `rel` in this run, so that fetching
/// it ahead is safe and not waste. A module file (`<module>/@v/<version>.<ext>`):
/// not for a version in another than canonical form (a branch, `v1.2`: go
/// resolves it with a query first), a path go fetches directly (no proxy may
/// learn of it from us), or a replaced path. A lookup
/// (`sumdb/<name>/lookup/<module>@<version>`): only for a canonical version of
/// a path go checks against the database, with no line in go.sum (go asks
/// the database only then). Neither when go's download cache has it.
fn worth_fetching(rel: &str, gate: &Gate) -> bool {
    let (path, version, go_asks) = match route::parse(rel) {
        Route::Module { path, .. } => {
            let version = rel
                .rsplit_once("/@v/")
                .and_then(|(_, file)| file.rsplit_once('.'))
                .and_then(|(version, _)| module_path::unescape(version));
            let direct = module_path::matches_any(gate.direct_patterns, &path);
            (path, version, !direct)
        }
        Route::Sumdb { .. } => {
            let Some((path, version)) = route::lookup(rel) else {
                return false;
            };
            let unchecked = !module_path::matches_any(gate.private_patterns, &path);
            let key = format!("{path} {version}/go.mod");
            let unsummed = gate.summed.is_some_and(|s| !s.contains(&key));
            (path, Some(version), unchecked && unsummed)
        }
        _ => return false,
    };
    go_asks
        && version.is_some_and(|v| module_path::is_canonical_version(&v))
        && !gate.replaced.is_some_and(|r| r.contains(&path))
        && !gate.download_cache.is_some_and(|c| c.join(rel).is_file())
}

/// The proxy path of `path@version`'s go.mod.
fn mod_rel(path: &str, version: &str) -> String {
    module_rel(path, version, "mod")
}

/// The proxy path of `path@version`'s `.ext` (info, mod, zip).
fn module_rel(path: &str, version: &str, ext: &str) -> String {
    let (path, version) = (module_path::escape(path), module_path::escape(version));
    format!("{path}/@v/{version}.{ext}")
}

/// What go will ask next after `rel`, for `mode`.
fn siblings(rel: &str, mode: Prefetch) -> Vec<String> {
    let Some((base, file)) = rel.rsplit_once("/@v/") else {
        return Vec::new();
    };
    let Some((version, ext)) = file.rsplit_once('.') else {
        return Vec::new();
    };
    let mut next: Vec<&str> = match ext {
        "info" => vec!["mod"],
        "mod" => vec!["info"],
        "zip" => vec!["mod", "info"],
        _ => return Vec::new(),
    };
    if mode == Prefetch::ModsOnly {
        next.retain(|e| *e == "mod");
    }
    if ext == "info" && mode == Prefetch::WithZips {
        next.push("zip");
    }
    next.into_iter()
        .map(|e| format!("{base}/@v/{version}.{e}"))
        .collect()
}

/// A new private file in the temporary directory that lives as long as its
/// handle (see `platform::create_anonymous`).
fn spill_file() -> std::io::Result<File> {
    let dir = std::env::temp_dir();
    for _ in 0..8 {
        let path = dir.join(format!("goshim-ahead-{}", super::random_token()?));
        match crate::platform::create_anonymous(&path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_ahead_only_what_go_may_still_ask_a_proxy_for() {
        let cache = tempfile::tempdir().unwrap();
        for cached in [
            "example.com/c/@v/v1.0.0.mod",
            "sumdb/sum.golang.org/lookup/example.com/c@v1.0.0",
        ] {
            let cached = cache.path().join(cached);
            std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
            std::fs::write(&cached, "cached\n").unwrap();
        }
        let replaced: HashSet<String> = ["example.com/r".to_string()].into();
        let summed: HashSet<String> = ["example.com/s v1.0.0/go.mod".to_string()].into();
        let gate = Gate {
            direct_patterns: "example.com/private/*",
            private_patterns: "example.com/nosum,example.com/private/*",
            replaced: Some(&replaced),
            summed: Some(&summed),
            download_cache: Some(cache.path()),
        };
        let lookup = |m: &str| format!("sumdb/sum.golang.org/lookup/{m}");
        let worth = |rel: &str| worth_fetching(rel, &gate);
        for yes in [
            "example.com/x/@v/v1.0.0.mod",
            "example.com/!x/@v/v1.0.0-!r!c1.info",
            "example.com/c/@v/v1.0.0.zip",
            "example.com/nosum/@v/v1.0.0.mod",
            &lookup("example.com/x@v1.0.0"),
            &lookup("example.com/!x@v1.0.0-!r!c1"),
            // Only the go.mod's hash spares go the lookup.
            &lookup("example.com/s@v1.1.0"),
        ] {
            assert!(worth(yes), "{yes}");
        }
        for no in [
            "example.com/x/@v/main.mod",
            "example.com/x/@v/v1.2.info",
            "example.com/private/p/@v/v1.0.0.mod",
            "example.com/r/@v/v1.0.0.mod",
            "example.com/c/@v/v1.0.0.mod",
            "example.com/x/@v/list",
            "example.com/x/@latest",
            &lookup("example.com/s@v1.0.0"),
            &lookup("example.com/nosum@v1.0.0"),
            &lookup("example.com/private/p@v1.0.0"),
            &lookup("example.com/r@v1.0.0"),
            &lookup("example.com/c@v1.0.0"),
            &lookup("example.com/x@v1.2"),
            "sumdb/sum.golang.org/tile/8/0/000.p/20",
            "sumdb/sum.golang.org/latest",
        ] {
            assert!(!worth(no), "{no}");
        }
        let open = Gate {
            direct_patterns: "",
            private_patterns: "",
            replaced: None,
            summed: None,
            download_cache: None,
        };
        assert!(worth_fetching("example.com/r/@v/v1.0.0.mod", &open));
        // go.sum not known: no lookup.
        assert!(!worth_fetching(&lookup("example.com/x@v1.0.0"), &open));
    }

    #[test]
    fn a_distant_upstream_gets_more_fetches_ahead_at_once() {
        let ahead = Ahead::new(&FetchAhead {
            prefetch: Prefetch::Small,
            main_module: None,
            requirements: false,
            summed_zips: false,
        });
        assert_eq!(ahead.permits.available_permits(), NEAR);
        ahead.on_latency(1.0);
        assert_eq!(ahead.permits.available_permits(), NEAR);
        ahead.on_latency(DISTANT_MS);
        assert_eq!(ahead.permits.available_permits(), FAR);
        ahead.on_latency(200.0); // once only
        assert_eq!(ahead.permits.available_permits(), FAR);
    }

    #[test]
    fn next_files_of_a_module_version() {
        let m = "example.com/!x/@v/v1.0.0";
        assert_eq!(
            siblings(&format!("{m}.zip"), Prefetch::Small),
            vec![format!("{m}.mod"), format!("{m}.info")]
        );
        assert_eq!(
            siblings(&format!("{m}.info"), Prefetch::Small),
            vec![format!("{m}.mod")]
        );
        assert_eq!(
            siblings(&format!("{m}.info"), Prefetch::WithZips),
            vec![format!("{m}.mod"), format!("{m}.zip")]
        );
        assert_eq!(
            siblings(&format!("{m}.zip"), Prefetch::ModsOnly),
            vec![format!("{m}.mod")]
        );
        assert!(siblings(&format!("{m}.mod"), Prefetch::ModsOnly).is_empty());
        assert!(siblings("example.com/x/@v/list", Prefetch::WithZips).is_empty());
        assert!(siblings("example.com/x/@latest", Prefetch::WithZips).is_empty());
    }

    #[test]
    fn memory_held_is_given_back_when_the_body_is_dropped() {
        let in_memory = Arc::new(AtomicUsize::new(0));
        let body = |n: usize| {
            let mut c = Collector::new(Hold::default());
            assert!(c.push(&vec![7u8; n]));
            c.finish(&in_memory).unwrap()
        };
        let (a, b) = (body(1000), body(500));
        assert_eq!(in_memory.load(Ordering::Relaxed), 1500);
        drop(a);
        assert_eq!(in_memory.load(Ordering::Relaxed), 500);
        drop(b);
        assert_eq!(in_memory.load(Ordering::Relaxed), 0);
        // Over the budget: the body goes to a file and counts nothing.
        in_memory.store(MEMORY_BUDGET, Ordering::Relaxed);
        assert!(matches!(body(10), Held::File(..)));
        assert_eq!(in_memory.load(Ordering::Relaxed), MEMORY_BUDGET);
    }

    #[test]
    fn held_bytes_are_bounded_and_given_back() {
        let held = Arc::new(AtomicU64::new(HELD_BYTES - 100));
        let hold = || Hold {
            bytes: 0,
            held: Some(held.clone()),
            in_memory: None,
            _zip_slot: None,
        };
        let mut c = Collector::new(hold());
        assert!(c.push(&[1u8; 60]));
        // Over the bound: refused, and nothing counted for it.
        assert!(!c.push(&[1u8; 60]));
        assert_eq!(held.load(Ordering::Relaxed), HELD_BYTES - 40);
        let whole = c.finish(&Arc::default()).unwrap();
        assert_eq!(held.load(Ordering::Relaxed), HELD_BYTES - 40);
        drop(whole);
        assert_eq!(held.load(Ordering::Relaxed), HELD_BYTES - 100);
        // A failed fetch gives its bytes back too.
        let mut c = Collector::new(hold());
        assert!(c.push(&[1u8; 10]));
        drop(c);
        assert_eq!(held.load(Ordering::Relaxed), HELD_BYTES - 100);
    }

    #[test]
    fn spilled_bodies_read_back_and_leave_no_file() {
        let mut f = spill_file().unwrap();
        f.write_all(b"hello world").unwrap();
        let held = Held::File(Arc::new(f), 11, Hold::default());
        assert_eq!(&held.read_at(6, 64).unwrap()[..], b"world");
        assert_eq!(held.read_at(11, 64).unwrap().len(), 0);
        let left = || {
            std::fs::read_dir(std::env::temp_dir())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("goshim-ahead-"))
                .count()
        };
        // Unlinked at once on Unix; deleted when closed on Windows.
        if cfg!(unix) {
            assert_eq!(left(), 0);
        }
        drop(held);
        assert_eq!(left(), 0);
    }
}

//! The race engine: one request's upstreams in health order; a second
//! upstream is asked when the first is slow to answer (hedging) or slow to
//! deliver (a throughput floor), and the first complete body wins. At most
//! two requests are in flight per request. A body broken or cut off midway
//! is completed from another upstream (by Range, or by a full copy whose
//! overlap must agree), and a zip is given out whole or not at all. Used for
//! go's own requests ([`super::forward`]) and for fetching ahead
//! ([`super::ahead`]).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use tokio::time::Sleep;

use super::Shared;
use super::body::Splice;
use super::route::{self, Route};
use super::transfer::{Event, Transfer};
use crate::error_class::ErrorClass;

/// A body arriving slower than this (after its first second) is raced by the
/// next upstream: 20 KiB/s mirrors are common, and a 64 KiB/s floor still
/// leaves a slow but steady link alone for modules of a few MB.
const FLOOR_BYTES_PER_SEC: f64 = 64.0 * 1024.0;
/// Throughput is judged over windows this long.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// A body continued from another upstream starts this far before the bytes
/// go already has: the overlap must match (mirrors may build different zips
/// or lists), and a small body is simply fetched whole.
const OVERLAP: u64 = 4096;
/// How often a race with a possible next step looks at the clock.
const TICK: Duration = Duration::from_millis(50);

/// The upstreams for a module or checksum-database request, in the order to
/// ask them, and whether go's own walk rules apply (private paths).
fn candidates(shared: &Shared, rel: &str) -> (Vec<usize>, bool) {
    match route::parse(rel) {
        Route::Module { path, .. }
            if crate::go::module_path::matches_any(&shared.settings.private_patterns, &path) =>
        {
            (user_order(shared), true)
        }
        Route::Sumdb { name } => {
            // Upstreams known to serve the database first, then those not
            // known not to: when the known ones fail, another may serve it.
            let serves = |i| shared.serves_sumdb(i, &name);
            let mut order = health_order(shared, |i| serves(i) != Some(false));
            order.sort_by_key(|&i| serves(i) != Some(true)); // stable
            (order, false)
        }
        _ => (health_order(shared, |_| true), false),
    }
}

/// All upstreams passing `keep`: those that look down last, then by this
/// run's failures and lost races, then in health order.
pub(super) fn health_order(shared: &Shared, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..shared.settings.upstreams.len())
        .filter(|&i| keep(i))
        .collect();
    let penalty = super::locked(&shared.penalty).clone();
    order.sort_by_key(|i| (shared.is_down(*i), penalty.get(i).copied().unwrap_or(0), *i));
    order
}

/// The user's own proxies in the user's order: for private paths.
fn user_order(shared: &Shared) -> Vec<usize> {
    let mut order: Vec<(usize, usize)> = shared
        .settings
        .upstreams
        .iter()
        .enumerate()
        .filter_map(|(i, u)| u.user_slot.map(|(slot, _)| (slot, i)))
        .collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

/// How a request that no upstream served ends for go.
#[derive(Clone, Copy)]
pub(super) enum Verdict {
    /// A definitive refusal (401, 403, ...).
    Refused(StatusCode),
    /// Not found (404/410): go moves on along its list.
    NotFound(StatusCode),
    /// Every upstream failed (timeouts, 5xx, resets ...).
    Failed,
}

pub(super) enum Step {
    /// Bytes for go.
    Data(Bytes),
    /// The body is complete.
    Done,
    /// No upstream is left to try.
    Exhausted,
}

/// One go request and the upstream requests serving it.
pub(super) struct Race {
    pub(super) shared: Arc<Shared>,
    pub(super) rel: String,
    candidates: VecDeque<usize>,
    /// A private path: only the user's own list, with go's `,`/`|` rules.
    strict: bool,
    /// A `,` entry of the user's list failed: go would stop there.
    stopped: bool,
    /// The upstream whose failure stopped the walk, to say why in the account.
    stopped_at: Option<usize>,
    transfers: Vec<Transfer>,
    splice: Splice,
    /// Bytes reached go: the answer can no longer change.
    started: bool,
    complete: bool,
    /// The upstream that completed the body.
    pub(super) winner: Option<usize>,
    pub(super) aborted: bool,
    /// An upstream was asked a second time (see [`Race::retry_once`]).
    retried: bool,
    /// Fetched ahead, go has not asked yet: a failure here is a guess that
    /// failed, which must cost go's own requests nothing (no "down", no
    /// failure in the health snapshot) unless go uses the answer.
    speculative: bool,
    /// The failures of a speculative race, recorded only if go uses its answer.
    deferred: Vec<(usize, ErrorClass)>,
    content_type: Option<HeaderValue>,
    not_found: Option<StatusCode>,
    /// The upstreams that answered 404 or 410, and how.
    pub(super) not_found_from: Vec<(usize, StatusCode)>,
    /// The upstreams that refused (401, 403, ...), and how.
    refused_from: Vec<(usize, StatusCode)>,
    failures: Vec<(usize, ErrorClass)>,
    /// Where a body that is not a zip ends, once an upstream said so (or its
    /// path did): every copy must agree (a zip is judged by its end record instead).
    expected_end: Option<u64>,
    /// When the last bytes went to go: time go spends not reading is not the
    /// upstreams' slowness.
    handed_over: Option<Instant>,
    /// Which transfer is polled first, alternating for fairness.
    turn: usize,
    /// The clock for hedging and the throughput floor, reset as it fires.
    tick: Pin<Box<Sleep>>,
}

impl Race {
    pub(super) fn new(shared: Arc<Shared>, rel: String, order: Vec<usize>, strict: bool) -> Race {
        let zip = rel.ends_with(".zip");
        // A hash tile's length is known before any upstream says it: a short
        // one with a matching Content-Length is caught too.
        let expected_end = route::hash_tile_len(&rel);
        Race {
            shared,
            rel,
            candidates: order.into(),
            strict,
            stopped: false,
            stopped_at: None,
            transfers: Vec::new(),
            splice: Splice::new(zip),
            started: false,
            complete: false,
            winner: None,
            aborted: false,
            retried: false,
            speculative: false,
            deferred: Vec::new(),
            content_type: None,
            not_found: None,
            not_found_from: Vec::new(),
            refused_from: Vec::new(),
            failures: Vec::new(),
            expected_end,
            handed_over: None,
            turn: 0,
            tick: Box::pin(tokio::time::sleep(TICK)),
        }
    }

    /// The race for `rel` over its candidates (see [`candidates`]).
    pub(super) fn for_request(shared: Arc<Shared>, rel: String) -> Race {
        let (order, strict) = candidates(&shared, &rel);
        Race::new(shared, rel, order, strict)
    }

    /// The race for fetching `rel` ahead of go's request (see [`Race::speculative`]).
    pub(super) fn ahead_of_go(shared: Arc<Shared>, rel: String) -> Race {
        Race {
            speculative: true,
            ..Race::for_request(shared, rel)
        }
    }

    /// The race's bytes so far were handed to go: time until it asks for
    /// more is go's, not the upstreams'. From here on it is go's own request.
    pub(super) fn given_to_go(&mut self) {
        self.handed_over = Some(Instant::now());
        self.speculative = false;
        for (up, class) in self.take_deferred() {
            self.shared.note_failure(up, class);
        }
    }

    /// The failures of a speculative race so far, to record if go uses its answer.
    pub(super) fn take_deferred(&mut self) -> Vec<(usize, ErrorClass)> {
        std::mem::take(&mut self.deferred)
    }

    pub(super) fn content_type(&self) -> Option<HeaderValue> {
        self.content_type.clone()
    }

    pub(super) async fn step(&mut self) -> Step {
        if self.complete {
            return Step::Done;
        }
        if let Some(at) = self.handed_over.take() {
            let go_was_busy = at.elapsed();
            for t in &mut self.transfers {
                t.credit(go_was_busy);
            }
        }
        let step = self.next_step().await;
        if matches!(step, Step::Data(_)) {
            self.handed_over = Some(Instant::now());
        }
        step
    }

    async fn next_step(&mut self) -> Step {
        loop {
            self.launch_if_needed(Instant::now());
            if self.transfers.is_empty() && !self.retry_once() {
                return Step::Exhausted;
            }
            let ticking = self.may_launch();
            let turn = self.turn;
            self.turn = self.turn.wrapping_add(1);
            let Race {
                transfers, tick, ..
            } = self;
            let next = poll_fn(|cx| poll_any(transfers, turn, cx));
            let event = if ticking {
                tokio::select! {
                    e = next => Some(e),
                    () = tick.as_mut() => {
                        tick.as_mut().reset(tokio::time::Instant::now() + TICK);
                        None
                    }
                }
            } else {
                Some(next.await)
            };
            if let Some((k, event)) = event
                && let Some(step) = self.handle(k, event)
            {
                return step;
            }
        }
    }

    fn handle(&mut self, k: usize, event: Event) -> Option<Step> {
        let up = self.transfers[k].up;
        match event {
            Event::Started => {
                let t = &self.transfers[k];
                let (sent_at, waited, end) = (t.started, t.started.elapsed(), t.end);
                self.shared.note_first_byte(up, ms(waited));
                if self.content_type.is_none() {
                    self.content_type = t.content_type.clone();
                }
                if !self.splice.is_zip() && end.is_some() {
                    match self.expected_end {
                        None => self.expected_end = end,
                        Some(e) if Some(e) != end => return self.fail(k, ErrorClass::Mismatch),
                        Some(_) => {}
                    }
                }
                // Requests sent before this one and still unanswered lost the hedge.
                self.cancel_where(|o| !o.has_body() && o.started < sent_at);
                None
            }
            // A body running past where it must end (a hash tile sent
            // chunked, with no length to hold it to): none of its excess
            // reaches go, whatever the headers said.
            Event::Chunk { at, bytes }
                if self
                    .expected_end
                    .is_some_and(|e| at + bytes.len() as u64 > e) =>
            {
                self.fail(k, ErrorClass::Mismatch)
            }
            Event::Chunk { at, bytes } => match self.splice.offer(at, bytes) {
                Ok(Some(b)) => {
                    self.started = true;
                    Some(Step::Data(b))
                }
                Ok(None) => None,
                Err(class) => self.fail(k, class),
            },
            Event::End if self.transfers[k].pos < self.splice.accepted => {
                self.fail(k, ErrorClass::Mismatch)
            }
            Event::End if self.expected_end.is_some_and(|e| self.splice.accepted < e) => {
                self.fail(k, ErrorClass::ShortBody)
            }
            Event::End if self.expected_end.is_some_and(|e| self.splice.accepted > e) => {
                self.fail(k, ErrorClass::Mismatch)
            }
            Event::End => match self.splice.finish() {
                Ok(held) => {
                    self.shared.note_served_whole(up);
                    // The upstream that finished the body is the one go got it from.
                    self.shared.note_served(&self.rel, up);
                    self.winner = Some(up);
                    self.complete = true;
                    self.transfers.remove(k);
                    self.cancel_where(|_| true);
                    Some(held.map_or(Step::Done, Step::Data))
                }
                Err(class) => self.fail(k, class),
            },
            Event::NotFound(status) => {
                let waited = self.transfers[k].started.elapsed();
                self.shared.note_first_byte(up, ms(waited));
                self.shared.note_served_whole(up);
                self.not_found.get_or_insert(status);
                self.not_found_from.push((up, status));
                self.transfers.remove(k);
                None
            }
            Event::Refused(status) => {
                self.refused_from.push((up, status));
                self.transfers.remove(k);
                self.failures.push((up, ErrorClass::Http(status.as_u16())));
                self.stop_if_final(up);
                None
            }
            Event::Failed(class) => self.fail(k, class),
        }
    }

    /// Transfer `k` cannot serve this body.
    fn fail(&mut self, k: usize, class: ErrorClass) -> Option<Step> {
        let up = self.transfers.remove(k).up;
        if self.speculative {
            self.deferred.push((up, class));
        } else {
            self.shared.note_failure(up, class);
        }
        self.failures.push((up, class));
        self.stop_if_final(up);
        if self.transfers.is_empty() && !self.started {
            // Nothing reached go yet: the next upstream starts from scratch.
            self.splice = Splice::new(self.splice.is_zip());
        }
        if self.splice.accepted == 0 {
            // No body bytes were taken from anyone: what the failed upstream
            // said about its body (its length, its type) went with it.
            // Mirrors legitimately differ in `.info` and `@v/list` lengths.
            self.forget_claims();
        }
        None
    }

    /// The length and content type from the upstreams still answering (or
    /// the path's own length), none from those gone.
    fn forget_claims(&mut self) {
        let mut answering = self.transfers.iter().filter(|t| t.has_body());
        let end = answering.clone().find_map(|t| t.end);
        let end = end.filter(|_| !self.splice.is_zip());
        self.expected_end = route::hash_tile_len(&self.rel).or(end);
        self.content_type = answering.find_map(|t| t.content_type.clone());
    }

    /// In the user's own list, a `,` entry ends the walk on any error but 404/410.
    fn stop_if_final(&mut self, up: usize) {
        if !self.may_move_on(up) {
            self.stopped = true;
            self.stopped_at.get_or_insert(up);
        }
    }

    fn may_move_on(&self, up: usize) -> bool {
        !self.strict
            || self
                .shared
                .upstream(up)
                .user_slot
                .is_some_and(|(_, pipe)| pipe)
    }

    /// Drops the transfers `lost` picks: they were slower than another.
    fn cancel_where(&mut self, lost: impl Fn(&Transfer) -> bool) {
        let shared = &self.shared;
        self.transfers.retain(|t| {
            let drop = lost(t);
            if drop {
                // An unanswered request's wait is a lower bound of its first byte.
                let waited = (!t.has_body()).then(|| t.started.elapsed());
                shared.note_slow(t.up, waited);
            }
            !drop
        });
    }

    /// Every upstream failed or was skipped: when the one that timed out (or
    /// was skipped for having timed out) has served other requests in this
    /// run, and no upstream said "not found" or refused, it is asked once
    /// more before go gets a 502. A request that meets a small server's full
    /// listen queue times out on its fresh connection while the server
    /// answers everything else; without this go would fail, and go's next
    /// requests would be refused for `super::DOWN_FOR` without being sent.
    fn retry_once(&mut self) -> bool {
        if self.retried
            || self.stopped
            || self.started
            || self.complete
            || !self.not_found_from.is_empty()
            || !self.refused_from.is_empty()
        {
            return false;
        }
        let timed_out = self.failures.iter().rev().find_map(|&(up, class)| {
            matches!(class, ErrorClass::Timeout | ErrorClass::ConnectTimeout).then_some(up)
        });
        let Some(up) = timed_out.filter(|&up| self.shared.has_served(up)) else {
            return false;
        };
        self.retried = true;
        self.splice = Splice::new(self.splice.is_zip());
        self.forget_claims();
        self.transfers.push(Transfer::start(
            &self.shared,
            up,
            &self.rel,
            0,
            self.speculative,
        ));
        true
    }

    /// Whether a next upstream could be started later, so the clock matters.
    fn may_launch(&self) -> bool {
        match self.transfers.as_slice() {
            [t] => {
                !self.stopped
                    && !self.candidates.is_empty()
                    && self.may_move_on(t.up)
                    && (t.has_body() || self.shared.upstream(t.up).hedge_after.is_some())
            }
            _ => false,
        }
    }

    /// Starts the next upstream when none is working on the request, when the
    /// only one has not answered within its hedge delay, or when its body
    /// stopped for a second or arrives below the throughput floor.
    fn launch_if_needed(&mut self, now: Instant) {
        if self.complete || self.stopped {
            return;
        }
        let needed = match self.transfers.len() {
            0 => true,
            1 if self.may_move_on(self.transfers[0].up) => {
                let hedge = self.shared.upstream(self.transfers[0].up).hedge_after;
                let t = &mut self.transfers[0];
                if t.has_body() {
                    // Stopped for a window, or trickling below the floor.
                    now.saturating_duration_since(t.last_progress) >= RATE_WINDOW
                        || t.throughput(now, RATE_WINDOW)
                            .is_some_and(|rate| rate < FLOOR_BYTES_PER_SEC)
                } else {
                    hedge.is_some_and(|d| now.saturating_duration_since(t.started) >= d)
                }
            }
            _ => false,
        };
        if !needed {
            return;
        }
        while let Some(i) = self.candidates.pop_front() {
            if let Some(class) = self.shared.down_class(i) {
                // Looked down moments ago: count it as failed without waiting on it again.
                self.failures.push((i, class));
                self.stop_if_final(i);
                if self.stopped {
                    return;
                }
                continue;
            }
            // Ask for some bytes go already has, so that the copies are compared.
            let from = self.splice.accepted.saturating_sub(OVERLAP);
            self.transfers.push(Transfer::start(
                &self.shared,
                i,
                &self.rel,
                from,
                self.speculative,
            ));
            return;
        }
    }

    /// What go would have got without goshim, once no upstream served the
    /// request: go's own walk along the user's list (cmd/go's TryProxies),
    /// each entry answering as it did here. A 404/410 moves on; any other
    /// error moves on after a `|` entry and ends the walk after a `,` one;
    /// an entry skipped as down, or left unanswered, failed. A walk that
    /// runs off the end moves on to the user's `direct`/`off` (a 404 sends go
    /// there); without one, go reports the last error that was no 404.
    /// goshim's extra candidates only ever add answers: their errors count
    /// for nothing. Checksum-database data (lookups, tiles), which go sends
    /// to one proxy only, goes by [`Race::any_not_found`].
    pub(super) fn verdict(&self) -> Verdict {
        let users = user_order(&self.shared);
        if users.is_empty() || matches!(route::parse(&self.rel), Route::Sumdb { .. }) {
            return self.any_not_found();
        }
        let mut not_found = None;
        // go reports the last error that was no 404.
        let mut failure = None;
        for up in users {
            match self.answer_of(up) {
                Verdict::NotFound(status) => {
                    not_found.get_or_insert(status);
                }
                error => {
                    let pipe = self.shared.upstream(up).user_slot.is_some_and(|(_, p)| p);
                    if !pipe {
                        return error; // after a `,` entry go's walk ends here
                    }
                    failure = Some(error);
                }
            }
        }
        match failure {
            Some(error) if !self.shared.settings.tail => error,
            _ => Verdict::NotFound(not_found.unwrap_or(StatusCode::NOT_FOUND)),
        }
    }

    /// What upstream `up` answered in this race, as go would take it.
    fn answer_of(&self, up: usize) -> Verdict {
        if let Some(&(_, status)) = self.not_found_from.iter().find(|(u, _)| *u == up) {
            return Verdict::NotFound(status);
        }
        if let Some(&(_, status)) = self.refused_from.iter().find(|(u, _)| *u == up) {
            return Verdict::Refused(status);
        }
        let failed = self.failures.iter().any(|(u, _)| *u == up);
        let known_without_db = match route::parse(&self.rel) {
            Route::SumdbSupported { name } => self.shared.serves_sumdb(up, &name) == Some(false),
            _ => false,
        };
        if !failed && known_without_db {
            // Not asked: it answered this very question with a 404 before.
            return Verdict::NotFound(StatusCode::NOT_FOUND);
        }
        Verdict::Failed
    }

    /// The old rule, for checksum-database data: any "not found" stands,
    /// unless a refusal from the user's own list does.
    fn any_not_found(&self) -> Verdict {
        let users_refusal = self
            .refused_from
            .iter()
            .find(|(u, _)| self.shared.upstream(*u).user_slot.is_some());
        let refusal = users_refusal.or_else(|| {
            self.refused_from
                .first()
                .filter(|_| self.not_found.is_none())
        });
        if let Some(&(_, status)) = refusal {
            return Verdict::Refused(status);
        }
        match self.not_found.filter(|_| !self.stopped) {
            Some(status) => Verdict::NotFound(status),
            None => Verdict::Failed,
        }
    }

    /// `<upstream> <what it did>, ...` for this request.
    pub(super) fn account(&self) -> String {
        let d = self.shared.settings.deadlines;
        let mut parts: Vec<String> = Vec::new();
        for (i, class) in &self.failures {
            let line = format!(
                "{} {}",
                self.shared.upstream(*i).endpoint.key,
                class.describe(d.response, d.stall)
            );
            if !parts.contains(&line) {
                parts.push(line);
            }
        }
        let mut account = parts.join("; ");
        // A private path stopped at a `,` entry: say why the rest of the list
        // was not asked, so "every upstream failed" naming one proxy makes sense.
        if let (Some(up), Route::Module { path, .. }) = (self.stopped_at, route::parse(&self.rel)) {
            let key = &self.shared.upstream(up).endpoint.key;
            account.push_str(&format!(
                "; {path} is a private path (GONOSUMDB/GOPRIVATE), and after {key} failed go would not \
                 ask the next proxy of a ',' list, so goshim did not either ('|' after it lets both move on after any error)"
            ));
        }
        account
    }
}

/// The first transfer with an event, starting at `turn` so neither starves.
fn poll_any(transfers: &mut [Transfer], turn: usize, cx: &mut Context<'_>) -> Poll<(usize, Event)> {
    let n = transfers.len();
    for j in 0..n {
        let k = (turn + j) % n;
        if let Poll::Ready(event) = transfers[k].poll_event(cx) {
            return Poll::Ready((k, event));
        }
    }
    Poll::Pending
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

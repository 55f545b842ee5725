//! Forwarding one request: go's HTTP request becomes a [`Race`] between
//! upstreams (or is answered from what was fetched ahead), and the race's
//! steps become the response: its status, its headers and its body.
//!
//! go sees one clean answer whatever the upstreams did: the response starts
//! only once the first bytes are known good, and when no upstream serves
//! the request go gets what it would have got alone (see [`Race::verdict`]),
//! or the answer from its own module cache.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};

use super::Shared;
use super::ahead::{Ahead, Found, Held};
use super::local_cache;
use super::race::{Race, Step, Verdict, health_order};
use super::route::{self, Route};

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Bodies complete at the start and up to this size go to go in one piece.
const WHOLE_UP_TO: usize = 256 * 1024;
/// Chunks in which a body held in a file goes to go.
const READ_CHUNK: usize = 64 * 1024;

pub async fn forward(shared: Arc<Shared>, rel: String) -> Response<Body> {
    let mut race = match route::parse(&rel) {
        Route::SumdbSupported { name } => {
            let order = health_order(&shared, |i| shared.serves_sumdb(i, &name) != Some(false));
            let race = Race::new(shared.clone(), rel, order, false);
            return sumdb_supported(race, name).await;
        }
        Route::Unknown => return plain(StatusCode::NOT_FOUND, "not found\n".into()),
        Route::Module { .. } | Route::Sumdb { .. } => {
            if let Some(found) = Ahead::on_request(&shared, &rel).await {
                Ahead::on_found(&shared, &rel);
                return held_response(&shared, &rel, found);
            }
            Ahead::on_first_request(&shared);
            Race::for_request(shared, rel)
        }
    };
    let first = match race.step().await {
        Step::Exhausted => return last_resort(&race),
        Step::Data(b) => Some(b),
        Step::Done => None,
    };
    Ahead::on_found(&race.shared, &race.rel);
    let mut builder = Response::builder().status(StatusCode::OK);
    if let Some(ct) = race.content_type() {
        builder = builder.header(hyper::header::CONTENT_TYPE, ct);
    }
    // A small body is usually complete by now: send it whole, with its
    // length, in one write. Otherwise stream it, without a Content-Length:
    // the rest may come from another upstream.
    let mut ready: Vec<Bytes> = first.into_iter().collect();
    let mut held = ready.iter().map(Bytes::len).sum::<usize>();
    let complete = loop {
        if held > WHOLE_UP_TO {
            break false;
        }
        match race.step().now_or_never() {
            Some(Step::Data(b)) => {
                held += b.len();
                ready.push(b);
            }
            Some(Step::Done) => break true,
            // Nothing has reached go yet: it can still get a clean error status.
            Some(Step::Exhausted) => return last_resort(&race),
            None => break false,
        }
    };
    let body = if complete {
        let whole = Bytes::from(ready.concat());
        Ahead::on_mod_served(&race.shared, &race.rel, &whole);
        builder = builder.header(hyper::header::CONTENT_LENGTH, whole.len());
        full(whole)
    } else {
        let frames = futures_util::stream::unfold((race, ready.into()), next_frame);
        StreamBody::new(frames).boxed_unsync()
    };
    builder
        .body(body)
        .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "bad upstream headers\n".into()))
}

/// The answer to go from what was fetched ahead.
fn held_response(shared: &Arc<Shared>, rel: &str, found: Found) -> Response<Body> {
    let mut builder = Response::builder().status(StatusCode::OK);
    let (content_type, body) = match found {
        Found::Whole(held, ct) => {
            builder = builder.header(hyper::header::CONTENT_LENGTH, held.len());
            let body = match &*held {
                Held::Memory(bytes, _) => {
                    Ahead::on_mod_served(shared, rel, bytes);
                    full(bytes.clone())
                }
                Held::File(..) => StreamBody::new(held_frames(held)).boxed_unsync(),
            };
            (ct, body)
        }
        // A zip still arriving: what came so far, then the rest as it comes,
        // exactly as if go's own request had been under way all along.
        Found::Partial(head, race) => {
            let ct = race.content_type();
            let rest = futures_util::stream::unfold((*race, VecDeque::new()), next_frame);
            let frames = held_frames(Arc::new(head)).chain(rest);
            (ct, StreamBody::new(frames).boxed_unsync())
        }
    };
    if let Some(ct) = content_type {
        builder = builder.header(hyper::header::CONTENT_TYPE, ct);
    }
    builder
        .body(body)
        .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "bad held answer\n".into()))
}

/// A held body as frames for go, read in chunks when it is in a file.
fn held_frames(held: Arc<Held>) -> impl futures_util::Stream<Item = Item> {
    futures_util::stream::unfold((held, 0u64), |(held, at)| async move {
        match held.read_at(at, READ_CHUNK) {
            Ok(b) if b.is_empty() => None,
            Ok(b) => {
                let next = at + b.len() as u64;
                Some((Ok(Frame::data(b)), (held, next)))
            }
            Err(e) => Some((Err(e), (held, u64::MAX))),
        }
    })
}

type Item = Result<Frame<Bytes>, std::io::Error>;
type Pending = (Race, VecDeque<Bytes>);

/// The body for go, pulled by go's connection as it writes.
async fn next_frame((mut race, mut ready): Pending) -> Option<(Item, Pending)> {
    if let Some(b) = ready.pop_front() {
        return Some((Ok(Frame::data(b)), (race, ready)));
    }
    match race.step().await {
        Step::Data(b) => Some((Ok(Frame::data(b)), (race, ready))),
        Step::Done => None,
        Step::Exhausted if race.aborted => None,
        Step::Exhausted => {
            // Nothing can finish the body: end it early so go sees the failure.
            race.aborted = true;
            let err = std::io::Error::other(format!(
                "goshim relay: every upstream failed: {}",
                race.account()
            ));
            Some((Err(err), (race, ready)))
        }
    }
}

/// `sumdb/<name>/supported`: 200 (empty) if an upstream serves the checksum
/// database, else what go alone would have made of the user's proxies'
/// answers: 404 when they said 404/410 (go then asks the database
/// directly), else their failure (see [`Race::verdict`]). Raced and
/// hedged like any request: go asks this once, before its first lookup. What
/// the upstreams answered decides where lookups and tiles go.
async fn sumdb_supported(mut race: Race, name: String) -> Response<Body> {
    let supported = loop {
        match race.step().await {
            Step::Data(_) => continue,
            Step::Done => break true,
            Step::Exhausted => break false,
        }
    };
    for &(i, _) in &race.not_found_from {
        race.shared.note_sumdb(i, &name, false);
    }
    if let Some(i) = race.winner {
        race.shared.note_sumdb(i, &name, true);
    }
    if supported {
        Ahead::on_sumdb_supported(&race.shared, name);
        plain(StatusCode::OK, String::new())
    } else {
        // 404 only where go alone would have moved on to the next proxy (or
        // the database itself): after a timeout or a 5xx go calls the
        // database unavailable; it does not go around the proxies to it.
        error_response(&race)
    }
}

/// The answer when no upstream could serve the request: from go's own
/// module cache when every upstream truly failed, else what go would get.
fn last_resort(race: &Race) -> Response<Body> {
    let cached = match race.verdict() {
        Verdict::Failed => race.shared.settings.local_cache.as_deref(),
        _ => None,
    }
    .and_then(|root| local_cache::answer(root, &race.rel));
    match cached {
        Some(body) => {
            race.shared.note_local_answer();
            plain(StatusCode::OK, body)
        }
        None => error_response(race),
    }
}

/// What go gets for a request no upstream served (see [`Race::verdict`]).
fn error_response(race: &Race) -> Response<Body> {
    match race.verdict() {
        // Only auth refusals keep their status; anything odd is a bad gateway.
        Verdict::Refused(status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)) => {
            plain(status, format!("goshim relay: {}\n", race.account()))
        }
        Verdict::Refused(_) => plain(
            StatusCode::BAD_GATEWAY,
            format!("goshim relay: {}\n", race.account()),
        ),
        Verdict::NotFound(status) => plain(status, "not found\n".into()),
        Verdict::Failed => plain(
            StatusCode::BAD_GATEWAY,
            format!("goshim relay: every upstream failed: {}\n", race.account()),
        ),
    }
}

/// A body of bytes all at hand.
fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

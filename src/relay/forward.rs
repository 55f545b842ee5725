//! Forwarding one request: upstreams in order, deadlines, failover, streaming.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use tokio::time::timeout;

use super::route::{self, Route};
use super::{Shared, Upstream};

pub type Body = BoxBody<Bytes, std::io::Error>;

/// How one upstream answered.
enum Attempt {
    Got(reqwest::Response),
    NotFound(StatusCode),
    /// A definitive answer that is neither content nor "not found" (401, 403, ...).
    Refused(StatusCode),
    /// Transient: timeout, connection error, 5xx, 429.
    Failed(String),
}

pub async fn forward(shared: Arc<Shared>, rel: String) -> Response<Body> {
    let (order, strict_user_list) = match route::parse(&rel) {
        Route::Module { path, .. }
            if crate::module_path::matches_any(&shared.settings.private_patterns, &path) =>
        {
            (user_order(&shared), true)
        }
        Route::Module { .. } => (health_order(&shared, |_| true), false),
        Route::SumdbSupported { .. } => {
            let order = health_order(&shared, |i| shared.serves_sumdb(i) != Some(false));
            return sumdb_supported(shared, &rel, order).await;
        }
        Route::Sumdb { .. } => {
            let known = health_order(&shared, |i| shared.serves_sumdb(i) == Some(true));
            let order = if known.is_empty() {
                health_order(&shared, |i| shared.serves_sumdb(i) != Some(false))
            } else {
                known
            };
            (order, false)
        }
        Route::Unknown => return plain(StatusCode::NOT_FOUND, "not found\n".into()),
    };
    let mut not_found: Option<StatusCode> = None;
    let mut refused: Option<StatusCode> = None;
    let mut failures: Vec<String> = Vec::new();
    for i in order {
        let up = &shared.settings.upstreams[i];
        let started = Instant::now();
        match attempt(&shared, up, &rel, None).await {
            Attempt::Got(resp) => {
                shared.note_ok(i, started.elapsed().as_secs_f64() * 1000.0);
                shared.note_served(&rel, i);
                return stream(shared.clone(), rel, i, resp);
            }
            Attempt::NotFound(status) => {
                shared.note_ok(i, started.elapsed().as_secs_f64() * 1000.0);
                not_found.get_or_insert(status);
                continue; // go moves on after 404/410 whatever the separator
            }
            Attempt::Refused(status) => {
                refused.get_or_insert(status);
                failures.push(format!("{} ({})", up.key, status.as_u16()));
            }
            Attempt::Failed(class) => {
                shared.note_failure(i, &class);
                failures.push(format!("{} ({class})", up.key));
            }
        }
        // In the user's own list, a `,` entry ends the walk on any other error.
        if strict_user_list && up.user_slot.is_some_and(|(_, fallback)| !fallback) {
            break;
        }
    }
    if let Some(status) = refused {
        return plain(status, format!("goshim relay: {}\n", failures.join(", ")));
    }
    if let Some(status) = not_found.filter(|_| failures.is_empty() || !strict_user_list) {
        return plain(status, "not found\n".into());
    }
    plain(
        StatusCode::BAD_GATEWAY,
        format!(
            "goshim relay: every upstream failed: {}\n",
            failures.join(", ")
        ),
    )
}

/// All upstreams passing `keep`, in health order, those that failed in this run last.
fn health_order(shared: &Shared, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..shared.settings.upstreams.len())
        .filter(|&i| keep(i))
        .collect();
    let penalty = super::locked(&shared.penalty);
    order.sort_by_key(|i| (penalty.get(i).copied().unwrap_or(0), *i));
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

async fn sumdb_supported(shared: Arc<Shared>, rel: &str, order: Vec<usize>) -> Response<Body> {
    for i in order {
        let up = &shared.settings.upstreams[i];
        let started = Instant::now();
        match attempt(&shared, up, rel, None).await {
            Attempt::Got(_) => {
                shared.note_ok(i, started.elapsed().as_secs_f64() * 1000.0);
                shared.note_sumdb(i);
                return plain(StatusCode::OK, String::new());
            }
            Attempt::Failed(class) => shared.note_failure(i, &class),
            Attempt::NotFound(_) | Attempt::Refused(_) => {}
        }
    }
    plain(StatusCode::NOT_FOUND, "not found\n".into())
}

/// One GET to one upstream, bounded by the connect and response deadlines.
async fn attempt(shared: &Shared, up: &Upstream, rel: &str, range_from: Option<u64>) -> Attempt {
    let mut req = shared.client().get(up.url_for(rel));
    if let Some(auth) = &up.auth {
        req = req.header(reqwest::header::AUTHORIZATION, auth);
    }
    if let Some(from) = range_from {
        req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
    }
    let resp = match timeout(shared.settings.deadlines.response, req.send()).await {
        Err(_) => return Attempt::Failed("timeout".into()),
        Ok(Err(e)) => return Attempt::Failed(error_class(&e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    match status.as_u16() {
        200 if range_from.is_none() => Attempt::Got(resp),
        206 if range_from.is_some() => Attempt::Got(resp),
        404 | 410 => Attempt::NotFound(status),
        429 | 500..=599 => Attempt::Failed(format!("http_{}", status.as_u16())),
        // Ignoring Range (a full 200) is legal HTTP: no resume here, but no fault either.
        _ if range_from.is_some() => Attempt::Refused(status),
        _ => Attempt::Refused(status),
    }
}

fn error_class(e: &reqwest::Error) -> String {
    let text = format!("{e:?}");
    let class = if text.contains("ConnectionRefused") || text.contains("Connection refused") {
        "refused"
    } else if e.is_timeout() {
        "connect_timeout"
    } else if e.is_connect() && text.contains("dns") {
        "dns"
    } else if e.is_connect() && (text.contains("certificate") || text.contains("Certificate")) {
        "tls_certificate"
    } else if e.is_connect() {
        "connect"
    } else if text.contains("reset") || text.contains("Reset") {
        "reset"
    } else {
        "io"
    };
    class.into()
}

/// Streams the upstream's body to go, pulled by go's connection as it writes
/// (no extra task or buffer in between: memory stays bounded by a chunk or two).
/// If the upstream stalls or breaks off, the rest comes from the next upstream
/// with a Range request; when none can resume, the response is aborted so go
/// sees an error.
fn stream(
    shared: Arc<Shared>,
    rel: String,
    first: usize,
    resp: reqwest::Response,
) -> Response<Body> {
    let total = resp.content_length();
    let mut builder = Response::builder().status(StatusCode::OK);
    if let Some(ct) = resp.headers().get(reqwest::header::CONTENT_TYPE) {
        builder = builder.header(hyper::header::CONTENT_TYPE, ct.clone());
    }
    if let Some(len) = total {
        builder = builder.header(hyper::header::CONTENT_LENGTH, len);
    }
    let flow = Flow {
        zip: rel.ends_with(".zip").then(ZipCheck::default),
        shared,
        rel,
        resp,
        current: first,
        tried: vec![first],
        received: 0,
        total,
        done: false,
    };
    let frames = futures_util::stream::unfold(flow, Flow::next);
    let body = StreamBody::new(frames).boxed();
    builder
        .body(body)
        .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "bad upstream headers\n".into()))
}

type Item = Result<Frame<Bytes>, std::io::Error>;

/// One response body in flight: where it comes from and how far it got.
struct Flow {
    shared: Arc<Shared>,
    rel: String,
    resp: reqwest::Response,
    /// The upstream now serving the body.
    current: usize,
    tried: Vec<usize>,
    received: u64,
    total: Option<u64>,
    zip: Option<ZipCheck>,
    done: bool,
}

impl Flow {
    /// The next frame for go, or None at the end.
    async fn next(mut self) -> Option<(Item, Flow)> {
        if self.done {
            return None;
        }
        loop {
            let stall = self.shared.settings.deadlines.stall;
            let class = match timeout(stall, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.received += bytes.len() as u64;
                    let ready = match self.zip.as_mut() {
                        Some(check) => check.hold(bytes),
                        None => Some(bytes),
                    };
                    match ready {
                        Some(bytes) => return Some((Ok(Frame::data(bytes)), self)),
                        None => continue,
                    }
                }
                Ok(Ok(None)) if self.total.is_none_or(|t| self.received >= t) => {
                    self.done = true;
                    return match self.zip.as_mut().map(ZipCheck::finish) {
                        None => None,
                        Some(Some(last)) => Some((Ok(Frame::data(last)), self)),
                        // Not a whole zip: end the response early so go sees the
                        // download fail (and the re-run blames this upstream).
                        Some(None) => {
                            self.shared.note_failure(self.current, "bad_zip");
                            let err = std::io::Error::other("upstream sent a broken zip");
                            Some((Err(err), self))
                        }
                    };
                }
                Ok(Ok(None)) => "short_body",
                Ok(Err(_)) => "reset",
                Err(_) => "stall",
            };
            self.shared.note_failure(self.current, class);
            match resume(
                &self.shared,
                &self.rel,
                self.received,
                self.total,
                &mut self.tried,
            )
            .await
            {
                Some((i, r)) => {
                    self.current = i;
                    self.resp = r;
                    self.shared.note_served(&self.rel, i);
                }
                None => {
                    self.done = true;
                    let err = std::io::Error::other(format!("upstream body failed ({class})"));
                    return Some((Err(err), self));
                }
            }
        }
    }
}

/// Holds back the last chunk of a zip until the end of central directory
/// record is seen, so a truncated or non-zip body (a captive portal's page)
/// never reaches go as a complete response.
#[derive(Default)]
struct ZipCheck {
    held: Option<Bytes>,
    /// The last chunks seen (shared, not copied), at least EOCD_SPAN bytes when
    /// the body is that long: where the EOCD record must be.
    recent: std::collections::VecDeque<Bytes>,
    recent_len: usize,
}

/// EOCD record (22 bytes) plus the longest comment.
const EOCD_SPAN: usize = 22 + 65535;

impl ZipCheck {
    /// Takes a chunk; returns the previous one, now safe to send.
    fn hold(&mut self, chunk: Bytes) -> Option<Bytes> {
        self.recent_len += chunk.len();
        self.recent.push_back(chunk.clone());
        while self
            .recent
            .front()
            .is_some_and(|f| self.recent_len - f.len() >= EOCD_SPAN)
        {
            if let Some(f) = self.recent.pop_front() {
                self.recent_len -= f.len();
            }
        }
        self.held.replace(chunk)
    }

    /// At the end of the body: the held chunk if the body ends like a zip, None if not.
    fn finish(&mut self) -> Option<Bytes> {
        let tail: Vec<u8> = self.recent.iter().flat_map(|b| b.iter().copied()).collect();
        ends_like_zip(&tail).then(|| self.held.take().unwrap_or_default())
    }
}

/// An EOCD signature whose comment length reaches exactly to the end.
fn ends_like_zip(tail: &[u8]) -> bool {
    let n = tail.len();
    (0..n.saturating_sub(21)).rev().take(EOCD_SPAN).any(|p| {
        tail[p..].starts_with(b"PK\x05\x06")
            && usize::from(u16::from_le_bytes([tail[p + 20], tail[p + 21]])) == n - p - 22
    })
}

/// The next upstream that serves the rest of the body from `from` (206), if any.
async fn resume(
    shared: &Shared,
    rel: &str,
    from: u64,
    total: Option<u64>,
    tried: &mut Vec<usize>,
) -> Option<(usize, reqwest::Response)> {
    total?; // without a length there is no telling what is missing
    for i in health_order(shared, |_| true) {
        if tried.contains(&i) {
            continue;
        }
        tried.push(i);
        let up = &shared.settings.upstreams[i];
        match attempt(shared, up, rel, Some(from)).await {
            Attempt::Got(r) if content_range_start(&r) == Some(from) => return Some((i, r)),
            Attempt::Failed(class) => shared.note_failure(i, &class),
            _ => {}
        }
    }
    None
}

fn content_range_start(resp: &reqwest::Response) -> Option<u64> {
    let value = resp
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.parse().ok()
}

pub fn plain(status: StatusCode, text: String) -> Response<Body> {
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eocd(comment: &[u8]) -> Vec<u8> {
        let mut r = b"PK\x05\x06".to_vec();
        r.extend_from_slice(&[0; 16]);
        r.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        r.extend_from_slice(comment);
        r
    }

    #[test]
    fn recognises_whole_and_truncated_zips() {
        let mut whole = vec![7u8; 1000];
        whole.extend(eocd(b"hi"));
        assert!(ends_like_zip(&whole));
        assert!(!ends_like_zip(&whole[..whole.len() - 1]));
        assert!(!ends_like_zip(b"<html>captive portal</html>"));
        assert!(!ends_like_zip(b""));
    }

    #[test]
    fn holds_back_the_last_chunk_until_the_end() {
        let mut check = ZipCheck::default();
        assert_eq!(check.hold(Bytes::from_static(b"PK\x03\x04 data")), None);
        let end = Bytes::from(eocd(b""));
        assert!(check.hold(end.clone()).is_some());
        assert_eq!(check.finish(), Some(end));
        let mut bad = ZipCheck::default();
        bad.hold(Bytes::from_static(b"PK\x03\x04 cut"));
        assert_eq!(bad.finish(), None);
    }

    #[test]
    fn finds_the_end_record_across_chunks_of_a_long_body() {
        let mut check = ZipCheck::default();
        for _ in 0..40 {
            check.hold(Bytes::from(vec![1u8; 10_000]));
        }
        let record = eocd(&[b'c'; 300]);
        let (a, b) = record.split_at(10);
        check.hold(Bytes::copy_from_slice(a));
        check.hold(Bytes::copy_from_slice(b));
        assert!(check.recent_len < 2 * EOCD_SPAN, "{}", check.recent_len);
        assert!(check.finish().is_some());
    }
}

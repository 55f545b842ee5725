//! One request to one upstream: waiting for the response headers, then the
//! body, each under its deadline. Polled by the race that owns it; dropping
//! it cancels the request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use tokio::time::{Sleep, sleep, timeout};

use super::{Permits, Shared};
use crate::error_class::ErrorClass;
use crate::upstream::goauth;

/// How an upstream answered a request, before its body.
enum Answer {
    /// 200, or 206 whose body starts at `start`.
    Body {
        resp: reqwest::Response,
        start: u64,
        /// Its share of the upstream's connection budget (set by [`Transfer::start`]).
        permits: Option<Permits>,
    },
    NotFound(StatusCode),
    /// A definitive answer that is neither content nor "not found" (401, 403, ...).
    Refused(StatusCode),
    /// Transient: timeout, connection error, 5xx, 429.
    Failed(ErrorClass),
}

/// What a transfer did since it was last polled.
pub enum Event {
    /// Headers of a body arrived.
    Started,
    /// Body bytes starting at offset `at`.
    Chunk {
        at: u64,
        bytes: Bytes,
    },
    /// The body ended where it said it would.
    End,
    NotFound(StatusCode),
    Refused(StatusCode),
    Failed(ErrorClass),
}

type Waiting = Pin<Box<dyn Future<Output = Answer> + Send>>;
type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

enum State {
    Waiting(Waiting),
    Body {
        stream: BodyStream,
        stall: Pin<Box<Sleep>>,
        /// The share of the upstream's connection budget, until the body is done.
        _permits: Option<Permits>,
    },
    Over,
}

pub struct Transfer {
    pub up: usize,
    pub started: Instant,
    /// Offset of the next body byte.
    pub pos: u64,
    /// Where the body ends, when the upstream said.
    pub end: Option<u64>,
    pub content_type: Option<HeaderValue>,
    /// (when, pos) at the start of the current throughput window.
    mark: (Instant, u64),
    /// When the last body bytes (or the headers) arrived.
    pub last_progress: Instant,
    stall_after: Duration,
    state: State,
}

impl Transfer {
    /// Sends the request once the upstream's connection budget allows (a
    /// fetch `ahead` of go's request waits behind go's own); `range_from` > 0
    /// asks for the rest of the body only.
    pub fn start(
        shared: &Arc<Shared>,
        up: usize,
        rel: &str,
        range_from: u64,
        ahead: bool,
    ) -> Transfer {
        let owned = (shared.clone(), rel.to_string());
        let waiting = Box::pin(async move {
            let (shared, rel) = owned;
            let Some(permits) = shared.budget(up, ahead).await else {
                return Answer::Failed(ErrorClass::Io);
            };
            let mut answer = attempt(&shared, up, &rel, range_from).await;
            if let Answer::Body { permits: slot, .. } = &mut answer {
                *slot = Some(permits); // held for the body
            }
            answer
        });
        let now = Instant::now();
        Transfer {
            up,
            started: now,
            pos: 0,
            end: None,
            content_type: None,
            mark: (now, 0),
            last_progress: now,
            stall_after: shared.settings.deadlines.stall,
            state: State::Waiting(waiting),
        }
    }

    /// go spent `gap` not reading: the upstream's clock stops meanwhile.
    pub fn credit(&mut self, gap: Duration) {
        self.last_progress += gap;
        self.mark.0 += gap;
    }

    pub fn has_body(&self) -> bool {
        matches!(self.state, State::Body { .. })
    }

    /// Bytes per second over the window since the last call, once `window`
    /// has passed since then (None before).
    pub fn throughput(&mut self, now: Instant, window: Duration) -> Option<f64> {
        let (since, at) = self.mark;
        let dt = now.saturating_duration_since(since);
        if dt < window {
            return None;
        }
        self.mark = (now, self.pos);
        Some((self.pos - at) as f64 / dt.as_secs_f64())
    }

    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        match &mut self.state {
            State::Over => Poll::Pending,
            State::Waiting(waiting) => {
                let Poll::Ready(answer) = waiting.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                Poll::Ready(self.answered(answer))
            }
            State::Body { stream, stall, .. } => match stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    let deadline = tokio::time::Instant::now() + self.stall_after;
                    stall.as_mut().reset(deadline);
                    let at = self.pos;
                    self.pos += bytes.len() as u64;
                    self.last_progress = Instant::now();
                    Poll::Ready(Event::Chunk { at, bytes })
                }
                Poll::Ready(Some(Err(e))) => self.over(Event::Failed(body_error_class(&e))),
                Poll::Ready(None) if self.end.is_some_and(|end| self.pos < end) => {
                    self.over(Event::Failed(ErrorClass::ShortBody))
                }
                Poll::Ready(None) => self.over(Event::End),
                Poll::Pending => match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => self.over(Event::Failed(ErrorClass::Stall)),
                    Poll::Pending => Poll::Pending,
                },
            },
        }
    }

    fn answered(&mut self, answer: Answer) -> Event {
        let now = Instant::now();
        match answer {
            Answer::Body {
                resp,
                start,
                permits,
            } => {
                self.pos = start;
                self.mark = (now, start);
                self.last_progress = now;
                self.end = resp.content_length().map(|n| start + n);
                self.content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
                self.state = State::Body {
                    stream: Box::pin(resp.bytes_stream()),
                    stall: Box::pin(sleep(self.stall_after)),
                    _permits: permits,
                };
                Event::Started
            }
            Answer::NotFound(s) => self.over_now(Event::NotFound(s)),
            Answer::Refused(s) => self.over_now(Event::Refused(s)),
            Answer::Failed(c) => self.over_now(Event::Failed(c)),
        }
    }

    fn over_now(&mut self, event: Event) -> Event {
        self.state = State::Over;
        event
    }

    fn over(&mut self, event: Event) -> Poll<Event> {
        Poll::Ready(self.over_now(event))
    }
}

/// One GET to one upstream, bounded by the connect and response deadlines.
async fn attempt(shared: &Shared, up: usize, rel: &str, range_from: u64) -> Answer {
    let Some(client) = shared.client() else {
        return Answer::Failed(ErrorClass::Io);
    };
    let endpoint = &shared.upstream(up).endpoint;
    let credential_url = endpoint.credential_url(rel);
    if credential_url.is_some() {
        // Credentials load at the first https request (a helper may run):
        // outside the response deadline, which is the upstream's.
        goauth::ensure_loaded(endpoint.credentials()).await;
    }
    let send = |headers: &[(String, String)]| {
        let mut req = client.get(endpoint.url_for(rel));
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if range_from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={range_from}-"));
        }
        timeout(shared.settings.deadlines.response, req.send())
    };
    let sent = endpoint.headers_for(rel);
    let mut resp = match send(&sent).await {
        Err(_) => return Answer::Failed(ErrorClass::Timeout),
        Ok(Err(e)) => return Answer::Failed(request_error_class(&e)),
        Ok(Ok(r)) => r,
    };
    // go's second try: after any 4xx over https it runs the GOAUTH helpers
    // again with the URL and the response, then repeats the request. Here
    // only when that changed the credentials: the same request again would
    // get the same answer.
    if let Some(url) = credential_url
        && resp.status().is_client_error()
        && endpoint.credentials().refreshes()
    {
        goauth::refresh(endpoint.credentials(), url, refused_text(&resp)).await;
        let again = endpoint.headers_for(rel);
        if again != sent {
            resp = match send(&again).await {
                Err(_) => return Answer::Failed(ErrorClass::Timeout),
                Ok(Err(e)) => return Answer::Failed(request_error_class(&e)),
                Ok(Ok(r)) => r,
            };
        }
    }
    let status = resp.status();
    match status.as_u16() {
        // Ignoring Range (a full 200) is legal HTTP: the body starts at 0.
        200 => Answer::Body {
            resp,
            start: 0,
            permits: None,
        },
        206 => match content_range_start(&resp) {
            Some(start) if range_from > 0 && start <= range_from => Answer::Body {
                resp,
                start,
                permits: None,
            },
            _ => Answer::Refused(status),
        },
        404 | 410 => Answer::NotFound(status),
        code @ (429 | 500..=599) => Answer::Failed(ErrorClass::Http(code)),
        _ => Answer::Refused(status),
    }
}

/// The refused response as go hands it to a GOAUTH helper.
fn refused_text(resp: &reqwest::Response) -> String {
    let proto = match resp.version() {
        reqwest::Version::HTTP_2 => "HTTP/2.0",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let status = resp.status();
    let reason = status.canonical_reason().unwrap_or_default();
    goauth::helper::response_text(proto, status.as_u16(), reason, &headers)
}

fn request_error_class(e: &reqwest::Error) -> ErrorClass {
    let text = format!("{e:?}");
    if text.contains("ConnectionRefused") || text.contains("Connection refused") {
        ErrorClass::Refused
    } else if e.is_timeout() {
        ErrorClass::ConnectTimeout
    } else if e.is_connect() && text.contains("dns") {
        ErrorClass::Dns
    } else if e.is_connect() && text.to_lowercase().contains("certificate") {
        ErrorClass::TlsCertificate
    } else if e.is_connect() {
        ErrorClass::Connect
    } else if text.to_lowercase().contains("reset") {
        ErrorClass::Reset
    } else {
        ErrorClass::Io
    }
}

fn body_error_class(e: &reqwest::Error) -> ErrorClass {
    if format!("{e:?}").to_lowercase().contains("reset") {
        ErrorClass::Reset
    } else {
        ErrorClass::ShortBody
    }
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

//! The proxy's HTTP/1.1 side: accepting, reading requests, writing (faulty) responses.
//!
//! All socket waits use short timeouts and re-check the shutdown flag, so that
//! dropping the proxy ends every thread quickly, even mid-hang, mid-stall or mid-drip.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Fault, MAX_CONNECTIONS, State};

/// How often blocked socket calls and sleeps look at the shutdown flag.
const TICK: Duration = Duration::from_millis(20);
/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Accepts connections until shutdown, one thread each, then joins them all.
pub(super) fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !state.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                conns.retain(|c| !c.is_finished());
                if conns.len() >= MAX_CONNECTIONS {
                    drop(stream); // over the cap: close at once
                    continue;
                }
                let state = state.clone();
                conns.push(thread::spawn(move || serve(stream, &state)));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for_connection(&listener, TICK),
            Err(_) => thread::sleep(TICK),
        }
    }
    for conn in conns {
        let _ = conn.join();
    }
}

/// Returns as soon as a connection waits on the (non-blocking) `listener`,
/// or after `wait`: like a real server, the proxy accepts at once (polling
/// every few milliseconds would cost each new connection that much, and the
/// relay opens more of them than go does).
pub(crate) fn wait_for_connection(listener: &TcpListener, wait: Duration) {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut fd, 1, wait.as_millis() as libc::c_int) };
}

/// A parsed request head.
pub(super) struct Head {
    pub(super) method: String,
    pub(super) path: String,
    /// The query string, without the '?'.
    pub(super) query: Option<String>,
    /// `N` of a `Range: bytes=N-` header.
    pub(super) range_from: Option<u64>,
    /// The `Authorization` header's value.
    pub(super) authorization: Option<String>,
    close: bool,
}

/// Serves requests on one keep-alive connection until either side closes.
fn serve(mut stream: TcpStream, state: &State) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(TICK)).is_err()
        || stream.set_write_timeout(Some(TICK)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    while let Some(head) = read_head(&mut stream, &mut buf, state) {
        let now = state.answering.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_answering.fetch_max(now, Ordering::SeqCst);
        let go_on = respond(&mut stream, &head, state);
        state.answering.fetch_sub(1, Ordering::SeqCst);
        if !go_on || head.close {
            return;
        }
    }
}

/// Reads one request head (bodies are not expected: the go command only GETs).
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>, state: &State) -> Option<Head> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return parse_head(&head);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {
                if state.stopping() {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (percent_decoded(p), Some(q.to_string())),
        None => (percent_decoded(target), None),
    };
    let (mut close, mut range_from, mut authorization) = (false, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "connection" => close |= value.to_ascii_lowercase().contains("close"),
            "range" => {
                range_from = value
                    .strip_prefix("bytes=")
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|n| n.parse().ok())
            }
            "authorization" => authorization = Some(value.to_string()),
            _ => {}
        }
    }
    Some(Head {
        method,
        path,
        query,
        range_from,
        authorization,
        close,
    })
}

/// The path with `%XX` escapes decoded, as a server reads it: go sends the
/// `!` of an escaped capital (`github.com/!burnt!sushi/toml`) as `%21`.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.map(|h| u8::from_str_radix(h, 16)) {
            Some(Ok(b)) if bytes[i] == b'%' => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The healthy answer to a request: status, content type, body.
fn lookup(path: &str, state: &State) -> (u16, &'static str, Vec<u8>) {
    let Some(rel) = path
        .strip_prefix(state.prefix.as_str())
        .and_then(|p| p.strip_prefix('/'))
    else {
        return (404, TEXT, format!("not found: {path}\n").into_bytes());
    };
    if let Some(sumdb) = rel.strip_prefix("sumdb/") {
        let supported = state
            .sumdb_supported
            .load(std::sync::atomic::Ordering::SeqCst);
        if sumdb.ends_with("/supported") {
            if supported {
                return (200, TEXT, Vec::new());
            }
        } else if let Some(db) = &*state.sumdb.read().unwrap()
            && let Some(rest) = sumdb
                .strip_prefix(db.name())
                .and_then(|r| r.strip_prefix('/'))
            && let Some(body) = db.serve(rest)
        {
            let ctype = if rest.starts_with("tile/") {
                BINARY
            } else {
                TEXT
            };
            return (200, ctype, body);
        }
        return (404, TEXT, b"sumdb not served here\n".to_vec());
    }
    match state.files.read().unwrap().get(rel) {
        Some(body) => (200, content_type(rel), body.clone()),
        None => (404, TEXT, format!("not found: {rel}\n").into_bytes()),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const BINARY: &str = "application/octet-stream";

fn content_type(rel: &str) -> &'static str {
    if rel.ends_with(".zip") {
        "application/zip"
    } else if rel.ends_with(".info") || rel.ends_with("/@latest") {
        "application/json"
    } else {
        TEXT
    }
}

/// Answers one request, applying the fault in force. Returns false when the
/// connection must be closed.
fn respond(stream: &mut TcpStream, head: &Head, state: &State) -> bool {
    let rel_for_rules = head
        .path
        .strip_prefix(state.prefix.as_str())
        .unwrap_or(&head.path);
    let fault = state.fault_for(rel_for_rules);
    let (status, ctype, body) = lookup(&head.path, state);
    let is_head = head.method == "HEAD";
    match fault {
        Fault::Healthy | Fault::EveryNth { .. } | Fault::HangFirst { .. } => {
            // `Range: bytes=N-`, when the proxy honours ranges: 206 with the rest.
            let range = head
                .range_from
                .filter(|&from| status == 200 && state.ranges() && from < body.len() as u64);
            if let Some(from) = range {
                state.record(head, Some(206), &Fault::Healthy);
                let last = body.len() - 1;
                let content_range = (
                    "Content-Range",
                    format!("bytes {from}-{last}/{}", body.len()),
                );
                let rest = &body[from as usize..];
                return send(stream, 206, ctype, &[content_range], rest, is_head, state);
            }
            state.record(head, Some(status), &Fault::Healthy);
            send(stream, status, ctype, &[], &body, is_head, state)
        }
        Fault::Status(code) | Fault::LateStatus { status: code, .. } => {
            state.record(head, Some(code), &fault);
            if let Fault::LateStatus { delay, .. } = fault
                && !pause(delay, state)
            {
                return false;
            }
            let body = format!("injected {code}\n").into_bytes();
            send(stream, code, TEXT, &[], &body, is_head, state)
        }
        Fault::Status429 { retry_after_secs } => {
            state.record(head, Some(429), &fault);
            let retry = ("Retry-After", retry_after_secs.to_string());
            send(stream, 429, TEXT, &[retry], b"slow down\n", is_head, state)
        }
        Fault::Hang => {
            state.record(head, None, &fault);
            while !state.stopping() {
                thread::sleep(TICK);
            }
            false
        }
        Fault::SlowDrip {
            bytes_per_chunk,
            delay,
        } => {
            state.record(head, Some(status), &fault);
            let headers = head_bytes(status, ctype, body.len(), &[]);
            if !write_fully(stream, &headers, state) {
                return false;
            }
            if is_head {
                return true;
            }
            for chunk in body.chunks(bytes_per_chunk.max(1)) {
                if !pause(delay, state) || !write_fully(stream, chunk, state) {
                    return false;
                }
            }
            true
        }
        Fault::Delay(delay) => {
            state.record(head, Some(status), &fault);
            pause(delay, state) && send(stream, status, ctype, &[], &body, is_head, state)
        }
        Fault::ResetMidBody => {
            state.record(head, Some(status), &fault);
            let headers = head_bytes(status, ctype, body.len(), &[]);
            if write_fully(stream, &headers, state) && !is_head {
                write_fully(stream, &body[..body.len() / 2], state);
            }
            let _ = stream.flush();
            thread::sleep(Duration::from_millis(20)); // let the partial body leave first
            reset(stream);
            false
        }
        Fault::StallMidBody | Fault::PauseMidBody => {
            state.record(head, Some(status), &fault);
            let headers = head_bytes(status, ctype, body.len(), &[]);
            if !write_fully(stream, &headers, state) {
                return false;
            }
            if is_head {
                return true;
            }
            let (first, rest) = body.split_at(body.len() / 2);
            if !write_fully(stream, first, state) {
                return false;
            }
            let _ = stream.flush();
            let pausing = fault == Fault::PauseMidBody;
            let go_on = || state.stopping() || pausing && state.resumed.load(Ordering::SeqCst);
            while !go_on() {
                thread::sleep(TICK);
            }
            pausing && !state.stopping() && write_fully(stream, rest, state)
        }
        Fault::CutBeforeBody => {
            state.record(head, Some(status), &fault);
            let headers = head_bytes(status, ctype, body.len(), &[]);
            write_fully(stream, &headers, state);
            let _ = stream.flush();
            false
        }
        Fault::TruncatedZip if head.path.ends_with(".zip") && status == 200 => {
            state.record(head, Some(status), &fault);
            let short = &body[..body.len() / 2];
            send(stream, status, ctype, &[], short, is_head, state)
        }
        Fault::Truncated if status == 200 => {
            state.record(head, Some(status), &fault);
            let short = &body[..body.len() / 2];
            send(stream, status, ctype, &[], short, is_head, state)
        }
        Fault::LongChunked if status == 200 => {
            state.record(head, Some(status), &fault);
            let head_text = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
            );
            let mut out = head_text.into_bytes();
            if !is_head {
                for chunk in [&body[..], &[0x55u8; 32][..]] {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            write_fully(stream, &out, state)
        }
        Fault::TruncatedZip | Fault::Truncated | Fault::LongChunked => {
            state.record(head, Some(status), &Fault::Healthy);
            send(stream, status, ctype, &[], &body, is_head, state)
        }
    }
}

/// Writes a complete response. Returns false if the client went away.
fn send(
    stream: &mut TcpStream,
    status: u16,
    ctype: &str,
    extra: &[(&str, String)],
    body: &[u8],
    is_head: bool,
    state: &State,
) -> bool {
    let mut out = head_bytes(status, ctype, body.len(), extra);
    if !is_head {
        out.extend_from_slice(body);
    }
    write_fully(stream, &out, state)
}

fn head_bytes(status: u16, ctype: &str, len: usize, extra: &[(&str, String)]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n",
        reason(status)
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: keep-alive\r\n\r\n");
    head.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// write_all that survives write timeouts (used to notice shutdown) and gives
/// up on shutdown or a real error.
fn write_fully(stream: &mut TcpStream, mut data: &[u8], state: &State) -> bool {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if state.stopping() {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Sleeps `delay` in ticks; false if the proxy is shutting down.
fn pause(delay: Duration, state: &State) -> bool {
    let end = Instant::now() + delay;
    while Instant::now() < end {
        if state.stopping() {
            return false;
        }
        thread::sleep(TICK.min(end.saturating_duration_since(Instant::now())));
    }
    !state.stopping()
}

/// Closes the connection with a TCP reset (SO_LINGER 0) instead of a FIN.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

//! One GET with every stage timed: DNS, connect, TLS, first byte.
//!
//! Hand-written HTTP/1.1 on tokio + rustls rather than a full client, because the
//! per-stage timings are the point of a probe and a pooled client hides them.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::error_class::ErrorClass;
use crate::health::snapshot::Latency;
use crate::upstream::{Endpoint, Origin};

/// What to collect besides the status and the stage timings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// Read the body (chunked encoding decoded) and return it; a body larger
    /// than this many bytes fails the request with `BodyTooLarge`.
    pub body_limit: Option<usize>,
    /// Return the certificate chain the server presented (https only).
    pub peer_certs: bool,
}

/// A finished exchange: the status and how long each stage took.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// `total_ms` includes reading the body when it was asked for.
    pub latency: Latency,
    /// The body, when [`Extras::body_limit`] asked for it.
    pub body: Option<Vec<u8>>,
    /// Leaf first, when [`Extras::peer_certs`] asked for it.
    pub peer_certs: Vec<CertificateDer<'static>>,
}

/// A failed exchange: the error class and the stages measured before it failed.
#[derive(Debug)]
pub struct Failure {
    pub class: ErrorClass,
    pub latency: Latency,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// GETs `rel` (proxy-relative, no leading slash) within `deadline`, timing
/// each stage; with the endpoint's query and `Authorization`, as the relay sends them.
pub async fn get(endpoint: &Endpoint, rel: &str, deadline: Duration) -> Result<Answer, Failure> {
    get_with(endpoint, rel, deadline, Extras::default()).await
}

/// [`get`], also collecting what `extras` asks for.
pub async fn get_with(
    endpoint: &Endpoint,
    rel: &str,
    deadline: Duration,
    extras: Extras,
) -> Result<Answer, Failure> {
    let start = Instant::now();
    let mut lat = Latency::default();
    let fail = |class: ErrorClass, lat: &Latency| Failure {
        class,
        latency: Latency {
            total_ms: ms(start.elapsed()),
            ..lat.clone()
        },
    };
    let left = || deadline.saturating_sub(start.elapsed());

    let Some(origin) = endpoint.origin() else {
        return Err(fail(ErrorClass::BadUrl, &lat));
    };
    let tcp = match connect(origin, &mut lat, left).await {
        Ok(tcp) => tcp,
        Err(class) => return Err(fail(class, &lat)),
    };
    let exchanged = if origin.tls {
        let t = Instant::now();
        let Some(config) = tls_config() else {
            return Err(fail(ErrorClass::Tls, &lat));
        };
        let stream = match handshake(origin, tcp, config, left()).await {
            Ok(s) => s,
            Err(class) => return Err(fail(class, &lat)),
        };
        lat.tls_ms = Some(ms(t.elapsed()));
        let certs = match extras.peer_certs {
            true => stream.get_ref().1.peer_certificates().unwrap_or_default(),
            false => &[],
        }
        .to_vec();
        exchange(stream, endpoint, rel, left, extras.body_limit)
            .await
            .map(|reply| (reply, certs))
    } else {
        exchange(tcp, endpoint, rel, left, extras.body_limit)
            .await
            .map(|reply| (reply, Vec::new()))
    };
    match exchanged {
        Ok((reply, peer_certs)) => {
            lat.first_byte_ms = Some(ms(reply.first_byte));
            lat.total_ms = ms(start.elapsed());
            Ok(Answer {
                status: reply.status,
                latency: lat,
                body: reply.body,
                peer_certs,
            })
        }
        Err(class) => Err(fail(class, &lat)),
    }
}

/// The certificate chain the server presents (leaf first), read through a
/// handshake that accepts any certificate. For reporting on a chain that
/// failed verification: only the handshake happens, no request is sent.
/// Empty when there is none to read (plain http, no connection).
pub async fn peer_chain(endpoint: &Endpoint, deadline: Duration) -> Vec<CertificateDer<'static>> {
    let Some(origin) = endpoint.origin().filter(|o| o.tls) else {
        return Vec::new();
    };
    let start = Instant::now();
    let left = || deadline.saturating_sub(start.elapsed());
    let mut lat = Latency::default();
    let Ok(tcp) = connect(origin, &mut lat, left).await else {
        return Vec::new();
    };
    static READER: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    let reader =
        READER.get_or_init(|| crate::upstream::tls::certificate_reader_config().map(Arc::new));
    let Some(config) = reader.clone() else {
        return Vec::new();
    };
    match handshake(origin, tcp, config, left()).await {
        Ok(stream) => stream
            .get_ref()
            .1
            .peer_certificates()
            .unwrap_or_default()
            .to_vec(),
        Err(_) => Vec::new(),
    }
}

/// Resolves the host and connects to its first address, timing both stages.
async fn connect(
    origin: &Origin,
    lat: &mut Latency,
    left: impl Fn() -> Duration,
) -> Result<TcpStream, ErrorClass> {
    let t = Instant::now();
    let addrs = match timeout(
        left(),
        tokio::net::lookup_host((origin.host.as_str(), origin.port)),
    )
    .await
    {
        Err(_) => return Err(ErrorClass::DnsTimeout),
        Ok(Err(_)) => return Err(ErrorClass::Dns),
        Ok(Ok(a)) => a.collect::<Vec<_>>(),
    };
    lat.dns_ms = Some(ms(t.elapsed()));
    let Some(addr) = addrs.first().copied() else {
        return Err(ErrorClass::Dns);
    };

    let t = Instant::now();
    let tcp = match timeout(left(), TcpStream::connect(addr)).await {
        Err(_) => return Err(ErrorClass::ConnectTimeout),
        Ok(Err(e)) => return Err(io_class(&e)),
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    lat.connect_ms = Some(ms(t.elapsed()));
    Ok(tcp)
}

async fn handshake(
    origin: &Origin,
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
    left: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ErrorClass> {
    let name = ServerName::try_from(origin.host.clone()).map_err(|_| ErrorClass::Tls)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match timeout(left, connector.connect(name, tcp)).await {
        Err(_) => Err(ErrorClass::TlsTimeout),
        Ok(Err(e)) => Err(tls_class(&e)),
        Ok(Ok(s)) => Ok(s),
    }
}

/// What came back: the status, the time from sending to the first response
/// byte, and the body when it was asked for.
struct Reply {
    status: u16,
    first_byte: Duration,
    body: Option<Vec<u8>>,
}

/// Sends the request and reads up to the status line, or the whole response
/// when `body_limit` asks for the body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    endpoint: &Endpoint,
    rel: &str,
    left: impl Fn() -> Duration,
    body_limit: Option<usize>,
) -> Result<Reply, ErrorClass> {
    let host = endpoint.origin().map(host_header).unwrap_or_default();
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: goshim/{}\r\nAccept: */*\r\nConnection: close\r\n",
        endpoint.target_for(rel),
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(auth) = &endpoint.auth {
        req.push_str(&format!("Authorization: {auth}\r\n"));
    }
    req.push_str("\r\n");
    match timeout(left(), stream.write_all(req.as_bytes())).await {
        Err(_) => return Err(ErrorClass::Timeout),
        Ok(Err(e)) => return Err(io_class(&e)),
        Ok(Ok(())) => {}
    }
    let sent = Instant::now();
    let mut buf = Vec::with_capacity(1024);
    let mut first_byte = None;
    // The status line, or the whole head when the body is wanted.
    let end_marker: &[u8] = if body_limit.is_some() {
        b"\r\n\r\n"
    } else {
        b"\r\n"
    };
    let head_end = loop {
        if let Some(i) = find(&buf, end_marker) {
            break i + end_marker.len();
        }
        if buf.len() > MAX_HEAD {
            return Err(ErrorClass::BadResponse);
        }
        if read_more(&mut stream, &mut buf, left()).await? == 0 {
            return Err(ErrorClass::Eof);
        }
        first_byte.get_or_insert_with(|| sent.elapsed());
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or(ErrorClass::BadResponse)?;
    let body = match body_limit {
        None => None,
        Some(limit) => {
            let rest = buf.split_off(head_end);
            Some(read_body(&mut stream, &head, status, rest, limit, left).await?)
        }
    };
    Ok(Reply {
        status,
        first_byte: first_byte.unwrap_or_default(),
        body,
    })
}

/// Appends what the stream has next to `buf`; 0 at the end of the stream.
async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    left: Duration,
) -> Result<usize, ErrorClass> {
    let mut chunk = [0u8; 8192];
    match timeout(left, stream.read(&mut chunk)).await {
        Err(_) => Err(ErrorClass::Timeout),
        Ok(Err(e)) => Err(io_class(&e)),
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
    }
}

/// Reads the body that follows `head` (`raw`: the bytes already read past it),
/// framed by chunked encoding, Content-Length, or the end of the stream.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &str,
    status: u16,
    mut raw: Vec<u8>,
    limit: usize,
    left: impl Fn() -> Duration,
) -> Result<Vec<u8>, ErrorClass> {
    if matches!(status, 100..=199 | 204 | 304) {
        return Ok(Vec::new());
    }
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| {
        v.to_ascii_lowercase()
            .split(',')
            .any(|t| t.trim() == "chunked")
    });
    let length: Option<usize> = match header("content-length") {
        Some(v) if !chunked => Some(v.parse().map_err(|_| ErrorClass::BadResponse)?),
        _ => None,
    };
    if length.is_some_and(|n| n > limit) {
        return Err(ErrorClass::BodyTooLarge);
    }
    loop {
        if chunked {
            if let Some(body) = dechunk(&raw, limit)? {
                return Ok(body);
            }
        } else if let Some(n) = length
            && raw.len() >= n
        {
            raw.truncate(n);
            return Ok(raw);
        }
        // Chunk framing costs a few bytes per chunk: allow some slack.
        if raw.len() > limit.saturating_mul(2).saturating_add(4096) {
            return Err(ErrorClass::BodyTooLarge);
        }
        if read_more(stream, &mut raw, left()).await? == 0 {
            return match (chunked, length) {
                (false, None) if raw.len() <= limit => Ok(raw),
                (false, None) => Err(ErrorClass::BodyTooLarge),
                _ => Err(ErrorClass::ShortBody),
            };
        }
    }
}

/// Decodes a complete chunked body; Ok(None) while more bytes are needed.
fn dechunk(raw: &[u8], limit: usize) -> Result<Option<Vec<u8>>, ErrorClass> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = find(&raw[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&raw[pos..pos + eol]).map_err(|_| ErrorClass::BadChunk)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| ErrorClass::BadChunk)?;
        pos += eol + 2;
        if size == 0 {
            // Trailers, each ending in CRLF, then an empty line.
            loop {
                let Some(eol) = find(&raw[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some(body));
                }
            }
        }
        if body.len().saturating_add(size) > limit {
            return Err(ErrorClass::BodyTooLarge);
        }
        if raw.len() < pos.saturating_add(size).saturating_add(2) {
            return Ok(None);
        }
        body.extend_from_slice(&raw[pos..pos + size]);
        pos += size;
        if &raw[pos..pos + 2] != b"\r\n" {
            return Err(ErrorClass::BadChunk);
        }
        pos += 2;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn host_header(o: &Origin) -> String {
    let default = if o.tls { 443 } else { 80 };
    let host = if o.host.contains(':') {
        format!("[{}]", o.host)
    } else {
        o.host.clone()
    };
    if o.port == default {
        host
    } else {
        format!("{host}:{}", o.port)
    }
}

fn io_class(e: &std::io::Error) -> ErrorClass {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => ErrorClass::Refused,
        ConnectionReset | ConnectionAborted | BrokenPipe => ErrorClass::Reset,
        TimedOut => ErrorClass::Timeout,
        UnexpectedEof => ErrorClass::Eof,
        _ => ErrorClass::Io,
    }
}

/// The error class of a failed handshake: certificate problems get a class
/// of their own (expired, not yet valid, untrusted, wrong name, other
/// `TlsCertificate`), anything else is `Tls`.
fn tls_class(e: &std::io::Error) -> ErrorClass {
    use rustls::CertificateError as C;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            C::Expired | C::ExpiredContext { .. } => ErrorClass::TlsCertExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => ErrorClass::TlsCertNotYetValid,
            C::UnknownIssuer | C::BadSignature => ErrorClass::TlsCertUntrusted,
            C::NotValidForName | C::NotValidForNameContext { .. } => ErrorClass::TlsCertName,
            _ => ErrorClass::TlsCertificate,
        },
        Some(_) => ErrorClass::Tls,
        None if e.to_string().to_ascii_lowercase().contains("certificate") => {
            ErrorClass::TlsCertificate
        }
        None => ErrorClass::Tls,
    }
}

fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| crate::upstream::tls::client_config(&[b"http/1.1"]).map(Arc::new))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(head: &str, rest: &[u8], limit: usize) -> Result<Vec<u8>, ErrorClass> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (mut stream, raw) = (
            &rest[rest.len().min(3)..],
            rest[..rest.len().min(3)].to_vec(),
        );
        rt.block_on(read_body(&mut stream, head, 200, raw, limit, || {
            Duration::from_secs(1)
        }))
    }

    #[test]
    fn reads_bodies_by_length_chunks_or_end() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let body = b"7\r\nv1.0.0\n\r\n7;ext=1\r\nv1.1.0\n\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(body_of(chunked, body, 100).unwrap(), b"v1.0.0\nv1.1.0\n");
        assert_eq!(body_of(chunked, body, 10), Err(ErrorClass::BodyTooLarge));
        assert_eq!(
            body_of(chunked, b"7\r\nv1.0", 100),
            Err(ErrorClass::ShortBody)
        );
        assert_eq!(body_of(chunked, b"zz\r\n", 100), Err(ErrorClass::BadChunk));
        let sized = "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n";
        assert_eq!(body_of(sized, b"abcdEXTRA", 100).unwrap(), b"abcd");
        assert_eq!(body_of(sized, b"ab", 100), Err(ErrorClass::ShortBody));
        assert_eq!(body_of(sized, b"abcd", 3), Err(ErrorClass::BodyTooLarge));
        let open = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        assert_eq!(
            body_of(open, b"until the end", 100).unwrap(),
            b"until the end"
        );
    }
}

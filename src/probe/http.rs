//! One GET with every stage timed: DNS, connect, TLS, first byte.
//!
//! Our own connect and TLS on tokio + rustls, then hyper's HTTP/1.1 client
//! connection over that stream, rather than a pooled client: the per-stage
//! timings are the point of a probe, and a pooled client hides them.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::error_class::ErrorClass;
use crate::health::snapshot::Latency;
use crate::upstream::http_proxy::ProxyUrl;
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

/// Largest response head accepted (hyper's read buffer: at least 8 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// GETs `rel` (proxy-relative, no leading slash) within `deadline`, timing
/// each stage; with the endpoint's query and credentials, as the relay sends
/// them; also collecting what `extras` asks for.
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
    let (conn, forward) = match connect(origin, &mut lat, left).await {
        Ok(c) => c,
        Err(class) => return Err(fail(class, &lat)),
    };
    let exchanged = if origin.tls {
        let t = Instant::now();
        let Some(config) = tls_config() else {
            return Err(fail(ErrorClass::Tls, &lat));
        };
        let stream = match handshake(&origin.host, conn, config, left()).await {
            Ok(s) => s,
            Err(class) => return Err(fail(class, &lat)),
        };
        lat.tls_ms = Some(ms(t.elapsed()));
        let certs = match extras.peer_certs {
            true => stream.get_ref().1.peer_certificates().unwrap_or_default(),
            false => &[],
        }
        .to_vec();
        exchange(stream, endpoint, rel, None, left(), extras.body_limit)
            .await
            .map(|reply| (reply, certs))
    } else {
        exchange(conn, endpoint, rel, forward, left(), extras.body_limit)
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
    let Ok((conn, _)) = connect(origin, &mut lat, left).await else {
        return Vec::new();
    };
    static READER: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    let reader =
        READER.get_or_init(|| crate::upstream::tls::certificate_reader_config().map(Arc::new));
    let Some(config) = reader.clone() else {
        return Vec::new();
    };
    match handshake(&origin.host, conn, config, left()).await {
        Ok(stream) => stream
            .get_ref()
            .1
            .peer_certificates()
            .unwrap_or_default()
            .to_vec(),
        Err(_) => Vec::new(),
    }
}

/// Any byte stream a request can go over: TCP, TLS to a proxy, a tunnel.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Conn = Box<dyn Io>;

/// A connection on which to talk to `origin`, as go would make it: straight
/// to it, or through the HTTP proxy go's rules pick (HTTPS_PROXY, NO_PROXY):
/// a CONNECT tunnel for https, the proxy itself for plain http, returned as
/// the second value (requests then name the whole URL). DNS and connect are
/// those of the proxy then, as they are for go.
async fn connect(
    origin: &Origin,
    lat: &mut Latency,
    left: impl Fn() -> Duration,
) -> Result<(Conn, Option<&'static ProxyUrl>), ErrorClass> {
    let Some(via) = crate::upstream::proxy_for(origin) else {
        let tcp = dial(&origin.host, origin.port, lat, &left).await?;
        return Ok((Box::new(tcp), None));
    };
    let tcp = dial(&via.host, via.port, lat, &left).await?;
    let to_proxy: Conn = if via.scheme == "https" {
        let config = tls_config().ok_or(ErrorClass::Tls)?;
        Box::new(handshake(&via.host, tcp, config, left()).await?)
    } else {
        Box::new(tcp)
    };
    if !origin.tls {
        return Ok((to_proxy, Some(via)));
    }
    match timeout(left(), tunnel(to_proxy, origin, via)).await {
        Err(_) => Err(ErrorClass::Timeout),
        Ok(tunnelled) => Ok((tunnelled?, None)),
    }
}

/// Asks the proxy for a tunnel to `origin` (CONNECT) and reads its answer.
async fn tunnel(mut conn: Conn, origin: &Origin, via: &ProxyUrl) -> Result<Conn, ErrorClass> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = host_port(origin);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &via.auth {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| io_class(&e))?;
    // Byte by byte: whatever follows the head belongs to the TLS handshake.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(ErrorClass::BadResponse);
        }
        match conn.read_u8().await {
            Ok(b) => head.push(b),
            Err(e) => return Err(io_class(&e)),
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(ErrorClass::BadResponse)?;
    match status {
        200..=299 => Ok(conn),
        code => Err(ErrorClass::ProxyTunnel(code)),
    }
}

/// Resolves the host and connects to its first address, timing both stages.
async fn dial(
    host: &str,
    port: u16,
    lat: &mut Latency,
    left: &impl Fn() -> Duration,
) -> Result<TcpStream, ErrorClass> {
    let t = Instant::now();
    let addrs = match timeout(left(), tokio::net::lookup_host((host, port))).await {
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

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    host: &str,
    stream: S,
    config: Arc<rustls::ClientConfig>,
    left: Duration,
) -> Result<tokio_rustls::client::TlsStream<S>, ErrorClass> {
    let name = ServerName::try_from(host.to_string()).map_err(|_| ErrorClass::Tls)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match timeout(left, connector.connect(name, stream)).await {
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

/// Sends the request over `stream` with hyper's HTTP/1.1 client connection and
/// reads the response head, and the body when `body_limit` asks for it.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    endpoint: &Endpoint,
    rel: &str,
    forward: Option<&ProxyUrl>,
    left: Duration,
    body_limit: Option<usize>,
) -> Result<Reply, ErrorClass> {
    let request = request(endpoint, rel, forward)?;
    let first_byte = Arc::new(OnceLock::new());
    let io = TokioIo::new(Timed {
        inner: stream,
        sent: None,
        first_byte: first_byte.clone(),
    });
    let exchanged = async {
        let (mut sender, conn) = http1::Builder::new()
            .title_case_headers(true)
            .max_buf_size(MAX_HEAD)
            .handshake::<_, Empty<Bytes>>(io)
            .await
            .map_err(|e| hyper_class(&e, Stage::Head))?;
        // Set once the head is in: whether the body is chunked. A framing
        // error ends the connection first, so its class needs the stage.
        let chunked = OnceLock::new();
        let stage = || {
            chunked
                .get()
                .map_or(Stage::Head, |&c| Stage::Body { chunked: c })
        };
        let answer = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| hyper_class(&e, Stage::Head))?;
            let status = response.status().as_u16();
            let _ = chunked.set(is_chunked(&response));
            let body = match body_limit {
                None => None,
                Some(limit) => Some(read_body(response, limit, stage()).await?),
            };
            Ok((status, body))
        };
        // The connection is driven only until the answer is in: no need to
        // read a body that was not asked for.
        tokio::pin!(conn, answer);
        tokio::select! {
            answered = &mut answer => answered,
            ended = &mut conn => match ended {
                Err(e) => Err(hyper_class(&e, stage())),
                Ok(()) => answer.await,
            },
        }
    };
    let (status, body) = match timeout(left, exchanged).await {
        Err(_) => return Err(ErrorClass::Timeout),
        Ok(r) => r?,
    };
    Ok(Reply {
        status,
        first_byte: first_byte.get().copied().unwrap_or_default(),
        body,
    })
}

/// The GET the relay would send: origin-form target, Host, and Authorization;
/// to a forward proxy (`forward`), the whole URL and Proxy-Authorization.
fn request(
    endpoint: &Endpoint,
    rel: &str,
    forward: Option<&ProxyUrl>,
) -> Result<Request<Empty<Bytes>>, ErrorClass> {
    let host = endpoint.origin().map(host_header).unwrap_or_default();
    let target = match forward {
        Some(_) => endpoint.url_for(rel),
        None => endpoint.target_for(rel),
    };
    let mut builder = Request::get(target)
        .header(header::HOST, host)
        .header(
            header::USER_AGENT,
            concat!("goshim/", env!("CARGO_PKG_VERSION")),
        )
        .header(header::ACCEPT, "*/*")
        .header(header::CONNECTION, "close");
    for (name, value) in endpoint.headers_for(rel) {
        builder = builder.header(name, value);
    }
    if let Some(auth) = forward.and_then(|p| p.auth.as_ref()) {
        builder = builder.header(header::PROXY_AUTHORIZATION, auth);
    }
    builder.body(Empty::new()).map_err(|_| ErrorClass::BadUrl)
}

fn is_chunked(response: &Response<Incoming>) -> bool {
    response
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .any(|v| v.as_bytes().to_ascii_lowercase().ends_with(b"chunked"))
}

/// Reads the whole body (hyper undoes the chunked or length framing).
async fn read_body(
    response: Response<Incoming>,
    limit: usize,
    stage: Stage,
) -> Result<Vec<u8>, ErrorClass> {
    let declared = response.headers().get(header::CONTENT_LENGTH);
    let declared: Option<usize> = declared.and_then(|v| v.to_str().ok()?.parse().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ErrorClass::BodyTooLarge);
    }
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| hyper_class(&e, stage))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ErrorClass::BodyTooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Where a hyper error happened, for its class.
#[derive(Clone, Copy)]
enum Stage {
    Head,
    Body { chunked: bool },
}

/// The class of a failed exchange: the transport's own error when there is
/// one, else what hyper says about the message.
fn hyper_class(e: &hyper::Error, stage: Stage) -> ErrorClass {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    let io = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>());
    let Some(io) = io else {
        return match stage {
            _ if e.is_parse() => ErrorClass::BadResponse,
            Stage::Head if e.is_incomplete_message() => ErrorClass::Eof,
            Stage::Body { .. } if e.is_incomplete_message() => ErrorClass::ShortBody,
            _ => ErrorClass::Io,
        };
    };
    match (stage, io.kind()) {
        (Stage::Body { .. }, UnexpectedEof) => ErrorClass::ShortBody,
        (Stage::Body { chunked: true }, InvalidData | InvalidInput) => ErrorClass::BadChunk,
        (Stage::Body { .. }, InvalidData | InvalidInput) => ErrorClass::BadResponse,
        _ => io_class(io),
    }
}

/// The stream, noting when the first response byte arrives after the
/// request went out: hyper reads and writes on its own, so the first-byte
/// time can only be taken here.
struct Timed<S> {
    inner: S,
    /// When the last request bytes were written.
    sent: Option<Instant>,
    first_byte: Arc<OnceLock<Duration>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before
            && let Some(sent) = self.sent
        {
            let _ = self.first_byte.set(sent.elapsed());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(_))) && self.first_byte.get().is_none() {
            self.sent = Some(Instant::now());
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn host_header(o: &Origin) -> String {
    let default = if o.tls { 443 } else { 80 };
    match o.port == default {
        true => bracketed(&o.host),
        false => host_port(o),
    }
}

/// `host:port`, an IPv6 host in brackets (a CONNECT target).
fn host_port(o: &Origin) -> String {
    format!("{}:{}", bracketed(&o.host), o.port)
}

fn bracketed(host: &str) -> String {
    match host.contains(':') {
        true => format!("[{host}]"),
        false => host.to_string(),
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
    use crate::go::proxy_list::Proxy;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The exchange against a server that reads the request, answers
    /// `response` and closes: the status and body, or the error class.
    fn answer(response: &'static [u8], limit: usize) -> Result<(u16, Vec<u8>), ErrorClass> {
        answer_after(Duration::ZERO, response, limit).map(|r| (r.status, r.body.unwrap()))
    }

    /// [`answer`], the server waiting `delay` before it answers.
    fn answer_after(
        delay: Duration,
        response: &'static [u8],
        limit: usize,
    ) -> Result<Reply, ErrorClass> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let proxy = Proxy {
            url: "https://u:p@127.0.0.1:8080/base?q=1".into(),
        };
        let endpoint = Endpoint::new(&proxy, &crate::upstream::goauth::Auth::none());
        rt.block_on(async {
            let (client, mut server) = tokio::io::duplex(64 * 1024);
            let serve = tokio::spawn(async move {
                let mut request = Vec::new();
                while !request.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8];
                    if server.read(&mut byte).await.unwrap() == 0 {
                        break;
                    }
                    request.push(byte[0]);
                }
                tokio::time::sleep(delay).await;
                server.write_all(response).await.unwrap();
                String::from_utf8(request).unwrap()
            });
            let reply = exchange(
                client,
                &endpoint,
                "m/@v/list",
                None,
                Duration::from_secs(5),
                Some(limit),
            )
            .await;
            let request = serve.await.unwrap();
            assert!(
                request.starts_with("GET /base/m/@v/list?q=1 HTTP/1.1\r\n"),
                "{request}"
            );
            assert!(request.contains("Host: 127.0.0.1:8080\r\n"), "{request}");
            assert!(
                request.contains("Authorization: Basic dTpw\r\n"),
                "{request}"
            );
            reply
        })
    }

    #[test]
    fn reads_bodies_by_length_chunks_or_end() {
        let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nv1.0.0\n\r\n7;ext=1\r\nv1.1.0\n\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(
            answer(chunked, 100).unwrap(),
            (200, b"v1.0.0\nv1.1.0\n".to_vec())
        );
        assert_eq!(answer(chunked, 10), Err(ErrorClass::BodyTooLarge));
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nv1.0";
        assert_eq!(answer(cut, 100), Err(ErrorClass::ShortBody));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(answer(bad, 100), Err(ErrorClass::BadChunk));
        let sized = b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nabcd";
        assert_eq!(answer(sized, 100).unwrap(), (404, b"abcd".to_vec()));
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab";
        assert_eq!(answer(short, 100), Err(ErrorClass::ShortBody));
        assert_eq!(answer(sized, 3), Err(ErrorClass::BodyTooLarge));
        let open = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
        assert_eq!(answer(open, 100).unwrap(), (200, b"until the end".to_vec()));
    }

    #[test]
    fn classifies_broken_answers() {
        assert_eq!(answer(b"", 100), Err(ErrorClass::Eof));
        assert_eq!(
            answer(b"SSH-2.0-OpenSSH\r\n\r\n", 100),
            Err(ErrorClass::BadResponse)
        );
        let huge: &'static [u8] = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD))
            .leak()
            .as_bytes();
        assert_eq!(answer(huge, 100), Err(ErrorClass::BadResponse));
    }

    #[test]
    fn times_the_first_byte() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let reply = answer_after(Duration::from_millis(50), ok, 100).unwrap();
        assert!(
            reply.first_byte >= Duration::from_millis(50),
            "{:?}",
            reply.first_byte
        );
    }
}

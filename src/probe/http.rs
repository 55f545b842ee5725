//! One GET with every stage timed: DNS, connect, TLS, first byte.
//!
//! Hand-written HTTP/1.1 on tokio + rustls rather than a full client, because the
//! per-stage timings are the point of a probe and a pooled client hides them.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::basic_auth;
use crate::health::snapshot::Latency;

/// Where a proxy lives, split out of its URL.
#[derive(Debug, Clone)]
pub struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path prefix without trailing slash, e.g. "/goproxy".
    prefix: String,
    /// Query string to repeat on every request (tokens), without '?'.
    query: Option<String>,
    /// `Authorization: Basic` value from userinfo.
    basic_auth: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
        let tls = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(format!("unsupported scheme {scheme}")),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_string())),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, if tls { 443 } else { 80 })?;
        Ok(Target {
            tls,
            host,
            port,
            prefix: path.trim_end_matches('/').to_string(),
            query,
            // Like go, never send credentials over plain http.
            basic_auth: userinfo.filter(|_| tls).map(basic_auth::from_userinfo),
        })
    }

    /// The request path for a proxy-relative path like "/golang.org/x/text/@v/list".
    fn request_path(&self, rel: &str) -> String {
        match &self.query {
            Some(q) => format!("{}{rel}?{q}", self.prefix),
            None => format!("{}{rel}", self.prefix),
        }
    }
}

fn split_host_port(hostport: &str, default: u16) -> Result<(String, u16), String> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("bad IPv6 host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "bad port")?,
            None => default,
        };
        return Ok((host.to_string(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), p.parse().map_err(|_| "bad port")?)),
        None if hostport.is_empty() => Err("no host".into()),
        None => Ok((hostport.to_string(), default)),
    }
}

/// A finished exchange: the status and how long each stage took.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub latency: Latency,
}

/// A failed exchange: the error class and the stages measured before it failed.
#[derive(Debug)]
pub struct Failure {
    pub class: String,
    pub latency: Latency,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// GETs `rel` from the proxy within `deadline`, timing each stage.
pub async fn get(target: &Target, rel: &str, deadline: Duration) -> Result<Answer, Failure> {
    let start = Instant::now();
    let mut lat = Latency::default();
    let fail = |class: &str, lat: &Latency| Failure {
        class: class.to_string(),
        latency: Latency {
            total_ms: ms(start.elapsed()),
            ..lat.clone()
        },
    };
    let left = || deadline.saturating_sub(start.elapsed());

    let t = Instant::now();
    let addrs = match timeout(
        left(),
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await
    {
        Err(_) => return Err(fail("dns_timeout", &lat)),
        Ok(Err(_)) => return Err(fail("dns", &lat)),
        Ok(Ok(a)) => a.collect::<Vec<_>>(),
    };
    lat.dns_ms = Some(ms(t.elapsed()));
    let Some(addr) = addrs.first().copied() else {
        return Err(fail("dns", &lat));
    };

    let t = Instant::now();
    let tcp = match timeout(left(), TcpStream::connect(addr)).await {
        Err(_) => return Err(fail("connect_timeout", &lat)),
        Ok(Err(e)) => return Err(fail(io_class(&e), &lat)),
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    lat.connect_ms = Some(ms(t.elapsed()));

    let result = if target.tls {
        let t = Instant::now();
        let name = ServerName::try_from(target.host.clone()).map_err(|_| fail("tls", &lat))?;
        let connector = tokio_rustls::TlsConnector::from(tls_config());
        let stream = match timeout(left(), connector.connect(name, tcp)).await {
            Err(_) => return Err(fail("tls_timeout", &lat)),
            Ok(Err(e)) => return Err(fail(tls_class(&e), &lat)),
            Ok(Ok(s)) => s,
        };
        lat.tls_ms = Some(ms(t.elapsed()));
        exchange(stream, target, rel, start, deadline).await
    } else {
        exchange(tcp, target, rel, start, deadline).await
    };
    match result {
        Ok((status, first_byte)) => {
            lat.first_byte_ms = Some(ms(first_byte));
            lat.total_ms = ms(start.elapsed());
            Ok(Answer {
                status,
                latency: lat,
            })
        }
        Err(class) => Err(fail(class, &lat)),
    }
}

/// Sends the request and reads up to the status line. Returns the status and
/// the time from sending to the first response byte.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &Target,
    rel: &str,
    start: Instant,
    deadline: Duration,
) -> Result<(u16, Duration), &'static str> {
    let left = || deadline.saturating_sub(start.elapsed());
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: goshim/{}\r\nAccept: */*\r\nConnection: close\r\n",
        target.request_path(rel),
        host_header(target),
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(auth) = &target.basic_auth {
        req.push_str(&format!("Authorization: Basic {auth}\r\n"));
    }
    req.push_str("\r\n");
    match timeout(left(), stream.write_all(req.as_bytes())).await {
        Err(_) => return Err("timeout"),
        Ok(Err(e)) => return Err(io_class(&e)),
        Ok(Ok(())) => {}
    }
    let sent = Instant::now();
    let mut head = Vec::with_capacity(256);
    let mut first_byte = None;
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = match timeout(left(), stream.read(&mut buf)).await {
            Err(_) => return Err("timeout"),
            Ok(Err(e)) => return Err(io_class(&e)),
            Ok(Ok(0)) => return Err("eof"),
            Ok(Ok(n)) => n,
        };
        first_byte.get_or_insert_with(|| sent.elapsed());
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            return Err("bad_response");
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or("bad_response")?;
    Ok((status, first_byte.unwrap_or_default()))
}

fn host_header(t: &Target) -> String {
    let default = if t.tls { 443 } else { 80 };
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    if t.port == default {
        host
    } else {
        format!("{host}:{}", t.port)
    }
}

fn io_class(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "refused",
        ConnectionReset | ConnectionAborted | BrokenPipe => "reset",
        TimedOut => "timeout",
        UnexpectedEof => "eof",
        _ => "io",
    }
}

fn tls_class(e: &std::io::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("certificate") || text.contains("Certificate") {
        "tls_certificate"
    } else {
        "tls"
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| Arc::new(crate::tls::client_config(&[b"http/1.1"])))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let t =
            Target::parse("https://us%40r:p%3Ass@mirror.example:8443/goproxy/?token=x").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("mirror.example", 8443));
        assert_eq!(t.request_path("/m/@v/list"), "/goproxy/m/@v/list?token=x");
        assert_eq!(t.basic_auth.as_deref(), Some("dXNAcjpwOnNz"));
        let t = Target::parse("http://u:p@127.0.0.1:9/").unwrap();
        assert_eq!(t.request_path("/x"), "/x");
        assert_eq!(t.basic_auth, None);
        assert!(Target::parse("ftp://x").is_err());
    }
}

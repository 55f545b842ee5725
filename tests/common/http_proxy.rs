//! A company's HTTP proxy on 127.0.0.1, as HTTPS_PROXY / HTTP_PROXY name it:
//! CONNECT tunnels for https, absolute-form requests forwarded for plain
//! http, optionally only with the right `Proxy-Authorization` (407 to the
//! others). It resolves the host names it is given itself (`route`), so a
//! mirror called `mirror.goshim.test` is reachable only through it, as an
//! internal mirror behind a company proxy is. It logs what it carried.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One request the proxy received: `CONNECT host:port` or `GET http://...`.
#[derive(Debug, Clone)]
pub struct Carried {
    pub method: String,
    pub target: String,
    /// Whether it carried the expected `Proxy-Authorization` (or none was needed).
    pub allowed: bool,
}

struct State {
    routes: HashMap<String, SocketAddr>,
    expected: Option<String>,
    log: Mutex<Vec<Carried>>,
}

pub struct HttpProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    state: Arc<State>,
}

impl HttpProxy {
    /// A proxy that knows these names (`host` → where it really is).
    pub fn start(routes: &[(&str, SocketAddr)]) -> HttpProxy {
        HttpProxy::start_with(routes, None)
    }

    /// The same, answering 407 without `Proxy-Authorization: <authorization>`.
    pub fn requiring(routes: &[(&str, SocketAddr)], authorization: &str) -> HttpProxy {
        HttpProxy::start_with(routes, Some(authorization.to_string()))
    }

    fn start_with(routes: &[(&str, SocketAddr)], expected: Option<String>) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State {
            routes: routes.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            expected,
            log: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (stop, state) = (stop.clone(), state.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = state.clone();
                            thread::spawn(move || serve(stream, &state));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            super::proxy::wait_for_connection(&listener, Duration::from_millis(20))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        HttpProxy {
            addr,
            stop,
            acceptor: Some(acceptor),
            state,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn carried(&self) -> Vec<Carried> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests it carried through (allowed) whose target contains `needle`.
    pub fn carried_to(&self, needle: &str) -> usize {
        self.carried()
            .iter()
            .filter(|c| c.allowed && c.target.contains(needle))
            .count()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// Reads a request or response head (up to the blank line) byte by byte, so
/// that nothing after it is consumed.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    String::from_utf8(head).ok()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// host:port (`[v6]:port`) → where to connect: a known name's address, else itself.
fn resolve(state: &State, hostport: &str) -> Option<SocketAddr> {
    let (host, port) = hostport.rsplit_once(':')?;
    match state.routes.get(host) {
        Some(addr) => Some(*addr),
        None => {
            let port: u16 = port.parse().ok()?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Some(SocketAddr::new(host.parse().ok()?, port))
        }
    }
}

fn serve(mut client: TcpStream, state: &State) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let mut first = head.split_whitespace();
    let (method, target) = (
        first.next().unwrap_or("").to_string(),
        first.next().unwrap_or("").to_string(),
    );
    let allowed = match &state.expected {
        None => true,
        Some(want) => header(&head, "proxy-authorization") == Some(want.as_str()),
    };
    state.log.lock().unwrap().push(Carried {
        method: method.clone(),
        target: target.clone(),
        allowed,
    });
    if !allowed {
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    if method == "CONNECT" {
        let Some(upstream) = resolve(state, &target).and_then(|a| TcpStream::connect(a).ok())
        else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        pipe(client, upstream);
        return;
    }
    // A forwarded plain-http request: one per connection.
    let Some(rest) = target.strip_prefix("http://") else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let Some(mut upstream) = resolve(state, &hostport).and_then(|a| TcpStream::connect(a).ok())
    else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    for line in head.lines().skip(1).filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("proxy-authorization")
            && !name.eq_ignore_ascii_case("connection")
        {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // The answer, told to close: the next request may be for another host.
    let Some(answer) = read_head(&mut upstream) else {
        return;
    };
    let mut out = String::new();
    for line in answer.lines().filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("connection") || !line.contains(':') {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    if client.write_all(out.as_bytes()).is_ok() {
        let _ = std::io::copy(&mut upstream, &mut client);
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Copies both ways until either side closes.
fn pipe(client: TcpStream, upstream: TcpStream) {
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let (mut client, mut upstream) = (client, upstream);
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

//! A minimal HTTPS GOPROXY on 127.0.0.1 with a certificate the test makes
//! (rcgen): valid (signed by a test CA the client trusts via SSL_CERT_FILE),
//! expired, or self-signed. It answers `@v/list` and `/sumdb/.../supported`
//! from a [`ModTree`]'s files, one request per connection; optionally only to
//! requests with the right `Authorization` header (401 to the others).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::modtree::ModTree;

/// A test CA: its certificate goes into the client's SSL_CERT_FILE.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

/// A certificate and key for the server.
pub struct ServerCert {
    pub chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "goshim tests");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).expect("self-sign CA").pem();
        TestCa { params, key, pem }
    }

    /// A leaf for 127.0.0.1 valid from `not_before` to `not_after` (year, month, day).
    pub fn leaf(&self, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> ServerCert {
        self.leaf_with(leaf_params(not_before, not_after))
    }

    /// A leaf valid now for 127.0.0.1 and these host names too.
    pub fn leaf_for(&self, names: &[&str]) -> ServerCert {
        let mut params = leaf_params((2020, 1, 1), (2040, 1, 1));
        for name in names {
            let name = rcgen::string::Ia5String::try_from(*name).expect("DNS name");
            params.subject_alt_names.push(rcgen::SanType::DnsName(name));
        }
        self.leaf_with(params)
    }

    fn leaf_with(&self, params: CertificateParams) -> ServerCert {
        let key = KeyPair::generate().expect("leaf key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign leaf");
        ServerCert {
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    }
}

/// A self-signed leaf for 127.0.0.1 that nobody trusts.
pub fn self_signed(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> ServerCert {
    let key = KeyPair::generate().expect("key");
    let mut params = leaf_params(not_before, not_after);
    params
        .distinguished_name
        .push(DnType::CommonName, "goshim self-signed");
    let cert = params.self_signed(&key).expect("self-sign");
    ServerCert {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
    }
}

fn leaf_params(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    params
}

/// What a proxy requires and what it answered.
#[derive(Default)]
struct Gate {
    /// The `Authorization` value a request needs (None: any request is served).
    expected: Option<String>,
    /// Requests answered with their file, or 404.
    served: AtomicUsize,
    /// Requests answered 401.
    rejected: AtomicUsize,
}

/// A running HTTPS proxy; stops when dropped.
pub struct TlsProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    gate: Arc<Gate>,
}

impl TlsProxy {
    pub fn start(cert: &ServerCert, tree: &ModTree) -> TlsProxy {
        TlsProxy::start_gated(cert, tree, None)
    }

    /// A proxy that answers 401 unless the request's `Authorization` header is `authorization`.
    pub fn requiring(cert: &ServerCert, tree: &ModTree, authorization: &str) -> TlsProxy {
        TlsProxy::start_gated(cert, tree, Some(authorization.to_string()))
    }

    fn start_gated(cert: &ServerCert, tree: &ModTree, expected: Option<String>) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(cert.chain.clone(), key)
            .expect("server certificate");
        let config = Arc::new(config);
        let files = Arc::new(tree.proxy_files());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Gate {
            expected,
            ..Gate::default()
        });
        let acceptor = {
            let (stop, gate) = (stop.clone(), gate.clone());
            thread::spawn(move || {
                let mut conns: Vec<JoinHandle<()>> = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (config, files) = (config.clone(), files.clone());
                            let gate = gate.clone();
                            conns.push(thread::spawn(move || serve(stream, config, &files, &gate)));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            super::proxy::wait_for_connection(&listener, Duration::from_millis(20))
                        }
                        // Out of descriptors, say: a pending connection would
                        // make poll return at once, so sleep instead.
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            })
        };
        TlsProxy {
            addr,
            stop,
            acceptor: Some(acceptor),
            gate,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered with a file or 404 so far.
    pub fn served(&self) -> usize {
        self.gate.served.load(Ordering::SeqCst)
    }

    /// Requests answered 401 so far.
    pub fn rejected(&self) -> usize {
        self.gate.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    files: &BTreeMap<String, Vec<u8>>,
    gate: &Gate,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return, // e.g. the client rejected the certificate
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let authorization = text.lines().skip(1).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim())
    });
    let allowed = gate.expected.is_none() || gate.expected.as_deref() == authorization;
    let counter = if allowed {
        &gate.served
    } else {
        &gate.rejected
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let (status, body): (&str, Vec<u8>) = match files.get(rel) {
        _ if !allowed => ("401 Unauthorized", b"unauthorized\n".to_vec()),
        Some(data) => ("200 OK", data.clone()),
        None if rel.starts_with("sumdb/") && rel.ends_with("/supported") => ("200 OK", Vec::new()),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let _ = write!(
        tls,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tls.write_all(&body);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

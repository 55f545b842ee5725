//! The one TLS client setup used to reach proxies (probes, relay, doctor):
//! rustls with ring, trusting the web PKI roots and every root go trusts
//! (see [`roots`](super::roots)).

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

use super::roots::Store;

/// A client config offering the given ALPN protocols (None only if ring
/// cannot do the default TLS versions, which it always can).
pub fn client_config(alpn: &[&[u8]]) -> Option<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebRootsThenGo {
        web: verifier(web_roots(), &provider)?,
        go: OnceLock::new(),
        provider: provider.clone(),
    };
    with_verifier(provider, Arc::new(verifier), alpn)
}

/// A client config with this verifier, offering these ALPN protocols.
fn with_verifier(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    alpn: &[&[u8]],
) -> Option<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Some(config)
}

fn web_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn verifier(
    roots: rustls::RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .ok()
}

/// Verifies against the web PKI roots first, then against the roots go
/// trusts (the system store, SSL_CERT_FILE, SSL_CERT_DIR; the keychain or
/// CryptoAPI on macOS and Windows), read only when a chain leads to none of
/// the web roots: parsing a system store (~140 certificates, twice on Debian:
/// the bundle and the folder) costs milliseconds, which the relay would
/// otherwise add to every go call that fetches. Where there is no store at
/// all (a scratch image), the web roots still work.
#[derive(Debug)]
struct WebRootsThenGo {
    web: Arc<WebPkiServerVerifier>,
    go: OnceLock<Option<Arc<dyn ServerCertVerifier>>>,
    provider: Arc<CryptoProvider>,
}

impl WebRootsThenGo {
    /// The verifier with go's roots; None when they add nothing to the web roots.
    fn go(&self) -> Option<&Arc<dyn ServerCertVerifier>> {
        self.go
            .get_or_init(|| match super::root_store() {
                Store::Platform => {
                    let v = rustls_platform_verifier::Verifier::new(self.provider.clone()).ok()?;
                    Some(Arc::new(v) as Arc<dyn ServerCertVerifier>)
                }
                Store::OnDisk(on_disk) => {
                    let mut roots = web_roots();
                    let before = roots.len();
                    let (_added, _ignored) =
                        roots.add_parsable_certificates(on_disk.certificates());
                    (roots.len() > before)
                        .then(|| verifier(roots, &self.provider))
                        .flatten()
                        .map(|v| v as Arc<dyn ServerCertVerifier>)
                }
            })
            .as_ref()
    }
}

impl ServerCertVerifier for WebRootsThenGo {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Any certificate error may be one go's roots resolve (an expired
        // old root next to a renewed one in the store); the second verifier is
        // a complete verifier, so nothing is accepted it would not.
        let web =
            self.web
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match web {
            Err(e @ rustls::Error::InvalidCertificate(_)) => match self.go() {
                Some(v) => {
                    v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                }
                None => Err(e),
            },
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.web.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.web.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.web.supported_verify_schemes()
    }
}

/// A client config whose verifier accepts any certificate chain (handshake
/// signatures are still checked). Only for reading the chain a server presents
/// after verification with [`client_config`] failed, so that `goshim doctor`
/// can say who issued it and when it expires: never send a request over it.
pub fn certificate_reader_config() -> Option<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyChain(provider.clone()));
    with_verifier(provider, verifier, &[b"http/1.1"])
}

#[derive(Debug)]
struct AcceptAnyChain(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

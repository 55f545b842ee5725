//! The one TLS client setup used to reach proxies (probes and relay):
//! rustls with ring, web PKI roots plus the PEM bundle in SSL_CERT_FILE.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::settings::vars::{self, Env};

/// SSL_CERT_FILE, taken from the environment once at start-up ([`init`]).
/// A global like the logger's switch: the TLS setup is built deep inside
/// the probes and the relay, which have no `Env` to hand.
static CERT_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remembers SSL_CERT_FILE for every TLS client config built later (first call wins).
pub fn init(process: &Env) {
    let file = process.get_os(vars::SSL_CERT_FILE).map(PathBuf::from);
    let _ = CERT_FILE.set(file);
}

/// A client config offering the given ALPN protocols (None only if ring
/// cannot do the default TLS versions, which it always can).
pub fn client_config(alpn: &[&[u8]]) -> Option<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebRootsThenBundle {
        web: verifier(web_roots(), &provider)?,
        with_bundle: OnceLock::new(),
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

/// Verifies against the web PKI roots first; the PEM bundle in SSL_CERT_FILE
/// (a company CA, a mirror's private CA) is read only when a chain leads to
/// none of them. Parsing a system bundle (~140 certificates) costs about 4 ms,
/// which the relay would otherwise add to every go call that fetches.
#[derive(Debug)]
struct WebRootsThenBundle {
    web: Arc<WebPkiServerVerifier>,
    with_bundle: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
    provider: Arc<CryptoProvider>,
}

impl WebRootsThenBundle {
    /// Web roots plus the bundle; None when SSL_CERT_FILE adds nothing.
    fn with_bundle(&self) -> Option<&Arc<WebPkiServerVerifier>> {
        self.with_bundle
            .get_or_init(|| {
                let file = CERT_FILE.get()?.as_ref()?;
                let mut roots = web_roots();
                let before = roots.len();
                for cert in CertificateDer::pem_file_iter(file).ok()?.flatten() {
                    let _ = roots.add(cert);
                }
                (roots.len() > before)
                    .then(|| verifier(roots, &self.provider))
                    .flatten()
            })
            .as_ref()
    }
}

impl ServerCertVerifier for WebRootsThenBundle {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |v: &WebPkiServerVerifier| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        // Any certificate error may be one the bundle resolves (an expired
        // old root next to a renewed one in the bundle); the bundle verifier
        // is a complete web PKI verifier, so nothing is accepted it would not.
        match verify(&self.web) {
            Err(e @ rustls::Error::InvalidCertificate(_)) => match self.with_bundle() {
                Some(v) => verify(v),
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

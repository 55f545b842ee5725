//! One vocabulary for what went wrong with an upstream proxy, shared by the
//! relay, the probes and the reading of go's stderr. The serialized names
//! (`timeout`, `http_502`, ...) are what health.json, `goshim status`, the
//! doctor's JSON and the metrics have always shown.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// No response headers within the response deadline.
    Timeout,
    /// No TCP connection within the connect deadline.
    ConnectTimeout,
    Refused,
    Reset,
    Dns,
    TlsCertificate,
    /// Another connection failure.
    Connect,
    /// Another transport failure.
    Io,
    /// An error status: 5xx and 429 are transient, others are answers.
    Http(u16),
    /// A body that stopped arriving for the stall deadline.
    Stall,
    /// A body that ended before its Content-Length.
    ShortBody,
    /// A `.zip` body that is not a whole zip.
    BadZip,
    /// go rejected what this upstream served.
    BadContent,
    /// A second copy of a body that disagrees with the first.
    Mismatch,
    /// go's `unexpected EOF` on a body.
    Eof,
    /// An HTTP/2 stream error.
    StreamError,
    /// No DNS answer within the deadline (probes).
    DnsTimeout,
    /// No TLS handshake within the deadline (probes).
    TlsTimeout,
    /// A TLS handshake that failed for another reason than the certificate.
    Tls,
    TlsCertExpired,
    TlsCertNotYetValid,
    /// Issued by no trusted CA (unknown issuer, bad signature).
    TlsCertUntrusted,
    /// Not valid for the proxy's host name.
    TlsCertName,
    /// An answer that is not HTTP/1.x (probes).
    BadResponse,
    /// Broken chunked encoding (probes).
    BadChunk,
    /// A body larger than the probe reads.
    BodyTooLarge,
    /// A proxy URL the probes cannot use (no http(s) scheme, host or port).
    BadUrl,
    /// The HTTP proxy (HTTPS_PROXY) answered CONNECT with this status, not 200.
    ProxyTunnel(u16),
    /// 404/410 for a module other proxies serve: a dead mirror (the probes'
    /// circuit breaker).
    Gone,
}

impl ErrorClass {
    /// The serialized name.
    pub fn name(self) -> String {
        let fixed = match self {
            ErrorClass::Http(code) => return format!("http_{code}"),
            ErrorClass::ProxyTunnel(code) => return format!("proxy_tunnel_{code}"),
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Refused => "refused",
            ErrorClass::Reset => "reset",
            ErrorClass::Dns => "dns",
            ErrorClass::TlsCertificate => "tls_certificate",
            ErrorClass::Connect => "connect",
            ErrorClass::Io => "io",
            ErrorClass::Stall => "stall",
            ErrorClass::ShortBody => "short_body",
            ErrorClass::BadZip => "bad_zip",
            ErrorClass::BadContent => "bad_content",
            ErrorClass::Mismatch => "mismatch",
            ErrorClass::Eof => "eof",
            ErrorClass::StreamError => "stream_error",
            ErrorClass::DnsTimeout => "dns_timeout",
            ErrorClass::TlsTimeout => "tls_timeout",
            ErrorClass::Tls => "tls",
            ErrorClass::TlsCertExpired => "tls_cert_expired",
            ErrorClass::TlsCertNotYetValid => "tls_cert_not_yet_valid",
            ErrorClass::TlsCertUntrusted => "tls_cert_untrusted",
            ErrorClass::TlsCertName => "tls_cert_name",
            ErrorClass::BadResponse => "bad_response",
            ErrorClass::BadChunk => "bad_chunk",
            ErrorClass::BodyTooLarge => "body_too_large",
            ErrorClass::BadUrl => "bad_url",
            ErrorClass::Gone => "gone",
        };
        fixed.to_string()
    }

    /// Worth trying another upstream or another run (unlike 401/403/404).
    pub fn is_transient(self) -> bool {
        match self {
            ErrorClass::Http(code) => code == 429 || (500..=599).contains(&code),
            other => !other.is_permanent(),
        }
    }

    /// Will not go away by itself: a dead mirror, a bad URL, a certificate.
    pub fn is_permanent(self) -> bool {
        matches!(self, ErrorClass::Gone | ErrorClass::BadUrl) || self.is_certificate()
    }

    /// The TLS handshake failed (or timed out), whatever the reason.
    pub fn is_tls(self) -> bool {
        matches!(self, ErrorClass::Tls | ErrorClass::TlsTimeout) || self.is_certificate()
    }

    /// The server's certificate was rejected.
    pub fn is_certificate(self) -> bool {
        matches!(
            self,
            ErrorClass::TlsCertificate
                | ErrorClass::TlsCertExpired
                | ErrorClass::TlsCertNotYetValid
                | ErrorClass::TlsCertUntrusted
                | ErrorClass::TlsCertName
        )
    }

    /// Evidence that the upstream cannot serve at all right now (not just one
    /// bad answer): the relay stops sending it requests for a while.
    pub fn means_down(self) -> bool {
        matches!(
            self,
            ErrorClass::Timeout
                | ErrorClass::ConnectTimeout
                | ErrorClass::Refused
                | ErrorClass::Dns
                | ErrorClass::TlsCertificate
                | ErrorClass::Connect
                | ErrorClass::Stall
                | ErrorClass::DnsTimeout
                | ErrorClass::TlsTimeout
                | ErrorClass::Tls
                | ErrorClass::BadUrl
        ) || self.is_certificate()
    }

    /// What the upstream did, for a person: `deadlines` gives the waits.
    pub fn describe(self, response: Duration, stall: Duration) -> String {
        let secs = |d: Duration| format!("{:.3}", d.as_secs_f64());
        let secs = |d: Duration| {
            secs(d)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        };
        match self {
            ErrorClass::Http(code) => format!("answered {code} {}", reason(code)),
            ErrorClass::Timeout => format!("sent no response within {} s", secs(response)),
            ErrorClass::ConnectTimeout => "did not accept a connection in time".into(),
            ErrorClass::Refused => "refused the connection".into(),
            ErrorClass::Reset => "reset the connection".into(),
            ErrorClass::Dns => "host name not found (DNS)".into(),
            ErrorClass::TlsCertificate => "presented a certificate that is not trusted".into(),
            ErrorClass::Connect => "could not be connected to".into(),
            ErrorClass::Io => "failed in transfer".into(),
            ErrorClass::Stall => format!("stopped sending the body for {} s", secs(stall)),
            ErrorClass::ShortBody | ErrorClass::Eof => "cut the body short".into(),
            ErrorClass::BadZip => "sent a broken zip".into(),
            ErrorClass::BadContent => "sent content go rejected".into(),
            ErrorClass::Mismatch => "sent a different body than another proxy".into(),
            ErrorClass::StreamError => "broke an HTTP/2 stream".into(),
            ErrorClass::DnsTimeout => "host name not resolved in time (DNS)".into(),
            ErrorClass::TlsTimeout => "did not complete the TLS handshake in time".into(),
            ErrorClass::Tls => "failed the TLS handshake".into(),
            ErrorClass::TlsCertExpired => "presented an expired certificate".into(),
            ErrorClass::TlsCertNotYetValid => "presented a certificate not valid yet".into(),
            ErrorClass::TlsCertUntrusted => "presented a certificate from no trusted CA".into(),
            ErrorClass::TlsCertName => "presented a certificate for another name".into(),
            ErrorClass::BadResponse => "answered something that is not HTTP".into(),
            ErrorClass::BadChunk => "sent broken chunked encoding".into(),
            ErrorClass::BodyTooLarge => "sent a body too large to read".into(),
            ErrorClass::BadUrl => "has a URL goshim cannot use".into(),
            ErrorClass::Gone => "lacks modules other proxies serve".into(),
            ErrorClass::ProxyTunnel(code) => {
                format!(
                    "could not be reached: the HTTP proxy answered {code} {}",
                    reason(code)
                )
            }
        }
    }
}

fn reason(code: u16) -> &'static str {
    hyper::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// As the serialized name (the doctor's JSON).
impl Serialize for ErrorClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names health.json, status, doctor and metrics have always shown.
    #[test]
    fn serialized_names_are_stable_and_distinct() {
        let table = [
            (ErrorClass::Timeout, "timeout"),
            (ErrorClass::ConnectTimeout, "connect_timeout"),
            (ErrorClass::Refused, "refused"),
            (ErrorClass::Reset, "reset"),
            (ErrorClass::Dns, "dns"),
            (ErrorClass::TlsCertificate, "tls_certificate"),
            (ErrorClass::Connect, "connect"),
            (ErrorClass::Io, "io"),
            (ErrorClass::Http(502), "http_502"),
            (ErrorClass::Stall, "stall"),
            (ErrorClass::ShortBody, "short_body"),
            (ErrorClass::BadZip, "bad_zip"),
            (ErrorClass::BadContent, "bad_content"),
            (ErrorClass::Mismatch, "mismatch"),
            (ErrorClass::Eof, "eof"),
            (ErrorClass::StreamError, "stream_error"),
            (ErrorClass::DnsTimeout, "dns_timeout"),
            (ErrorClass::TlsTimeout, "tls_timeout"),
            (ErrorClass::Tls, "tls"),
            (ErrorClass::TlsCertExpired, "tls_cert_expired"),
            (ErrorClass::TlsCertNotYetValid, "tls_cert_not_yet_valid"),
            (ErrorClass::TlsCertUntrusted, "tls_cert_untrusted"),
            (ErrorClass::TlsCertName, "tls_cert_name"),
            (ErrorClass::BadResponse, "bad_response"),
            (ErrorClass::BadChunk, "bad_chunk"),
            (ErrorClass::BodyTooLarge, "body_too_large"),
            (ErrorClass::BadUrl, "bad_url"),
            (ErrorClass::Gone, "gone"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (class, name) in table {
            assert_eq!(class.name(), name);
            assert!(seen.insert(name), "{name} twice");
        }
        assert_eq!(
            serde_json::to_string(&ErrorClass::TlsCertName).unwrap(),
            "\"tls_cert_name\""
        );
    }

    #[test]
    fn describes_for_people() {
        let d = Duration::from_secs(15);
        assert_eq!(
            ErrorClass::Http(503).describe(d, d),
            "answered 503 Service Unavailable"
        );
        assert_eq!(
            ErrorClass::Timeout.describe(Duration::from_millis(1500), d),
            "sent no response within 1.5 s"
        );
        assert!(ErrorClass::Http(503).is_transient());
        assert!(!ErrorClass::Http(403).is_transient());
        assert!(ErrorClass::Refused.means_down() && !ErrorClass::Http(503).means_down());
        assert!(ErrorClass::TlsCertificate.is_permanent() && ErrorClass::Gone.is_permanent());
        assert!(ErrorClass::TlsTimeout.is_tls() && !ErrorClass::TlsTimeout.is_permanent());
    }
}

//! One upstream proxy as goshim reaches it, parsed once from a GOPROXY entry:
//! where requests go and which `Authorization` header they carry. The relay
//! and the probes both build their requests from it, so a proxy that needs
//! credentials (from the URL or `.netrc`) gets the same ones from both, and a
//! probe does not report down a proxy that go reaches fine.

pub mod basic_auth;
pub mod http_proxy;
pub mod netrc;
pub mod roots;
pub mod tls;

use std::fmt;
use std::sync::OnceLock;

use crate::go::proxy_list::{Proxy, UrlParts};
use crate::settings::vars::Env;

/// The process environment, for the settings every upstream connection
/// needs: the roots go trusts and the proxies go uses. Only the reference is
/// kept at start-up; they are read when goshim first connects upstream, which
/// most go commands never do. A global like the logger's switch: the clients
/// are built deep inside the probes and the relay, which have no `Env` to hand.
static PROCESS: OnceLock<&'static Env> = OnceLock::new();

/// Remembers the environment for [`proxy_rules`] and [`tls`] (first call wins).
pub fn init(process: &'static Env) {
    let _ = PROCESS.set(process);
}

/// HTTP(S)_PROXY and NO_PROXY as go reads them, parsed on first use.
fn proxy_rules() -> &'static http_proxy::Rules {
    static RULES: OnceLock<http_proxy::Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        PROCESS
            .get()
            .map(|p| http_proxy::Rules::from_env(p))
            .unwrap_or_default()
    })
}

/// Where go's roots are (SSL_CERT_FILE, SSL_CERT_DIR, the system store).
fn root_store() -> roots::Store {
    let var = |name| PROCESS.get().and_then(|p| p.get_os(name));
    roots::go_store(
        var(crate::settings::vars::SSL_CERT_FILE),
        var(crate::settings::vars::SSL_CERT_DIR),
    )
}

/// The HTTP proxy go would send a request for `origin` through, if any.
pub fn proxy_for(origin: &Origin) -> Option<&'static http_proxy::ProxyUrl> {
    let scheme = if origin.tls { "https" } else { "http" };
    proxy_rules().proxy_for(scheme, &origin.host, origin.port)
}

/// The same for a URL's parts (the relay's client asks with reqwest's URL).
pub fn proxy_for_url(scheme: &str, host: &str, port: u16) -> Option<&'static http_proxy::ProxyUrl> {
    proxy_rules().proxy_for(scheme, host, port)
}

/// Where the probes' own HTTP client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub tls: bool,
    /// Without the brackets of an IPv6 address.
    pub host: String,
    pub port: u16,
}

#[derive(Clone)]
pub struct Endpoint {
    /// Redacted URL: for logs, health and error messages.
    pub key: String,
    /// `scheme://host[:port]`, without userinfo.
    authority: String,
    /// The URL's path ("" or "/prefix", no trailing slash).
    path: String,
    /// Repeated on every request (it may hold a token), without '?'.
    query: Option<String>,
    /// `Authorization` header value, from userinfo or netrc.
    pub auth: Option<String>,
    /// None when the URL is not http(s) with a host and a valid port.
    origin: Option<Origin>,
}

impl Endpoint {
    /// `logins`: the netrc entries (see [`netrc::load`]), used when the URL has no userinfo.
    pub fn new(proxy: &Proxy, logins: &[(String, netrc::Login)]) -> Endpoint {
        let parts = UrlParts::parse(&proxy.url);
        let scheme = parts.scheme.unwrap_or("https");
        let hostport = parts.hostport;
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        // Like go: credentials only over https.
        let auth = (scheme == "https")
            .then(|| {
                parts.userinfo.map(basic_auth::from_userinfo).or_else(|| {
                    netrc::find(logins, host).map(|l| basic_auth::from_login(&l.user, &l.password))
                })
            })
            .flatten()
            .map(|v| format!("Basic {v}"));
        Endpoint {
            key: proxy.key(),
            authority: format!("{scheme}://{hostport}"),
            path: parts.path.to_string(),
            query: parts.query.map(str::to_string),
            auth,
            origin: origin(&parts),
        }
    }

    /// The full URL of `rel` (a proxy-relative path without leading slash).
    pub fn url_for(&self, rel: &str) -> String {
        format!("{}{}", self.authority, self.target_for(rel))
    }

    /// The request target of `rel` (path and query), for an HTTP/1.1 request line.
    pub fn target_for(&self, rel: &str) -> String {
        match &self.query {
            Some(q) => format!("{}/{rel}?{q}", self.path),
            None => format!("{}/{rel}", self.path),
        }
    }

    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }
}

/// Never shows the credentials or the query (it may hold a token).
impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("key", &self.key)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("origin", &self.origin)
            .finish()
    }
}

/// Unlike the relay's URL (which assumes https), the probes' client needs an
/// explicit http or https scheme, a host and a valid port.
fn origin(parts: &UrlParts) -> Option<Origin> {
    let tls = match parts.scheme? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let default = if tls { 443 } else { 80 };
    let (host, port) = http_proxy::split_host_port(parts.hostport, default)?;
    Some(Origin {
        tls,
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, logins: &[(String, netrc::Login)]) -> Endpoint {
        Endpoint::new(&Proxy { url: url.into() }, logins)
    }

    fn login(machine: &str, user: &str, password: &str) -> (String, netrc::Login) {
        let login = netrc::Login {
            user: user.into(),
            password: password.into(),
        };
        (machine.into(), login)
    }

    #[test]
    fn userinfo_query_and_redacted_key() {
        let logins = [login("mirror.example", "other", "pw")];
        let e = endpoint(
            "https://us%40r:p%3Ass@mirror.example:8443/goproxy/?token=x",
            &logins,
        );
        assert_eq!(e.key, "https://mirror.example:8443/goproxy");
        // Userinfo wins over netrc.
        assert_eq!(e.auth.as_deref(), Some("Basic dXNAcjpwOnNz"));
        assert_eq!(
            e.url_for("m/@v/list"),
            "https://mirror.example:8443/goproxy/m/@v/list?token=x"
        );
        assert_eq!(e.target_for("m/@v/list"), "/goproxy/m/@v/list?token=x");
        let origin = e.origin().unwrap();
        assert_eq!(
            (origin.tls, origin.host.as_str(), origin.port),
            (true, "mirror.example", 8443)
        );
        let shown = format!("{e:?}");
        assert!(!shown.contains("dXNAcjpwOnNz") && !shown.contains("token=x"));
    }

    #[test]
    fn netrc_login_for_the_host_over_https_only() {
        let logins = [login("mirror.example", "u", "p")];
        let e = endpoint("https://mirror.example:8443", &logins);
        assert_eq!(e.auth.as_deref(), Some("Basic dTpw"));
        assert_eq!(e.url_for("x"), "https://mirror.example:8443/x");
        assert_eq!(e.target_for("x"), "/x");
        assert_eq!(endpoint("https://other.example", &logins).auth, None);

        let logins = [login("127.0.0.1", "u", "p")];
        let e = endpoint("http://u:p@127.0.0.1:9/", &logins);
        assert_eq!(e.auth, None);
        assert_eq!(e.key, "http://127.0.0.1:9");
        assert_eq!(endpoint("http://127.0.0.1:9", &logins).auth, None);
        let origin = e.origin().unwrap();
        assert_eq!((origin.tls, origin.port), (false, 9));
    }

    #[test]
    fn origins_only_for_http_urls() {
        let e = endpoint("https://[::1]:8443/x", &[]);
        assert_eq!(e.origin().unwrap().host, "::1");
        assert_eq!(endpoint("https://[::1]", &[]).origin().unwrap().port, 443);
        assert_eq!(endpoint("http://a.example", &[]).origin().unwrap().port, 80);
        for bad in [
            "ftp://x",
            "localhost",
            "https://h:port",
            "https://",
            "https://[::1",
        ] {
            assert_eq!(endpoint(bad, &[]).origin(), None, "{bad}");
        }
        // The relay still tries a URL without a scheme over https, as before.
        assert_eq!(
            endpoint("localhost", &[]).url_for("x"),
            "https://localhost/x"
        );
    }
}

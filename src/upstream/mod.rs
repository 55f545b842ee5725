//! One upstream proxy as goshim reaches it, parsed once from a GOPROXY entry:
//! where requests go and which credentials they carry. The relay and the
//! probes both build their requests from it, so a proxy that needs
//! credentials (from the URL, `.netrc` or a GOAUTH helper) gets the same ones
//! from both, and a probe does not report down a proxy that go reaches fine.

pub mod basic_auth;
pub mod goauth;
pub mod http_proxy;
pub mod netrc;
pub mod roots;
pub mod tls;

use std::fmt;
use std::sync::{Arc, OnceLock};

use goauth::Auth;

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
    /// Basic credentials from the URL's userinfo (https only).
    userinfo_basic: Option<String>,
    /// `https://[userinfo@]host[:port]`: the start of the URL go looks
    /// credentials up with (None unless https: go sends none over http).
    credential_base: Option<String>,
    /// GOAUTH / .netrc credentials, shared by every endpoint of the process.
    credentials: Arc<Auth>,
    /// None when the URL is not http(s) with a host and a valid port.
    origin: Option<Origin>,
}

impl Endpoint {
    pub fn new(proxy: &Proxy, credentials: &Arc<Auth>) -> Endpoint {
        let parts = UrlParts::parse(&proxy.url);
        let scheme = parts.scheme.unwrap_or("https");
        let hostport = parts.hostport;
        // Like go: credentials only over https.
        let https = scheme == "https";
        let userinfo_basic = parts
            .userinfo
            .filter(|_| https)
            .map(basic_auth::from_userinfo);
        let credential_base = https.then(|| match parts.userinfo {
            Some(u) => format!("https://{u}@{hostport}"),
            None => format!("https://{hostport}"),
        });
        Endpoint {
            key: proxy.key(),
            authority: format!("{scheme}://{hostport}"),
            path: parts.path.to_string(),
            query: parts.query.map(str::to_string),
            userinfo_basic,
            credential_base,
            credentials: credentials.clone(),
            origin: origin(&parts),
        }
    }

    /// The URL go would look credentials up with for `rel` (userinfo and
    /// all, as go's `req.URL.String()`); None when go sends none (http).
    pub fn credential_url(&self, rel: &str) -> Option<String> {
        let base = self.credential_base.as_ref()?;
        Some(format!("{base}{}", self.target_for(rel)))
    }

    /// The credential headers for `rel`, from what is loaded (see
    /// [`goauth::ensure_loaded`]): GOAUTH's, then the URL's userinfo.
    pub fn headers_for(&self, rel: &str) -> goauth::store::Headers {
        let found = self
            .credential_url(rel)
            .map(|url| self.credentials.lookup(&url));
        goauth::merge(found.as_ref(), self.userinfo_basic.as_deref())
    }

    pub fn credentials(&self) -> &Arc<Auth> {
        &self.credentials
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
            .field(
                "userinfo",
                &self.userinfo_basic.as_ref().map(|_| "<redacted>"),
            )
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
    use crate::settings::vars::Env;

    fn endpoint(url: &str, auth: &Arc<Auth>) -> Endpoint {
        Endpoint::new(&Proxy { url: url.into() }, auth)
    }

    /// Credentials of go 1.24+ with a netrc file holding `text`, loaded.
    fn netrc_auth(text: &str) -> (tempfile::TempDir, Arc<Auth>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netrc");
        std::fs::write(&path, text).unwrap();
        let process = Env::from_pairs(&[("NETRC", path.to_str().unwrap())]);
        let setting = goauth::setting("go1.24.0", "netrc").unwrap();
        let auth = Auth::new(setting, &process);
        auth.load();
        (dir, auth)
    }

    fn authorization(e: &Endpoint, rel: &str) -> Option<String> {
        e.headers_for(rel)
            .into_iter()
            .find(|(n, _)| n == "Authorization")
            .map(|(_, v)| v)
    }

    #[test]
    fn userinfo_query_and_redacted_key() {
        let (_dir, auth) = netrc_auth("machine mirror.example:8443 login other password pw\n");
        let e = endpoint(
            "https://us%40r:p%3Ass@mirror.example:8443/goproxy/?token=x",
            &auth,
        );
        assert_eq!(e.key, "https://mirror.example:8443/goproxy");
        // go 1.24+ looks credentials up with the userinfo in the URL: the
        // netrc machine does not match, and the userinfo is sent.
        assert_eq!(
            authorization(&e, "m/@v/list").as_deref(),
            Some("Basic dXNAcjpwOnNz")
        );
        assert_eq!(
            e.credential_url("m/@v/list").as_deref(),
            Some("https://us%40r:p%3Ass@mirror.example:8443/goproxy/m/@v/list?token=x")
        );
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
    fn netrc_login_for_the_host_and_port_over_https_only() {
        let (_dir, auth) = netrc_auth(
            "machine mirror.example:8443 login u password p\nmachine 127.0.0.1 login u password p\n",
        );
        let e = endpoint("https://mirror.example:8443", &auth);
        assert_eq!(authorization(&e, "x").as_deref(), Some("Basic dTpw"));
        assert_eq!(e.url_for("x"), "https://mirror.example:8443/x");
        assert_eq!(e.target_for("x"), "/x");
        assert_eq!(
            authorization(&endpoint("https://mirror.example", &auth), "x"),
            None
        );
        assert_eq!(
            authorization(&endpoint("https://other.example", &auth), "x"),
            None
        );

        let e = endpoint("http://u:p@127.0.0.1:9/", &auth);
        assert_eq!(e.headers_for("x"), Vec::new());
        assert_eq!(e.credential_url("x"), None);
        assert_eq!(e.key, "http://127.0.0.1:9");
        assert!(
            endpoint("http://127.0.0.1", &auth)
                .headers_for("x")
                .is_empty()
        );
        let origin = e.origin().unwrap();
        assert_eq!((origin.tls, origin.port), (false, 9));
    }

    #[test]
    fn origins_only_for_http_urls() {
        let none = Auth::none();
        let e = endpoint("https://[::1]:8443/x", &none);
        assert_eq!(e.origin().unwrap().host, "::1");
        assert_eq!(endpoint("https://[::1]", &none).origin().unwrap().port, 443);
        assert_eq!(
            endpoint("http://a.example", &none).origin().unwrap().port,
            80
        );
        for bad in [
            "ftp://x",
            "localhost",
            "https://h:port",
            "https://",
            "https://[::1",
        ] {
            assert_eq!(endpoint(bad, &none).origin(), None, "{bad}");
        }
        // The relay still tries a URL without a scheme over https, as before.
        assert_eq!(
            endpoint("localhost", &none).url_for("x"),
            "https://localhost/x"
        );
    }
}

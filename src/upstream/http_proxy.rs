//! Which HTTP proxy carries a request to an upstream, by go's rules
//! (net/http `ProxyFromEnvironment`, golang.org/x/net/http/httpproxy), so that
//! the relay, the probes and doctor reach a mirror the way go would on a
//! company network: HTTPS_PROXY for https URLs, HTTP_PROXY for http ones
//! (each name upper case first, then lower case), NO_PROXY exempting hosts,
//! and loopback never proxied.

use std::net::IpAddr;

use crate::go::proxy_list::UrlParts;
use crate::settings::vars::{self, Env};

/// The proxy settings, parsed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    no_proxy: Vec<Exempt>,
    /// In a CGI program (REQUEST_METHOD set) go refuses HTTP_PROXY, which a
    /// client can set through a `Proxy:` header (httpoxy).
    cgi: bool,
}

/// A proxy to send requests through.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `http` or `https` (the connection to the proxy itself).
    pub scheme: String,
    /// Without the brackets of an IPv6 address.
    pub host: String,
    pub port: u16,
    /// `Proxy-Authorization` value, from the URL's userinfo.
    pub auth: Option<String>,
    /// The URL as given (with a scheme), for reqwest.
    pub url: String,
}

/// Never shows the credentials.
impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// One NO_PROXY entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exempt {
    All,
    Ip(IpAddr, Option<u16>),
    Cidr(IpAddr, u8),
    /// `suffix` starts with '.'; `itself`: the bare domain matches too.
    Domain {
        suffix: String,
        itself: bool,
        port: Option<u16>,
    },
}

impl Rules {
    pub fn from_env(process: &Env) -> Rules {
        let any = |upper: &str, lower: &str| {
            process
                .non_empty(upper)
                .or_else(|| process.non_empty(lower))
        };
        Rules::parse(
            any(vars::HTTP_PROXY, "http_proxy").as_deref(),
            any(vars::HTTPS_PROXY, "https_proxy").as_deref(),
            any(vars::NO_PROXY, "no_proxy").as_deref(),
            process.non_empty(vars::REQUEST_METHOD).is_some(),
        )
    }

    fn parse(http: Option<&str>, https: Option<&str>, no_proxy: Option<&str>, cgi: bool) -> Rules {
        Rules {
            http: http.and_then(ProxyUrl::parse),
            https: https.and_then(ProxyUrl::parse),
            no_proxy: no_proxy.map(parse_no_proxy).unwrap_or_default(),
            cgi,
        }
    }

    /// The proxy for a request to `scheme://host:port` (host without brackets), if any.
    pub fn proxy_for(&self, scheme: &str, host: &str, port: u16) -> Option<&ProxyUrl> {
        let proxy = match scheme {
            "https" => self.https.as_ref(),
            "http" if !self.cgi => self.http.as_ref(),
            _ => None,
        }?;
        self.use_proxy(host, port).then_some(proxy)
    }

    fn use_proxy(&self, host: &str, port: u16) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        !self.no_proxy.iter().any(|e| match (e, ip) {
            (Exempt::All, _) => true,
            (Exempt::Ip(want, p), Some(ip)) => *want == ip && p.is_none_or(|p| p == port),
            (Exempt::Cidr(net, bits), Some(ip)) => in_cidr(ip, *net, *bits),
            (
                Exempt::Domain {
                    suffix,
                    itself,
                    port: p,
                },
                None,
            ) => {
                (host.ends_with(suffix.as_str()) || (*itself && host == suffix[1..]))
                    && p.is_none_or(|p| p == port)
            }
            _ => false,
        })
    }
}

impl ProxyUrl {
    /// A proxy URL as go takes it: without a scheme, `http://` is assumed.
    fn parse(value: &str) -> Option<ProxyUrl> {
        let value = value.trim();
        let url = if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        };
        let parts = UrlParts::parse(&url);
        let scheme = parts.scheme?.to_ascii_lowercase();
        let default = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            // socks5 and others: goshim has no client for them.
            _ => return None,
        };
        let (host, port) = split_host_port(parts.hostport, default)?;
        let auth = parts
            .userinfo
            .map(|u| format!("Basic {}", super::basic_auth::from_userinfo(u)));
        Some(ProxyUrl {
            scheme,
            host: host.to_string(),
            port,
            auth,
            url,
        })
    }
}

/// `host[:port]` or `[v6][:port]` → (host without brackets, port).
pub fn split_host_port(hostport: &str, default: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (host, p.parse().ok()?),
            None if after.is_empty() => (host, default),
            None => return None,
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (hostport, default),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

fn parse_no_proxy(value: &str) -> Vec<Exempt> {
    let mut out = Vec::new();
    for entry in value.split(',') {
        let p = entry.trim().to_ascii_lowercase();
        if p.is_empty() {
            continue;
        }
        if p == "*" {
            return vec![Exempt::All];
        }
        if let Some((net, bits)) = p.split_once('/')
            && let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u8>())
            && bits <= if net.is_ipv4() { 32 } else { 128 }
        {
            out.push(Exempt::Cidr(net, bits));
            continue;
        }
        // host:port, [v6]:port; a bare IPv6 address has colons but no port.
        let (host, port) = match split_host_port(&p, 0) {
            _ if p.parse::<IpAddr>().is_ok() => (p.as_str(), None),
            Some((h, 0)) => (h, None),
            Some((h, port)) => (h, Some(port)),
            None => continue,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.push(Exempt::Ip(ip, port));
            continue;
        }
        let host = host.strip_prefix('*').unwrap_or(host);
        let (suffix, itself) = match host.strip_prefix('.') {
            Some(_) => (host.to_string(), false),
            None => (format!(".{host}"), true),
        };
        if suffix.len() > 1 {
            out.push(Exempt::Domain {
                suffix,
                itself,
                port,
            });
        }
    }
    out
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (ip >> shift) == (net >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(no_proxy: &str) -> Rules {
        Rules::parse(
            Some("proxy.corp:3128"),
            Some("http://u%40x:p@proxy.corp:8080"),
            Some(no_proxy),
            false,
        )
    }

    #[test]
    fn scheme_picks_the_variable_and_loopback_is_never_proxied() {
        let r = rules("");
        let https = r.proxy_for("https", "mirror.corp", 443).unwrap();
        assert_eq!((https.host.as_str(), https.port), ("proxy.corp", 8080));
        assert_eq!(https.auth.as_deref(), Some("Basic dUB4OnA="));
        let http = r.proxy_for("http", "mirror.corp", 80).unwrap();
        assert_eq!(
            (http.url.as_str(), http.port),
            ("http://proxy.corp:3128", 3128)
        );
        for host in ["localhost", "127.0.0.1", "127.9.9.9", "::1", "LOCALHOST"] {
            assert_eq!(r.proxy_for("https", host, 443), None, "{host}");
        }
        assert_eq!(r.proxy_for("file", "x", 0), None);
        let cgi = Rules::parse(Some("p:1"), Some("p:2"), None, true);
        assert_eq!(cgi.proxy_for("http", "mirror.corp", 80), None);
        assert!(cgi.proxy_for("https", "mirror.corp", 443).is_some());
        // socks5 needs a client goshim does not have: no proxy rather than a wrong one.
        let socks = Rules::parse(None, Some("socks5://p:1080"), None, false);
        assert_eq!(socks.proxy_for("https", "mirror.corp", 443), None);
    }

    #[test]
    fn no_proxy_as_httpproxy_reads_it() {
        // (NO_PROXY, host, port, proxied?)
        let table = [
            ("*", "mirror.corp", 443, false),
            ("corp", "mirror.corp", 443, false),
            ("corp", "corp", 443, false),
            ("corp", "notcorp", 443, true),
            (".corp", "mirror.corp", 443, false),
            (".corp", "corp", 443, true),
            ("*.corp", "mirror.corp", 443, false),
            ("*.corp", "corp", 443, true),
            ("mirror.corp:8443", "mirror.corp", 8443, false),
            ("mirror.corp:8443", "mirror.corp", 443, true),
            (" Mirror.Corp ,other", "mirror.corp", 443, false),
            ("10.0.0.0/8", "10.1.2.3", 443, false),
            ("10.0.0.0/8", "11.1.2.3", 443, true),
            ("10.0.0.0/8", "mirror.corp", 443, true),
            ("10.1.2.3", "10.1.2.3", 443, false),
            ("10.1.2.3:8443", "10.1.2.3", 443, true),
            ("fd00::1", "fd00::1", 443, false),
            ("[fd00::1]:443", "fd00::1", 443, false),
            ("fd00::/8", "fd00::5", 443, false),
            // A domain entry never matches an IP, nor an IP entry a name.
            ("10.1.2.3", "mirror.corp", 443, true),
            ("", "mirror.corp", 443, true),
        ];
        for (no_proxy, host, port, proxied) in table {
            let got = rules(no_proxy).proxy_for("https", host, port).is_some();
            assert_eq!(got, proxied, "NO_PROXY={no_proxy:?} {host}:{port}");
        }
    }

    #[test]
    #[cfg(not(windows))] // one variable there: names ignore case
    fn upper_case_first_then_lower_case_and_empty_is_unset() {
        let env = Env::from_pairs(&[
            ("HTTPS_PROXY", ""),
            ("https_proxy", "lower:1"),
            ("NO_PROXY", "a"),
            ("no_proxy", "b"),
        ]);
        let r = Rules::from_env(&env);
        assert_eq!(r.proxy_for("https", "x", 443).unwrap().host, "lower");
        assert!(r.proxy_for("https", "b", 443).is_some());
        assert!(r.proxy_for("https", "a", 443).is_none());
        assert_eq!(Rules::from_env(&Env::default()), Rules::default());
        // Credentials never show in debug output.
        assert!(!format!("{:?}", rules("")).contains("dUB4"));
    }
}

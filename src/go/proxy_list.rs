//! GOPROXY lists, parsed with the go command's own rules
//! (cmd/go/internal/modfetch/proxy.go, proxyList), and proxy URLs made safe to show.

/// One proxy URL of a GOPROXY list, as go would use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The URL as go needs it, credentials included.
    pub url: String,
}

impl Proxy {
    /// The URL with userinfo and query removed: what goshim shows and stores.
    pub fn key(&self) -> String {
        redact(&self.url)
    }
}

/// How a GOPROXY list ends after its proxies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// `direct` or `off`.
    pub word: &'static str,
    /// The separator before it in the user's list: `,` (only on 404/410) or `|` (on any error).
    pub sep: char,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyList {
    pub proxies: Vec<Proxy>,
    /// `fallback[i]`: the user's list moves past proxy i on any error (`|`), not only 404/410.
    pub fallback: Vec<bool>,
    pub tail: Option<Tail>,
}

impl ProxyList {
    pub fn parse(value: &str) -> ProxyList {
        let mut list = ProxyList::default();
        let mut rest = value;
        // The separator that followed the previous entry.
        let mut sep_before = ',';
        while !rest.is_empty() {
            let (entry, sep_after, next) = match rest.find([',', '|']) {
                Some(i) => (&rest[..i], rest[i..].chars().next(), &rest[i + 1..]),
                None => (rest, None, ""),
            };
            rest = next;
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if entry == "direct" || entry == "off" {
                list.tail = Some(Tail {
                    word: if entry == "direct" { "direct" } else { "off" },
                    sep: sep_before,
                });
                break;
            }
            list.proxies.push(Proxy {
                url: normalize(entry),
            });
            let sep = sep_after.unwrap_or(',');
            list.fallback.push(sep == '|');
            sep_before = sep;
        }
        list
    }
}

/// Adds `https://` to a bare host, as go does.
pub fn normalize(entry: &str) -> String {
    let entry = entry.trim();
    if entry.contains(['.', ':', '/']) && !entry.contains(":/") && !entry.starts_with('/') {
        format!("https://{entry}")
    } else {
        entry.to_string()
    }
}

/// A proxy URL taken apart (no validation beyond the shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// None for a bare `host/path`.
    pub scheme: Option<&'a str>,
    pub userinfo: Option<&'a str>,
    /// `host` or `host:port` (`[v6]:port`).
    pub hostport: &'a str,
    /// Without trailing slash; empty or starting with '/'.
    pub path: &'a str,
    /// Without '?'; fragments dropped.
    pub query: Option<&'a str>,
}

impl UrlParts<'_> {
    pub fn parse(url: &str) -> UrlParts<'_> {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (Some(s), r),
            None => (None, url),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
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
        UrlParts {
            scheme,
            userinfo,
            hostport,
            path: path.trim_end_matches('/'),
            query,
        }
    }

    /// `scheme://hostport/path`: no userinfo, no query.
    pub fn base(&self) -> String {
        match self.scheme {
            Some(s) => format!("{s}://{}{}", self.hostport, self.path),
            None => format!("{}{}", self.hostport, self.path),
        }
    }
}

/// The URL without userinfo, query or trailing slash.
pub fn redact(url: &str) -> String {
    UrlParts::parse(url).base()
}

/// A whole GOPROXY value with every URL redacted, separators kept.
pub fn redact_list(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    loop {
        let (entry, sep, next) = match rest.find([',', '|']) {
            Some(i) => (&rest[..i], Some(&rest[i..i + 1]), &rest[i + 1..]),
            None => (rest, None, ""),
        };
        let entry = entry.trim();
        if entry.contains("://") {
            out.push_str(&redact(entry));
        } else {
            out.push_str(entry);
        }
        match sep {
            Some(s) => out.push_str(s),
            None => return out,
        }
        rest = next;
    }
}

/// True when a GOPROXY value or URL holds userinfo or a query string (tokens).
pub fn has_credentials(value: &str) -> bool {
    value.split([',', '|']).any(|u| {
        let parts = UrlParts::parse(u.trim());
        parts.userinfo.is_some() || parts.query.is_some()
    })
}

/// Checks a URL that the user gave goshim (GOSHIM_PROXIES, config).
pub fn validate_url(url: &str) -> Result<String, String> {
    let url = normalize(url);
    let parts = UrlParts::parse(&url);
    match parts.scheme {
        None => Err(format!("'{}' is not a URL", parts.base())),
        Some("http" | "https") => {
            let host = parts.hostport;
            if host.is_empty() || host.contains(char::is_whitespace) {
                Err(format!("'{}' has no host", parts.base()))
            } else {
                Ok(url)
            }
        }
        Some(_) => Err(format!(
            "'{}': only http and https proxies can be probed",
            parts.base()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &ProxyList) -> Vec<&str> {
        list.proxies.iter().map(|p| p.url.as_str()).collect()
    }

    #[test]
    fn parses_go_default() {
        let list = ProxyList::parse("https://proxy.golang.org,direct");
        assert_eq!(urls(&list), ["https://proxy.golang.org"]);
        assert_eq!(list.fallback, [false]);
        assert_eq!(
            list.tail,
            Some(Tail {
                word: "direct",
                sep: ','
            })
        );
    }

    #[test]
    fn parses_mixed_separators_bare_hosts_and_stops_at_off() {
        let list = ProxyList::parse(" goproxy.cn | https://a.example/x/ ,, off,https://ignored");
        assert_eq!(urls(&list), ["https://goproxy.cn", "https://a.example/x/"]);
        assert_eq!(list.fallback, [true, false]);
        assert_eq!(list.tail.unwrap().word, "off");
        assert_eq!(ProxyList::parse("direct").proxies.len(), 0);
        assert_eq!(ProxyList::parse("a.example|direct").tail.unwrap().sep, '|');
        assert_eq!(ProxyList::parse("https://a.example").tail, None);
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("https://user:secret@proxy.example/base/?token=abc"),
            "https://proxy.example/base"
        );
        assert!(has_credentials("https://u:p@h,direct"));
        assert!(has_credentials("https://h/?token=1|direct"));
        assert!(!has_credentials("https://proxy.golang.org,direct"));
        assert_eq!(
            redact_list("https://u:p@a.example/x|https://b.example,direct"),
            "https://a.example/x|https://b.example,direct"
        );
    }

    #[test]
    fn validates_user_urls() {
        assert_eq!(validate_url("goproxy.cn").unwrap(), "https://goproxy.cn");
        assert!(validate_url("ftp://x").is_err());
        assert!(validate_url("http://").is_err());
        assert!(validate_url("nonsense").is_err());
    }
}

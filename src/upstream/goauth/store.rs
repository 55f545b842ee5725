//! Credentials by URL prefix, as go caches them (cmd/go/internal/auth/auth.go
//! `storeCredential`, `loadCredential`): the key is the URL without
//! `https://` and without a trailing slash, `host[:port][/path]`, and a
//! lookup trims path segments from the right until one matches. A port is
//! part of the first segment: `machine example.com` is not used for
//! `https://example.com:8443/...`.

use std::collections::HashMap;

/// Header lines to add, in order: `(name, value)`.
pub type Headers = Vec<(String, String)>;

#[derive(Default, Clone)]
pub struct Store {
    by_prefix: HashMap<String, Headers>,
}

/// The cache key go uses for a URL or prefix.
fn key(url: &str) -> &str {
    let url = url.strip_prefix("https://").unwrap_or(url);
    url.strip_suffix('/').unwrap_or(url)
}

impl Store {
    /// Replaces the prefix's headers; no headers removes it (a helper can
    /// withdraw a credential that way).
    pub fn put(&mut self, prefix: &str, headers: Headers) {
        let prefix = key(prefix).to_string();
        if headers.is_empty() {
            self.by_prefix.remove(&prefix);
        } else {
            self.by_prefix.insert(prefix, headers);
        }
    }

    /// The headers of the longest stored prefix of `url`, cut at slashes.
    pub fn get(&self, url: &str) -> Option<&Headers> {
        let mut current = key(url);
        loop {
            if let Some(h) = self.by_prefix.get(current) {
                return Some(h);
            }
            current = &current[..current.rfind('/')?];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> Headers {
        vec![("Authorization".into(), v.into())]
    }

    #[test]
    fn longest_prefix_by_path_segment() {
        let mut s = Store::default();
        s.put("example.com", h("host"));
        s.put("https://example.com/private/", h("private"));
        s.put("example.com:8443", h("port"));
        let cases = [
            ("https://example.com/x/@v/list", Some("host")),
            ("https://example.com", Some("host")),
            ("https://example.com/", Some("host")),
            ("https://example.com/private/m/@v/list", Some("private")),
            ("https://example.com/private", Some("private")),
            // Not a path-segment prefix.
            ("https://example.com/privateer/x", Some("host")),
            ("https://example.com:8443/x", Some("port")),
            ("https://example.com:9443/x", None),
            ("https://example.community/x", None),
            ("https://u:p@example.com/x", None),
            ("https://other.example/example.com", None),
            ("", None),
        ];
        for (url, want) in cases {
            let got = s.get(url).map(|v| v[0].1.as_str());
            assert_eq!(got, want, "{url}");
        }
        s.put("example.com", Vec::new());
        assert_eq!(s.get("https://example.com/x"), None);
    }
}

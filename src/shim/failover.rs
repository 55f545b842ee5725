//! Reading go's stderr after a failed run: which proxies failed, and whether
//! another run could help.

use crate::error_class::ErrorClass;
use crate::go::module_path;
use crate::go::proxy_list::Proxy;

/// Failures of candidate proxies that a re-run with another order may avoid.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// (redacted proxy URL, error class), first seen first, one per proxy.
    pub transient: Vec<(String, ErrorClass)>,
    /// A failure no re-run should paper over: integrity, auth, bad versions.
    pub fatal: bool,
    /// go rejected downloaded content without naming where it came from
    /// (`zip: not a valid zip file`): a re-run from another proxy may help.
    pub broken_content: bool,
}

impl Diagnosis {
    pub fn should_retry(&self) -> bool {
        !self.fatal && (!self.transient.is_empty() || self.broken_content)
    }
}

/// Never re-run when go says any of these: integrity and auth failures, or
/// versions that do not exist. (Compile errors and test failures name no
/// proxy, so they never look transient in the first place.)
const FATAL: [&str; 9] = [
    "SECURITY ERROR",
    "checksum mismatch",
    "verifying module",
    "verifying go.mod",
    "invalid version",
    "unknown revision",
    ": 401 ",
    ": 403 ",
    "terminal prompts disabled",
];

/// `list_mode`: go was given the candidates themselves (no relay), so go's
/// checksum client talked to one of them directly (see
/// [`database_unreachable`]). Through the relay, a failed database request
/// was already raced over every upstream.
pub fn diagnose(stderr: &str, candidates: &[Proxy], list_mode: bool) -> Diagnosis {
    let mut d = Diagnosis {
        fatal: stderr.lines().any(|l| {
            FATAL.iter().any(|m| l.contains(m))
                && !(list_mode && database_unreachable(l, candidates))
        }),
        broken_content: stderr.contains("zip: not a valid zip file"),
        ..Diagnosis::default()
    };
    for line in stderr.lines() {
        let Some(proxy) = proxy_in(line, candidates) else {
            continue;
        };
        let Some(class) = transient_class(line) else {
            continue;
        };
        if !d.transient.iter().any(|(p, _)| *p == proxy) {
            d.transient.push((proxy, class));
        }
    }
    d
}

/// go could not reach the checksum database through a candidate proxy
/// (`verifying go.mod: <mod>: reading <proxy>/sumdb/<db>/lookup/...: 502 Bad
/// Gateway`): a transient failure of that proxy, which go's checksum client
/// does not fail over from, not an integrity failure. A re-run with the
/// proxy demoted may help.
fn database_unreachable(line: &str, candidates: &[Proxy]) -> bool {
    line.contains("verifying ")
        && line.contains("/sumdb/")
        && !line.contains("checksum mismatch")
        && !line.contains("SECURITY ERROR")
        && proxy_in(line, candidates).is_some()
        && transient_class(line).is_some()
}

/// The candidate whose URL appears in the line (go prints URLs with userinfo
/// redacted, so match on host and path only), longest match first.
fn proxy_in(line: &str, candidates: &[Proxy]) -> Option<String> {
    candidates
        .iter()
        .map(Proxy::key)
        .filter(|key| {
            let host_path = key.split_once("://").map_or(key.as_str(), |(_, r)| r);
            line.match_indices(host_path).any(|(i, m)| {
                let next = line[i + m.len()..].chars().next();
                matches!(next, Some('/' | '"' | ':' | ' ') | None)
            })
        })
        .max_by_key(String::len)
}

/// The error class of a transient proxy failure in the line, if it is one.
pub fn transient_class(line: &str) -> Option<ErrorClass> {
    if let Some(code) = http_status(line) {
        return Some(ErrorClass::Http(code)).filter(|c| c.is_transient());
    }
    const CLASSES: [(&str, ErrorClass); 10] = [
        ("timeout", ErrorClass::Timeout),
        ("connection refused", ErrorClass::Refused),
        ("connection reset", ErrorClass::Reset),
        ("broken pipe", ErrorClass::Reset),
        ("unexpected EOF", ErrorClass::Eof),
        (": EOF", ErrorClass::Eof),
        ("stream error", ErrorClass::StreamError),
        ("no such host", ErrorClass::Dns),
        ("server misbehaving", ErrorClass::Dns),
        ("not a valid zip file", ErrorClass::BadZip),
    ];
    CLASSES
        .iter()
        .find(|(needle, _)| line.contains(needle))
        .map(|(_, class)| *class)
}

/// `reading <URL>: 502 Bad Gateway` → 502.
fn http_status(line: &str) -> Option<u16> {
    line.match_indices(": ").find_map(|(i, _)| {
        let rest = &line[i + 2..];
        let digits = rest.get(..3)?;
        let after = rest[3..].chars().next();
        (digits.bytes().all(|b| b.is_ascii_digit()) && matches!(after, Some(' ') | None))
            .then(|| digits.parse().ok())
            .flatten()
    })
}

/// Zips go found broken (`<module>@<version>: zip: ...`), as relay paths. A
/// transport error on the relay's own URL is not listed: the relay ends a
/// body early only when every upstream failed it, and it blamed them itself.
pub fn rejected_paths(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("zip: ") || l.contains("not a valid zip"))
        .filter_map(|l| l.split_whitespace().find_map(zip_path_of))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `example.com/Mod@v1.2.3:` → `example.com/!mod/@v/v1.2.3.zip`.
fn zip_path_of(token: &str) -> Option<String> {
    let token = token.trim_end_matches(':');
    let (module, version) = token.split_once('@')?;
    if module.is_empty() || !version.starts_with('v') || !module.contains('.') {
        return None;
    }
    Some(format!("{}/@v/{version}.zip", module_path::escape(module)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> Vec<Proxy> {
        [
            "http://127.0.0.1:18002",
            "https://user:pw@goproxy.example/base",
        ]
        .iter()
        .map(|u| Proxy { url: u.to_string() })
        .collect()
    }

    #[test]
    fn finds_transient_failures_per_proxy() {
        let stderr = "go: downloading example.com/dep0 v1.0.0\n\
            main.go:5:2: example.com/dep0@v1.0.0: reading http://127.0.0.1:18002/example.com/dep0/@v/v1.0.0.zip: 502 Bad Gateway\n\
            go: example.com/dep1@v1.0.0: Get \"https://user:xxxxx@goproxy.example/base/example.com/dep1/@v/v1.0.0.mod\": dial tcp 10.0.0.1:443: i/o timeout\n";
        let d = diagnose(stderr, &proxies(), true);
        assert_eq!(
            d.transient,
            [
                ("http://127.0.0.1:18002".to_string(), ErrorClass::Http(502)),
                (
                    "https://goproxy.example/base".to_string(),
                    ErrorClass::Timeout
                )
            ]
        );
        assert!(d.should_retry());
    }

    #[test]
    fn never_retries_integrity_auth_or_compile_errors() {
        let auth = "go: example.com/x@v1.0.0: reading http://127.0.0.1:18002/example.com/x/@v/v1.0.0.mod: 403 Forbidden\n";
        assert!(!diagnose(auth, &proxies(), true).should_retry());
        let sum = "verifying example.com/x@v1.0.0: checksum mismatch\n\tdownloaded: h1:abc\n";
        assert!(!diagnose(sum, &proxies(), true).should_retry());
        let compile =
            "./main.go:3:1: syntax error: non-declaration statement outside function body\n";
        assert_eq!(diagnose(compile, &proxies(), true), Diagnosis::default());
        let not_found = "reading http://127.0.0.1:18002/example.com/x/@v/list: 404 Not Found\n";
        assert!(!diagnose(not_found, &proxies(), true).should_retry());
        let db_not_found = "go: example.com/x@v1.0.0: verifying go.mod: example.com/x@v1.0.0/go.mod: reading http://127.0.0.1:18002/sumdb/sum.golang.org/lookup/example.com/x@v1.0.0: 404 Not Found\n";
        assert!(!diagnose(db_not_found, &proxies(), true).should_retry());
        // Through the relay (the only candidate go sees), a failed database
        // request was already raced over every upstream: no re-run.
        let relay_db = "go: example.com/x@v1.0.0: verifying go.mod: example.com/x@v1.0.0/go.mod: reading http://127.0.0.1:18002/sumdb/sum.golang.org/tile/8/0/000.p/2: 502 Bad Gateway\n";
        assert!(!diagnose(relay_db, &proxies(), false).should_retry());
        assert!(diagnose(relay_db, &proxies(), true).should_retry());
    }

    /// A proxy that fails go's checksum database requests is a transient
    /// failure of that proxy, not an integrity failure.
    #[test]
    fn retries_a_checksum_database_unreachable_through_a_proxy() {
        let stderr = "go: example.com/x@v1.0.0: verifying go.mod: example.com/x@v1.0.0/go.mod: reading http://127.0.0.1:18002/sumdb/sum.golang.org/lookup/example.com/x@v1.0.0: read tcp 127.0.0.1:4000->127.0.0.1:18002: read: connection reset by peer\n";
        let d = diagnose(stderr, &proxies(), true);
        assert!(!d.fatal, "{d:?}");
        assert_eq!(
            d.transient,
            [("http://127.0.0.1:18002".to_string(), ErrorClass::Reset)]
        );
        assert!(d.should_retry());
    }

    #[test]
    fn classifies_transport_errors() {
        assert_eq!(
            transient_class("read \"http://h/x.zip\": unexpected EOF"),
            Some(ErrorClass::Eof)
        );
        assert_eq!(
            transient_class("connect: connection refused"),
            Some(ErrorClass::Refused)
        );
        assert_eq!(
            transient_class("reading http://h/x: 429 Too Many Requests"),
            Some(ErrorClass::Http(429))
        );
        assert_eq!(transient_class("reading http://h/x: 410 Gone"), None);
    }

    #[test]
    fn finds_paths_the_relay_served_badly() {
        let stderr = "go: example.com/dep0@v1.0.0: read \"http://127.0.0.1:4000/abc/example.com/dep0/@v/v1.0.0.zip\": unexpected EOF\n\
            go: example.com/Dep1@v1.0.0: zip: not a valid zip file\n\
            go: example.com/dep2@v1.0.0: reading http://127.0.0.1:4000/abc/example.com/dep2/@v/v1.0.0.mod: 404 Not Found\n";
        assert_eq!(rejected_paths(stderr), ["example.com/!dep1/@v/v1.0.0.zip"]);
    }
}

//! Module paths and versions: the GOPROXY protocol's case escaping, go's
//! private-path patterns, and which versions are canonical.

/// Module path escaping of the GOPROXY protocol: upper case becomes '!' + lower case.
pub fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Undoes the GOPROXY protocol's case escaping (`!x` → `X`).
pub fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        match (bang, c) {
            (false, '!') => bang = true,
            (true, c) if c.is_ascii_lowercase() => {
                out.push(c.to_ascii_uppercase());
                bang = false;
            }
            (true, _) => return None,
            (false, c) if c.is_ascii_uppercase() => return None,
            (false, c) => out.push(c),
        }
    }
    (!bang).then_some(out)
}

/// Go's `module.MatchPrefixPatterns`: does any comma-separated glob match a
/// leading run of the path's elements? Patterns with `[` classes are treated
/// as matching, erring on the private side.
pub fn matches_any(patterns: &str, path: &str) -> bool {
    patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|pattern| {
            let n = pattern.trim_end_matches('/').split('/').count();
            let elems: Vec<&str> = path.split('/').collect();
            if elems.len() < n {
                return false;
            }
            let prefix = elems[..n].join("/");
            pattern.contains('[')
                || glob(pattern.trim_end_matches('/').as_bytes(), prefix.as_bytes())
        })
}

/// `path.Match` without character classes: `*` and `?` never match '/'.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != b'/')
            .any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => text.first().is_some_and(|c| *c != b'/') && glob(rest, &text[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob(&rest[1..], &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// Whether `version` is canonical the way go's `module.CanonicalVersion` sees
/// it: `vMAJOR.MINOR.PATCH`, an optional `-prerelease`, and no build suffix
/// but `+incompatible`. go asks a proxy for `<version>.mod` only for these;
/// anything else (a branch, `v1.2`) it first resolves with a query.
pub fn is_canonical_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let rest = rest.strip_suffix("+incompatible").unwrap_or(rest);
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let identifier = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && (!s.bytes().all(|b| b.is_ascii_digit()) || number(s))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(|p| p.split('.').all(identifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_unescapes() {
        assert_eq!(
            escape("github.com/BurntSushi/toml"),
            "github.com/!burnt!sushi/toml"
        );
        assert_eq!(
            unescape("github.com/!burnt!sushi/toml").unwrap(),
            "github.com/BurntSushi/toml"
        );
        assert_eq!(unescape("Bad"), None);
    }

    #[test]
    fn matches_like_go() {
        assert!(matches_any("corp.example", "corp.example/x/y"));
        assert!(matches_any("*.corp.example", "git.corp.example/team/repo"));
        assert!(matches_any(
            "example.com/private",
            "example.com/private/mod"
        ));
        assert!(!matches_any("example.com/private", "example.com/public"));
        assert!(!matches_any("*.corp.example", "corp.example/x"));
        assert!(matches_any(
            " , github.com/org/*",
            "github.com/org/repo/sub"
        ));
        assert!(!matches_any("", "anything"));
    }

    #[test]
    fn canonical_versions_like_go() {
        for v in [
            "v1.2.3",
            "v0.0.0-20240101000000-abcdef123456",
            "v2.0.0+incompatible",
            "v1.0.0-rc.1",
            "v1.0.0-0.x-y",
        ] {
            assert!(is_canonical_version(v), "{v}");
        }
        for v in [
            "1.2.3",
            "v1.2",
            "v1",
            "master",
            "v1.2.3+meta",
            "v01.2.3",
            "v1.2.3-",
            "v1.2.3-01",
            "v1.2.3-a..b",
            "latest",
            "",
        ] {
            assert!(!is_canonical_version(v), "{v}");
        }
    }
}

//! Module paths: the GOPROXY protocol's case escaping, and go's private-path patterns.

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
}

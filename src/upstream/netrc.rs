//! `.netrc` (`$NETRC`, else `~/.netrc`) as go reads it for upstream proxies
//! (GOAUTH=netrc, go's default; the only source before go 1.24). Never logged.

use std::path::{Path, PathBuf};

use crate::settings::vars::{self, Env};

/// One complete `machine` entry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Line {
    pub machine: String,
    pub login: String,
    pub password: String,
}

/// Never shows the password.
impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "netrc::Line({})", self.machine)
    }
}

/// `$NETRC`, else `~/.netrc` (no file system access).
pub fn path(process: &Env) -> Option<PathBuf> {
    process
        .non_empty(vars::NETRC)
        .map(PathBuf::from)
        .or_else(|| {
            process
                .non_empty(vars::HOME)
                .map(|h| PathBuf::from(h).join(".netrc"))
        })
}

/// The file's entries; none when it does not exist (as for go).
pub fn read(path: &Path) -> std::io::Result<Vec<Line>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(parse(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// go's parser (cmd/go/internal/auth/netrc.go), quirks included: tokens pair
/// up within a line, an entry counts once it has a machine, a login and a
/// password, `macdef` skips to the next empty line, and a line ending in
/// `default` ends the file.
pub fn parse(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut l = Line::default();
    let mut in_macro = false;
    for line in text.split('\n') {
        if in_macro {
            in_macro = !line.is_empty();
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let mut i = 0;
        while i + 1 < f.len() {
            match f[i] {
                "machine" => {
                    l = Line {
                        machine: f[i + 1].to_string(),
                        ..Line::default()
                    }
                }
                "login" => l.login = f[i + 1].to_string(),
                "password" => l.password = f[i + 1].to_string(),
                "macdef" => in_macro = true,
                _ => {}
            }
            if !l.machine.is_empty() && !l.login.is_empty() && !l.password.is_empty() {
                out.push(std::mem::take(&mut l));
            }
            i += 2;
        }
        if f.get(i) == Some(&"default") {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machines(text: &str) -> Vec<(String, String, String)> {
        parse(text)
            .into_iter()
            .map(|l| (l.machine, l.login, l.password))
            .collect()
    }

    fn entry(m: &str, l: &str, p: &str) -> (String, String, String) {
        (m.into(), l.into(), p.into())
    }

    #[test]
    fn parses_like_go() {
        type Entry<'a> = (&'a str, &'a str, &'a str);
        let cases: &[(&str, &[Entry])] = &[
            (
                "machine a.example login u password p\nmachine b:8443\n login v\n password q\n",
                &[("a.example", "u", "p"), ("b:8443", "v", "q")],
            ),
            // Incomplete entries are dropped; a later machine resets.
            (
                "machine a login u\nmachine b login v password w\n",
                &[("b", "v", "w")],
            ),
            // Macros run to the next empty line.
            (
                "macdef init\nmachine x login y password z\n\nmachine a login u password p\n",
                &[("a", "u", "p")],
            ),
            // A line ending in `default` ends the file.
            (
                "machine a login u password p\ndefault\nmachine b login v password w\n",
                &[("a", "u", "p")],
            ),
            // Tokens pair within a line: here `default login` is one pair.
            (
                "default login x password y\nmachine b login v password w\n",
                &[("b", "v", "w")],
            ),
            ("", &[]),
            ("machine", &[]),
        ];
        for (text, want) in cases {
            let want: Vec<_> = want.iter().map(|(m, l, p)| entry(m, l, p)).collect();
            assert_eq!(machines(text), want, "{text:?}");
        }
    }

    #[test]
    fn netrc_then_home() {
        let both = Env::from_pairs(&[("NETRC", "/n"), ("HOME", "/h")]);
        assert_eq!(path(&both), Some(PathBuf::from("/n")));
        let home = Env::from_pairs(&[("NETRC", ""), ("HOME", "/h")]);
        assert_eq!(path(&home), Some(PathBuf::from("/h/.netrc")));
        assert_eq!(path(&Env::default()), None);
    }

    #[test]
    fn a_missing_file_has_no_entries() {
        assert_eq!(read(Path::new("/nonexistent/netrc")).unwrap(), Vec::new());
    }

    #[test]
    fn debug_hides_the_password() {
        let l = &parse("machine m login u password s3cret")[0];
        assert!(!format!("{l:?}").contains("s3cret"));
    }
}

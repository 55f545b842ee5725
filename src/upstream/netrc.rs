//! Credentials from `.netrc` (`$NETRC`, else `~/.netrc`) for upstream proxies,
//! as go's GOAUTH=netrc default uses them. Never logged.

use std::path::PathBuf;

use crate::settings::vars::{self, Env};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// All `machine` entries of the netrc file (empty when there is none).
pub fn load(process: &Env) -> Vec<(String, Login)> {
    path(process)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// `$NETRC`, else `~/.netrc`.
fn path(process: &Env) -> Option<PathBuf> {
    process
        .non_empty(vars::NETRC)
        .map(PathBuf::from)
        .or_else(|| {
            process
                .non_empty(vars::HOME)
                .map(|h| PathBuf::from(h).join(".netrc"))
        })
}

/// The login for a host (port ignored).
pub fn find<'a>(entries: &'a [(String, Login)], host: &str) -> Option<&'a Login> {
    entries.iter().find(|(m, _)| m == host).map(|(_, l)| l)
}

fn parse(text: &str) -> Vec<(String, Login)> {
    let mut out = Vec::new();
    let mut tokens = text.split_whitespace();
    let mut current: Option<(String, Login)> = None;
    while let Some(tok) = tokens.next() {
        match tok {
            "machine" | "default" => {
                out.extend(current.take());
                let name = if tok == "machine" {
                    tokens.next().unwrap_or("").to_string()
                } else {
                    String::new() // "default" is not used for proxies
                };
                current = Some((
                    name,
                    Login {
                        user: String::new(),
                        password: String::new(),
                    },
                ));
            }
            "login" => {
                if let (Some((_, l)), Some(v)) = (current.as_mut(), tokens.next()) {
                    l.user = v.to_string();
                }
            }
            "password" => {
                if let (Some((_, l)), Some(v)) = (current.as_mut(), tokens.next()) {
                    l.password = v.to_string();
                }
            }
            "macdef" => break, // macros end the useful part
            _ => {}
        }
    }
    out.extend(current);
    out.retain(|(m, _)| !m.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries() {
        let entries = parse(
            "machine a.example login u password p\ndefault login x password y\nmachine b.example\n login v\n password q\n",
        );
        assert_eq!(find(&entries, "a.example").unwrap().password, "p");
        assert_eq!(find(&entries, "b.example").unwrap().user, "v");
        assert!(find(&entries, "c.example").is_none());
    }

    #[test]
    fn netrc_then_home() {
        let both = Env::from_pairs(&[("NETRC", "/n"), ("HOME", "/h")]);
        assert_eq!(path(&both), Some(PathBuf::from("/n")));
        let home = Env::from_pairs(&[("NETRC", ""), ("HOME", "/h")]);
        assert_eq!(path(&home), Some(PathBuf::from("/h/.netrc")));
        assert_eq!(path(&Env::default()), None);
    }
}

//! GOAUTH `git <dir>` (cmd/go/internal/auth/gitauth.go): after a refusal,
//! `git credential fill` in `<dir>` with the refused URL, and its answer as
//! Basic credentials for the prefix git names, as go does.

use std::path::Path;

use super::helper::{self, HelperError};
use super::store::Headers;
use crate::upstream::basic_auth;

/// What `git credential fill` answered, when it is usable for `url`: the URL
/// prefix the credential is for, and its `Authorization` header.
pub fn fill(dir: &Path, url: &str) -> Result<(String, Headers), HelperError> {
    let argv = ["git", "credential", "fill"].map(String::from);
    let out = helper::run_argv(&argv, Some(dir), Some(&format!("url={url}\n")))?;
    let (prefix, user, password) = parse_fill(&out);
    // go refuses a credential for another URL than the one it asked about.
    if prefix.is_empty() || !url.starts_with(&prefix) {
        return Err(HelperError::Output(super::helper::OutputError::BadUrl));
    }
    let basic = basic_auth::from_login(&user, &password);
    Ok((
        prefix,
        vec![("Authorization".to_string(), format!("Basic {basic}"))],
    ))
}

/// go's `parseGitAuth`: `key=value` lines; `protocol`, `host` and `path`
/// (or `url`) make the prefix. Returns (prefix, username, password).
fn parse_fill(out: &str) -> (String, String, String) {
    let (mut scheme, mut host, mut path) = (String::new(), String::new(), String::new());
    let (mut user, mut password) = (String::new(), String::new());
    let mut whole: Option<String> = None;
    for line in out.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        match key {
            "protocol" => scheme = value.to_string(),
            "host" => host = value.to_string(),
            "path" => path = value.to_string(),
            "username" => user = value.to_string(),
            "password" => password = value.to_string(),
            "url" if value.contains("://") => whole = Some(value.to_string()),
            _ => {}
        }
    }
    let prefix = whole.unwrap_or_else(|| match (scheme.is_empty(), host.is_empty()) {
        (true, true) => path.clone(),
        (false, _) => {
            let path = match path.is_empty() || path.starts_with('/') {
                true => path.clone(),
                false => format!("/{path}"),
            };
            format!("{scheme}://{host}{path}")
        }
        (true, false) => format!("//{host}{path}"),
    });
    (prefix, user, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_git_credential_fill_prints() {
        let out = "protocol=https\nhost=mirror.corp:8443\nusername=u\npassword=p=w\n";
        assert_eq!(
            parse_fill(out),
            ("https://mirror.corp:8443".into(), "u".into(), "p=w".into())
        );
        let with_path = "protocol=https\nhost=h\npath=goproxy\nusername=u\npassword=p\n";
        assert_eq!(parse_fill(with_path).0, "https://h/goproxy");
        let url = "url=https://h/x\nusername=u\npassword=p\n";
        assert_eq!(parse_fill(url).0, "https://h/x");
        assert_eq!(parse_fill("junk\n").0, "");
    }

    #[test]
    fn fills_from_a_credential_helper_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
        };
        if git(&["init", "-q"]).is_err() {
            eprintln!("skipped: no git");
            return;
        }
        let helper = "!f() { echo username=gopher; echo password=s3cret; }; f";
        git(&["config", "credential.helper", helper]).unwrap();
        let (prefix, headers) = fill(dir.path(), "https://mirror.corp:8443/m/@v/list").unwrap();
        assert_eq!(prefix, "https://mirror.corp:8443");
        let want = format!("Basic {}", basic_auth::from_login("gopher", "s3cret"));
        assert_eq!(headers, vec![("Authorization".to_string(), want)]);
    }
}

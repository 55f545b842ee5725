//! A GOAUTH helper command (cmd/go/internal/auth/userauth.go): its command
//! line, running it, and its output: blocks of URL lines, an empty line,
//! header lines (`Name: value`), an empty line.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::store::Headers;

/// go waits on a helper for as long as it takes. goshim bounds it, so a
/// wedged helper cannot hold a build (or a background probe) forever, but
/// generously: a helper may wait for a person to sign in through a browser.
pub const DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperError {
    /// An unterminated quote (go: "cannot parse GOAUTH command").
    Quote,
    Spawn(std::io::ErrorKind),
    Exit(Option<i32>),
    TimedOut,
    Output(OutputError),
}

/// What is wrong with a helper's output. Never holds the output itself: it
/// is made of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputError {
    NoEmptyLineAfterUrls,
    BadUrl,
    NoEmptyLineAfterHeaders,
    BadHeaderLine,
}

impl std::fmt::Display for HelperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelperError::Quote => write!(f, "unterminated quote in the command"),
            HelperError::Spawn(kind) => write!(f, "cannot run it ({kind})"),
            HelperError::Exit(Some(code)) => write!(f, "it exited with status {code}"),
            HelperError::Exit(None) => write!(f, "it was killed by a signal"),
            HelperError::TimedOut => write!(f, "no answer after {}s", DEADLINE.as_secs()),
            HelperError::Output(e) => write!(f, "unusable output: {e:?}"),
        }
    }
}

/// go's `quoted.Split`: fields separated by spaces, tabs and newlines; a
/// field may be wrapped in '' or "" (no escapes inside).
pub fn split_command(s: &str) -> Result<Vec<String>, HelperError> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(is_space);
        let Some(first) = rest.chars().next() else {
            return Ok(out);
        };
        if first == '"' || first == '\'' {
            let (word, after) = rest[1..].split_once(first).ok_or(HelperError::Quote)?;
            out.push(word.to_string());
            rest = after;
        } else {
            let end = rest.find(is_space).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
}

/// Parses a helper's output into `(prefix URL, headers)` pairs, in order (a
/// later block wins for the same prefix). Empty output: no credentials.
pub fn parse_output(data: &str) -> Result<Vec<(String, Headers)>, OutputError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let mut urls = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or(OutputError::NoEmptyLineAfterUrls)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if !is_request_uri(line) {
                return Err(OutputError::BadUrl);
            }
            urls.push(line.to_string());
        }
        let mut headers = Headers::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or(OutputError::NoEmptyLineAfterHeaders)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(": ").ok_or(OutputError::BadHeaderLine)?;
            let value = value.trim();
            if !is_token(name) || !is_field_value(value) {
                return Err(OutputError::BadHeaderLine);
            }
            headers.push((name.to_string(), value.to_string()));
        }
        for url in urls {
            out.push((url, headers.clone()));
        }
    }
    Ok(out)
}

/// Close enough to go's `url.ParseRequestURI`: an absolute URL (a scheme) or
/// an absolute path, without control characters or spaces.
fn is_request_uri(s: &str) -> bool {
    if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// An HTTP token (RFC 7230), as go's `validHeaderFieldName`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// No control characters but space and tab, as go's `validHeaderFieldValue`.
fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| !(b < b' ' || b == 0x7f) || b == b'\t')
}

/// What go writes to the helper's stdin about the refused response: the
/// status line (`HTTP/1.1 401 Unauthorized`), the headers, an empty line.
/// Names as go spells them (`Www-Authenticate`), repeated values joined.
pub fn response_text(
    proto: &str,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
) -> String {
    let mut out = format!("{proto} {status} {reason}\n");
    let mut names: Vec<String> = Vec::new();
    for (name, _) in headers {
        let canon = canonical_name(name);
        if !names.contains(&canon) {
            names.push(canon);
        }
    }
    for name in names {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
            .collect();
        out.push_str(&format!("{name}: {}\n", values.join(", ")));
    }
    out.push('\n');
    out
}

/// go's canonical MIME header key: `content-type` → `Content-Type`.
fn canonical_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            c
        })
        .collect()
}

/// Runs the helper: its own arguments, then `url` when there is one; `stdin`
/// (the refused response) or nothing on stdin. Its stderr is dropped: go
/// shows it only under -x, and it may hold secrets.
pub fn run(command: &str, url: Option<&str>, stdin: Option<&str>) -> Result<String, HelperError> {
    let mut words = split_command(command)?;
    words.extend(url.map(str::to_string));
    run_argv(&words, None, stdin)
}

/// Runs `argv` (in `dir`, if given) with `stdin` or nothing on stdin, within
/// [`DEADLINE`]: its stdout when it exits 0. Stderr is dropped.
pub fn run_argv(
    argv: &[String],
    dir: Option<&std::path::Path>,
    stdin: Option<&str>,
) -> Result<String, HelperError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(HelperError::Spawn(std::io::ErrorKind::NotFound));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| HelperError::Spawn(e.kind()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        // A helper that never reads its stdin must not block us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // The reader ends when the pipe closes; a grandchild holding
                // it open must not hold us: leave the thread behind.
                return Err(HelperError::TimedOut);
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(HelperError::Exit(status.code()));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn splits_like_go_quoted_split() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("/bin/helper", Some(&["/bin/helper"])),
            ("  a  b\tc ", Some(&["a", "b", "c"])),
            ("a 'b c' \"d 'e\"", Some(&["a", "b c", "d 'e"])),
            ("a b'c d'", Some(&["a", "b'c", "d'"])),
            ("a ''", Some(&["a", ""])),
            ("a 'b", None),
            ("", Some(&[])),
        ];
        for (s, want) in cases {
            let got = split_command(s).ok();
            let want = want.map(|w| w.iter().map(|x| x.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn parses_helper_output() {
        let ok = "https://a.example\nhttps://b.example/p\n\nAuthorization: Bearer t\nX-Key:  k \n\nhttps://c.example\n\n\n";
        assert_eq!(
            parse_output(ok).unwrap(),
            vec![
                (
                    "https://a.example".into(),
                    hv(&[("Authorization", "Bearer t"), ("X-Key", "k")])
                ),
                (
                    "https://b.example/p".into(),
                    hv(&[("Authorization", "Bearer t"), ("X-Key", "k")])
                ),
                ("https://c.example".into(), hv(&[])),
            ]
        );
        assert_eq!(parse_output("").unwrap(), vec![]);
        use OutputError::*;
        let bad = [
            ("https://a.example\n", NoEmptyLineAfterUrls),
            ("https://a.example", NoEmptyLineAfterUrls),
            (
                "https://a.example\n\nAuthorization: x\n",
                NoEmptyLineAfterHeaders,
            ),
            ("https://a.example\n\nAuthorization:x\n\n", BadHeaderLine),
            ("https://a.example\n\nBad Name: x\n\n", BadHeaderLine),
            ("https://a.example\n\nA: x\u{1}y\n\n", BadHeaderLine),
            ("a.example\n\nA: x\n\n", BadUrl),
            ("https://a.example\r\n\r\nA: x\r\n\r\n", BadUrl),
            ("https://a b\n\nA: x\n\n", BadUrl),
        ];
        for (text, want) in bad {
            assert_eq!(parse_output(text), Err(want), "{text:?}");
        }
        assert!(parse_output("/path\n\nA: x\n\n").is_ok());
    }

    #[test]
    fn describes_the_refused_response_as_go_does() {
        let headers = hv(&[
            ("www-authenticate", "Basic"),
            ("content-type", "text/plain"),
            ("WWW-Authenticate", "Bearer"),
        ]);
        assert_eq!(
            response_text("HTTP/1.1", 401, "Unauthorized", &headers),
            "HTTP/1.1 401 Unauthorized\nWww-Authenticate: Basic, Bearer\nContent-Type: text/plain\n\n"
        );
    }

    #[test]
    #[cfg(unix)] // the helpers are sh scripts
    fn runs_a_helper_with_the_url_and_stdin() {
        let out = run(
            "sh -c 'echo \"$1\"; cat' helper",
            Some("https://x.example/p"),
            Some("HTTP/1.1 401 Unauthorized\n\n"),
        )
        .unwrap();
        assert_eq!(out, "https://x.example/p\nHTTP/1.1 401 Unauthorized\n\n");
        assert_eq!(
            run("sh -c 'exit 3'", None, None),
            Err(HelperError::Exit(Some(3)))
        );
        assert!(matches!(
            run("/nonexistent/helper", None, None),
            Err(HelperError::Spawn(_))
        ));
        assert_eq!(run("sh 'unterminated", None, None), Err(HelperError::Quote));
    }
}

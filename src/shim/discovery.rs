//! Finding the real `go`: never goshim itself, never a loop.
//!
//! Identity is a file's (device, inode), on Windows its (volume serial, file
//! index), so symlinks, hard links, relative PATH entries, other spellings of
//! a name and the same shims folder listed twice all resolve to "me". Every
//! shim adds its identity to `GOSHIM_SEEN` for its child, so a second copy of
//! goshim elsewhere on PATH skips the first one instead of bouncing back to it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::platform::{self, Platform};
use crate::settings::vars::{self, Env};

/// A file's identity on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(path: &Path) -> Option<FileId> {
        platform::file_id(path).map(|(dev, ino)| FileId { dev, ino })
    }

    fn parse(s: &str) -> Option<FileId> {
        let (dev, ino) = s.split_once(':')?;
        Some(FileId {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        })
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// The shims a `go` call has already passed through, this one included.
pub struct Seen(Vec<FileId>);

/// More distinct shims than this in one chain means something is badly wrong.
const MAX_SEEN: usize = 32;

impl Seen {
    /// `GOSHIM_SEEN` from the environment plus the running binary.
    pub fn current(process: &Env) -> Seen {
        let mut ids: Vec<FileId> = process
            .get(vars::GOSHIM_SEEN)
            .unwrap_or_default()
            .split(',')
            .filter_map(FileId::parse)
            .collect();
        if let Some(me) = std::env::current_exe().ok().and_then(|p| FileId::of(&p))
            && !ids.contains(&me)
        {
            ids.push(me);
        }
        Seen(ids)
    }

    pub fn contains(&self, id: FileId) -> bool {
        self.0.contains(&id)
    }

    /// The value to put in the child's `GOSHIM_SEEN`.
    pub fn env_value(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(FileId::to_string).collect();
        parts.join(",")
    }
}

#[derive(Debug)]
pub enum DiscoveryError {
    /// GOSHIM_GO names something unusable.
    BadOverride { path: PathBuf, why: &'static str },
    /// No real go on PATH (only goshim shims, or nothing at all).
    NotFound {
        searched: usize,
        skipped_shims: usize,
    },
    /// The chain of shims is too long: a loop that identities did not catch.
    Loop,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::BadOverride { path, why } => write!(
                f,
                "GOSHIM_GO={} {why}; point it at the real go binary (e.g. /usr/local/go/bin/go) or unset it",
                path.display()
            ),
            DiscoveryError::NotFound {
                searched,
                skipped_shims,
            } => {
                if *skipped_shims == 0 {
                    write!(f, "no real go found in the {searched} PATH entries")?;
                } else {
                    write!(
                        f,
                        "no real go found: the only `go` in the {searched} PATH entries is goshim itself"
                    )?;
                }
                write!(
                    f,
                    "; install Go (https://go.dev/dl) or set GOSHIM_GO=/path/to/go"
                )
            }
            DiscoveryError::Loop => write!(
                f,
                "too many goshim shims in a chain (GOSHIM_SEEN); remove duplicate goshim installs from PATH or set GOSHIM_GO=/path/to/go"
            ),
        }
    }
}

/// The real go to run: `GOSHIM_GO`, else the first executable `go` on PATH
/// that is not a shim already seen.
pub fn find_real_go(process: &Env, seen: &Seen) -> Result<PathBuf, DiscoveryError> {
    if seen.0.len() > MAX_SEEN {
        return Err(DiscoveryError::Loop);
    }
    if let Some(path) = process.get_os(vars::GOSHIM_GO).filter(|v| !v.is_empty()) {
        return check_override(PathBuf::from(path), seen);
    }
    let path_var = process.get_os(vars::PATH).unwrap_or_default();
    search_path(path_var, &go_names_here(process), seen, process.cwd())
}

fn check_override(path: PathBuf, seen: &Seen) -> Result<PathBuf, DiscoveryError> {
    match FileId::of(&path) {
        None => Err(DiscoveryError::BadOverride {
            path,
            why: "does not exist",
        }),
        Some(id) if seen.contains(id) => Err(DiscoveryError::BadOverride {
            path,
            why: "is goshim itself",
        }),
        Some(_) if !is_executable(&path) => Err(DiscoveryError::BadOverride {
            path,
            why: "is not an executable file",
        }),
        Some(_) => Ok(path),
    }
}

fn search_path(
    path_var: &OsStr,
    names: &[OsString],
    seen: &Seen,
    cwd: Option<&Path>,
) -> Result<PathBuf, DiscoveryError> {
    let mut skipped_shims = 0;
    // Resolved now (against the start directory), so that a later chdir
    // (go -C) cannot change the answer.
    for candidate in candidates(path_var, names, cwd) {
        let Some(id) = FileId::of(&candidate) else {
            continue;
        };
        if seen.contains(id) {
            skipped_shims += 1;
            continue;
        }
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(DiscoveryError::NotFound {
        searched: std::env::split_paths(path_var).count(),
        skipped_shims,
    })
}

/// Every place a `go` may be, in PATH order: each entry (an empty one means
/// the current directory, as in execvp) with each of `names`; made absolute
/// against `cwd` when it is given.
pub fn candidates<'a>(
    path_var: &OsStr,
    names: &'a [OsString],
    cwd: Option<&'a Path>,
) -> impl Iterator<Item = PathBuf> + 'a {
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var)
        .map(|dir| match dir.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => dir,
        })
        .collect();
    dirs.into_iter()
        .flat_map(move |dir| names.iter().map(move |name| absolute(dir.join(name), cwd)))
}

/// The names of go in a PATH folder on this machine.
pub fn go_names_here(process: &Env) -> Vec<OsString> {
    go_names(Platform::CURRENT, process.get_os(vars::PATHEXT))
}

/// The names a PATH search for `go` tries in one folder: `go` on Unix;
/// `go` with each PATHEXT extension in order on Windows, as cmd.exe and go's
/// own exec.LookPath do (`go.exe` among them).
pub fn go_names(platform: Platform, pathext: Option<&OsStr>) -> Vec<OsString> {
    match platform {
        Platform::Unix | Platform::MacOs => vec![OsString::from("go")],
        Platform::Windows => {
            let pathext = pathext
                .and_then(OsStr::to_str)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or(".com;.exe;.bat;.cmd");
            pathext
                .split(';')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| match e.starts_with('.') {
                    true => OsString::from(format!("go{e}")),
                    false => OsString::from(format!("go.{e}")),
                })
                .collect()
        }
    }
}

/// An existing file that the platform would run.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| platform::is_executable(&m))
}

/// `path` against `cwd` when it is relative and `cwd` known.
fn absolute(path: PathBuf, cwd: Option<&Path>) -> PathBuf {
    match cwd {
        Some(cwd) if path.is_relative() => cwd.join(&path),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_id_round_trips_through_env_value() {
        let id = FileId { dev: 42, ino: 7 };
        assert_eq!(FileId::parse(&id.to_string()), Some(id));
        assert_eq!(FileId::parse("garbage"), None);
        assert_eq!(FileId::parse("1:x"), None);
    }

    #[test]
    fn seen_value_lists_every_identity() {
        let seen = Seen(vec![FileId { dev: 1, ino: 2 }, FileId { dev: 3, ino: 4 }]);
        assert_eq!(seen.env_value(), "1:2,3:4");
        assert!(seen.contains(FileId { dev: 3, ino: 4 }));
    }

    #[test]
    fn go_names_follow_pathext_on_windows() {
        let names = |platform, pathext: Option<&str>| {
            go_names(platform, pathext.map(OsStr::new))
                .into_iter()
                .map(|n| n.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        let table: [(Platform, Option<&str>, &[&str]); 6] = [
            (Platform::Unix, None, &["go"]),
            (Platform::Unix, Some(".EXE"), &["go"]),
            (
                Platform::Windows,
                None,
                &["go.com", "go.exe", "go.bat", "go.cmd"],
            ),
            (
                Platform::Windows,
                Some(" "),
                &["go.com", "go.exe", "go.bat", "go.cmd"],
            ),
            (
                Platform::Windows,
                Some(".COM;.EXE;.BAT;.CMD;.VBS;.JS;.MSC"),
                &[
                    "go.COM", "go.EXE", "go.BAT", "go.CMD", "go.VBS", "go.JS", "go.MSC",
                ],
            ),
            // Empty entries skipped, a missing dot added (as go's LookPath).
            (
                Platform::Windows,
                Some(";EXE;;.cmd "),
                &["go.EXE", "go.cmd"],
            ),
        ];
        for (platform, pathext, want) in table {
            assert_eq!(names(platform, pathext), want, "{platform:?} {pathext:?}");
        }
    }

    /// A directory with an executable `go` in it.
    #[cfg(unix)]
    fn go_in(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let go = dir.join("go");
        std::fs::write(&go, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
        go
    }

    #[test]
    #[cfg(unix)]
    fn goshim_go_wins_over_path_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let (go_a, go_b) = (go_in(&a), go_in(&b));
        let path = std::env::join_paths([&a, &b]).unwrap();
        let path = path.to_str().unwrap();
        let none = Seen(Vec::new());
        let find =
            |pairs: &[(&str, &str)], seen: &Seen| find_real_go(&Env::from_pairs(pairs), seen);
        assert_eq!(find(&[("PATH", path)], &none).unwrap(), go_a);
        let over = go_b.to_str().unwrap();
        assert_eq!(
            find(&[("PATH", path), ("GOSHIM_GO", over)], &none).unwrap(),
            go_b
        );
        // Empty GOSHIM_GO is unset.
        assert_eq!(
            find(&[("PATH", path), ("GOSHIM_GO", "")], &none).unwrap(),
            go_a
        );
        // A shim already passed through is skipped on PATH, refused as GOSHIM_GO.
        let me = Seen(vec![FileId::of(&go_a).unwrap()]);
        assert_eq!(find(&[("PATH", path)], &me).unwrap(), go_b);
        let me_too = go_a.to_str().unwrap();
        assert!(matches!(
            find(&[("GOSHIM_GO", me_too)], &me),
            Err(DiscoveryError::BadOverride {
                why: "is goshim itself",
                ..
            })
        ));
        assert!(matches!(
            find(&[("PATH", a.to_str().unwrap())], &me),
            Err(DiscoveryError::NotFound {
                searched: 1,
                skipped_shims: 1
            })
        ));
    }

    #[test]
    #[cfg(unix)]
    fn relative_path_entries_resolve_against_the_start_directory() {
        let dir = tempfile::tempdir().unwrap();
        let go = go_in(dir.path());
        let process = Env::from_pairs(&[("PATH", ":/nonexistent")]).with_cwd(dir.path());
        assert_eq!(
            find_real_go(&process, &Seen(Vec::new())).unwrap(),
            go.parent().unwrap().join(".").join("go")
        );
    }

    #[test]
    fn seen_reads_goshim_seen() {
        let process = Env::from_pairs(&[("GOSHIM_SEEN", "1:2,junk,3:4")]);
        let seen = Seen::current(&process);
        assert!(seen.contains(FileId { dev: 1, ino: 2 }));
        assert!(seen.contains(FileId { dev: 3, ino: 4 }));
    }
}

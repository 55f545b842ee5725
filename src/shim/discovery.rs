//! Finding the real `go`: never goshim itself, never a loop.
//!
//! Identity is a file's (device, inode), so symlinks, hard links, relative PATH
//! entries and the same shims folder listed twice all resolve to "me". Every
//! shim adds its identity to `GOSHIM_SEEN` for its child, so a second copy of
//! goshim elsewhere on PATH skips the first one instead of bouncing back to it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::settings::vars::{self, Env};

/// A file's identity on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
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
    search_path(path_var, seen, process.cwd())
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
    seen: &Seen,
    cwd: Option<&Path>,
) -> Result<PathBuf, DiscoveryError> {
    let mut searched = 0;
    let mut skipped_shims = 0;
    for dir in std::env::split_paths(path_var) {
        searched += 1;
        // An empty PATH entry means the current directory, as in execvp.
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        // Resolved now (against the start directory), so that a later chdir
        // (go -C) cannot change the answer.
        let candidate = absolute(dir.join(go_exe_name()), cwd);
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
        searched,
        skipped_shims,
    })
}

fn go_exe_name() -> OsString {
    OsString::from(if cfg!(windows) { "go.exe" } else { "go" })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
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

    /// A directory with an executable `go` in it.
    fn go_in(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let go = dir.join("go");
        std::fs::write(&go, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
        go
    }

    #[test]
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

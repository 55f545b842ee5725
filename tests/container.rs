//! goshim as in a Docker build: as a non-root user whose HOME is not
//! writable (so goshim cannot write its cache), and as PID 1 of its own PID
//! namespace. `go mod download` and `go build` through the shim must still
//! work: goshim degrades, it never fails, when it cannot keep its state.
//!
//! Needs root (to switch users) and util-linux's `setpriv` and `unshare`;
//! without them the test says so on stderr and returns (Rust tests cannot
//! report "skipped").

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::scenario::{assert_program_prints, goshim_lines};
use common::{ModTree, TestProxy, World, show, stdout_text};

/// uid and gid of `nobody`/`nogroup`, as in `USER 65534` of a Dockerfile.
const NOBODY: &str = "65534";

const SETPRIV_ARGS: [&str; 4] = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Why this machine cannot run the test, if it cannot.
fn unavailable(w: &World) -> Option<String> {
    let (Some(setpriv), Some(unshare)) = (tool("setpriv"), tool("unshare")) else {
        return Some("setpriv or unshare not found (install util-linux)".into());
    };
    // Switching users, and the binaries readable by nobody (a checkout in a
    // private home folder is not).
    let mut probe = w.cmd(&setpriv, SETPRIV_ARGS);
    probe.arg(common::go::goshim_bin()).arg("--version");
    let out = w.run(&mut probe);
    if !out.status.success() {
        return Some(format!(
            "cannot run goshim as uid {NOBODY} (needs root, and a goshim binary other users may read):\n{}",
            show(&out)
        ));
    }
    let out = w.run(&mut w.cmd(unshare, ["--pid", "--fork", "--mount-proc", "true"]));
    if !out.status.success() {
        return Some(format!(
            "unshare --pid --fork --mount-proc fails here:\n{}",
            show(&out)
        ));
    }
    None
}

fn chown_nobody(path: &Path) {
    let out = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(path)
        .output()
        .expect("run chown");
    assert!(
        out.status.success(),
        "chown {}: {}",
        path.display(),
        show(&out)
    );
}

/// `program args` as nobody, with the world's environment.
fn as_nobody<S: AsRef<OsStr>>(w: &World, program: &Path, args: &[S]) -> Command {
    let mut cmd = w.cmd("setpriv", SETPRIV_ARGS);
    cmd.arg(program).args(args);
    cmd
}

/// `go args` through the shim as nobody and as PID 1 of a new PID namespace;
/// the shell prints its PID before it execs (it keeps the PID).
fn as_nobody_pid1(w: &World, args: &[&str]) -> Command {
    let mut cmd = w.cmd(
        "unshare",
        [
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            "echo \"pid $$\"; exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \"$@\"",
            "sh",
        ],
    );
    cmd.arg(w.shim()).args(args);
    cmd
}

/// Succeeded, and goshim wrote nothing itself (no warning about its cache).
fn assert_quiet_success(what: &str, out: &Output) {
    assert!(out.status.success(), "{what}\n{}", show(out));
    assert!(
        goshim_lines(out).is_empty(),
        "{what}: goshim spoke\n{}",
        show(out)
    );
}

#[test]
fn builds_as_nobody_with_an_unwritable_home_and_as_pid_1() {
    let tree = ModTree::new(2);
    let proxy = TestProxy::start(&tree);
    let mut w = World::new();
    if let Some(why) = unavailable(&w) {
        eprintln!("SKIPPED builds_as_nobody_with_an_unwritable_home_and_as_pid_1: {why}");
        return;
    }
    w.write_tree_main_module(&tree);
    w.set_env("GOPROXY", proxy.url());
    // goshim's default cache, ~/.cache/goshim, under a HOME nobody cannot write.
    w.remove_env("GOSHIM_CACHE_DIR");
    w.remove_env("XDG_CACHE_HOME");
    let home = w.path("home");
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
    // What a Dockerfile gives the build user: its own module cache, build
    // cache (a copy of the warm shared one: no standard library rebuild),
    // temp dir and work dir. The world itself must be traversable.
    let gocache = w.path("gocache");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(common::go::shared_gocache())
        .arg(&gocache)
        .output()
        .expect("run cp");
    assert!(copied.status.success(), "{}", show(&copied));
    w.set_env("GOCACHE", &gocache);
    for dir in ["gopath", "gocache", "tmp", "work"] {
        chown_nobody(&w.path(dir));
    }
    fs::set_permissions(w.root(), fs::Permissions::from_mode(0o755)).unwrap();

    let download = w.run(&mut as_nobody(&w, &w.shim(), &["mod", "download", "all"]));
    assert_quiet_success("go mod download as nobody", &download);
    assert!(proxy.request_count() > 0, "{}", show(&download));
    let build = w.run(&mut as_nobody(&w, &w.shim(), &["build", "-o", "app", "."]));
    assert_quiet_success("go build as nobody", &build);
    assert_program_prints(&w, "work/app", &tree.expected_output());
    let status = w.run(&mut as_nobody(&w, common::go::goshim_bin(), &["status"]));
    assert!(
        status.status.success(),
        "goshim status as nobody\n{}",
        show(&status)
    );
    assert!(
        !home.join(".cache").exists(),
        "nobody wrote to the unwritable HOME"
    );

    // PID 1, with an empty module cache so that modules come through the relay again.
    proxy.clear_log();
    let modcache = w.path("modcache-pid1");
    fs::create_dir(&modcache).unwrap();
    chown_nobody(&modcache);
    w.set_env("GOMODCACHE", &modcache);
    let build = w.run(&mut as_nobody_pid1(&w, &["build", "-o", "app-pid1", "."]));
    assert!(
        stdout_text(&build).starts_with("pid 1\n"),
        "not PID 1\n{}",
        show(&build)
    );
    assert_quiet_success("go build as nobody and PID 1", &build);
    assert!(
        proxy.requests_ending_with(".zip").len() == tree.modules.len(),
        "{:?}",
        proxy.request_paths()
    );
    assert_program_prints(&w, "work/app-pid1", &tree.expected_output());
}

/// What the Dockerfile in docs/install.md relies on: with goshim's cache folder kept
/// (a cache mount), the first build leaves a snapshot that the next one
/// starts with, even though no background probe outlived the build step.
#[test]
fn a_kept_cache_folder_gives_the_next_build_a_snapshot() {
    let tree = ModTree::new(2);
    let proxy = TestProxy::start(&tree);
    let mut w = World::new();
    w.write_tree_main_module(&tree);
    w.set_env("GOPROXY", proxy.url());
    w.set_env("GOSHIM_TTL", "0"); // no background probe: only what go's run records
    let snapshot = w.path("goshim-cache/health.json");
    assert!(!snapshot.exists());
    let out = w.run_shim(&["mod", "download", "all"]);
    assert_quiet_success("go mod download", &out);
    assert!(
        snapshot.is_file(),
        "no snapshot after the first build\n{}",
        show(&out)
    );
    let status = common::scenario::status_json(&w);
    assert_eq!(status["snapshot"]["present"], true, "{status:#}");
    assert_eq!(
        common::scenario::entry(&status, &proxy.url())["state"],
        "up",
        "{status:#}"
    );
}

/// docs/install.md's Dockerfile line against the official golang image's
/// layout: `/go/bin` and `/usr/local/go/bin` (the real go) first on its PATH.
/// The binary copied in as `go` in a folder of its own, put first, is the
/// shim (and finds the real go behind it); copied to `/usr/local/bin`
/// instead, it loses to the real go. And docker/Dockerfile ships only the
/// static binary, at /goshim, in a scratch image.
#[test]
fn the_dockerfile_line_puts_the_shim_ahead_of_the_golang_image_s_go() {
    let mut w = World::new();
    let root = w.path("image");
    let real_go_dir = root.join("usr/local/go/bin");
    fs::create_dir_all(&real_go_dir).unwrap();
    std::os::unix::fs::symlink(w.real_go(), real_go_dir.join("go")).unwrap();
    fs::create_dir_all(root.join("go/bin")).unwrap();
    // COPY --from=goshim:latest /goshim /usr/local/goshim/go
    w.copy_goshim_to("image/usr/local/goshim");
    w.copy_goshim_to("image/usr/local/bin");
    let golang_path = |first: Option<&str>| -> Vec<PathBuf> {
        first
            .map(|f| root.join(f))
            .into_iter()
            .chain(["go/bin", "usr/local/go/bin", "usr/local/bin"].map(|d| root.join(d)))
            .chain(["/usr/bin", "/bin"].map(PathBuf::from))
            .collect()
    };
    w.set_env("GOSHIM_LOG", "debug");
    // ENV PATH=/usr/local/goshim:$PATH
    w.set_path(&golang_path(Some("usr/local/goshim")));
    let out = w.run(&mut w.cmd("sh", ["-c", "command -v go && go version"]));
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout_text(&out);
    assert_eq!(
        text.lines().next(),
        Some(root.join("usr/local/goshim/go").to_str().unwrap()),
        "{text}"
    );
    assert!(text.contains("go version go1."), "{text}");
    assert!(
        !goshim_lines(&out).is_empty(),
        "the shim ran: {}",
        show(&out)
    );
    // The usual place for a binary loses to the image's own go.
    w.set_path(&golang_path(None));
    let out = w.run(&mut w.cmd("sh", ["-c", "command -v go"]));
    assert_eq!(
        stdout_text(&out).trim(),
        real_go_dir.join("go").to_str().unwrap()
    );

    let dockerfile =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/Dockerfile"))
            .unwrap();
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(last_stage.starts_with("scratch"), "{dockerfile}");
    assert!(
        last_stage.contains("COPY --from=build /goshim /goshim"),
        "{dockerfile}"
    );
}

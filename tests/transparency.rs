//! Through the shim, go must look exactly like go: same stdout bytes, same
//! exit code, same stderr, and nothing of goshim's own on either stream.
//! Each test runs the same command through the shim and directly, in the same
//! sealed world, and compares.

mod common;

use std::fs;

use common::process::{assert_clean_success, assert_same_status_and_stdout, mask_go_build_dirs};
use common::programs::{COMPILE_ERROR, EXIT_3, HELLO, PRINT_ENV};
use common::{ModTree, TestProxy, World, assert_same_outcome, show, stderr_text, stdout_text};

#[test]
fn go_version_is_identical() {
    let world = World::new();
    let shim = world.run_shim(&["version"]);
    let direct = world.run_direct(&["version"]);
    assert_same_outcome("go version", &shim, &direct);
    assert_clean_success("go version", &shim);
    assert!(
        stdout_text(&shim).starts_with("go version go1."),
        "{}",
        show(&shim)
    );
}

#[test]
fn go_env_json_is_identical() {
    let mut world = World::new();
    let proxy = TestProxy::empty();
    for goproxy in ["off".to_string(), proxy.url()] {
        world.set_env("GOPROXY", &goproxy);
        let shim = mask_go_build_dirs(&world.run_shim(&["env", "-json"]));
        let direct = mask_go_build_dirs(&world.run_direct(&["env", "-json"]));
        assert_same_outcome(&format!("go env -json (GOPROXY={goproxy})"), &shim, &direct);
        assert_clean_success("go env -json", &shim);
        assert!(stdout_text(&shim).contains(&format!("\"GOPROXY\": \"{goproxy}\"")));
    }
}

/// `go list -json` reports module downloads; the first run fetches them from
/// the test proxy through the shim.
#[test]
fn go_list_json_with_dependencies_is_identical() {
    let tree = ModTree::new(3);
    let proxy = TestProxy::start(&tree);
    let mut world = World::new();
    world.set_env("GOPROXY", proxy.url());
    world.write_tree_main_module(&tree);

    let cold = world.run_shim(&["list", "-json", "./..."]);
    assert!(cold.status.success(), "{}", show(&cold));
    assert_eq!(
        proxy.requests_ending_with(".zip").len(),
        3,
        "{:?}",
        proxy.request_paths()
    );

    let direct = world.run_direct(&["list", "-json", "./..."]);
    assert_same_status_and_stdout("go list -json (cold shim vs warm direct)", &cold, &direct);
    let warm = world.run_shim(&["list", "-json", "./..."]);
    assert_same_outcome("go list -json (warm)", &warm, &direct);
    assert_clean_success("go list -json (warm)", &warm);
    for m in &tree.modules {
        let quoted = format!("\"{}\"", m.path);
        assert!(
            stdout_text(&warm).contains(&quoted),
            "{} missing from the deps",
            m.path
        );
    }
}

/// A cold build downloads every dependency; shim and direct go, each in its
/// own twin world, print the same, and the binaries behave the same.
#[test]
fn go_build_with_downloads_is_identical_and_the_binary_runs() {
    let tree = ModTree::new(2);
    let (proxy_a, proxy_b) = (TestProxy::start(&tree), TestProxy::start(&tree));
    let (mut a, mut b) = (World::new(), World::new());
    a.set_env("GOPROXY", proxy_a.url());
    b.set_env("GOPROXY", proxy_b.url());
    a.write_tree_main_module(&tree);
    b.write_tree_main_module(&tree);

    let shim = a.run_shim(&["build", "-o", "out/prog", "."]);
    let direct = b.run_direct(&["build", "-o", "out/prog", "."]);
    assert_same_status_and_stdout("cold go build", &shim, &direct);
    assert!(shim.status.success(), "{}", show(&shim));
    assert_eq!(
        sorted_lines(&shim.stderr),
        sorted_lines(&direct.stderr),
        "cold build stderr"
    );
    assert_eq!(proxy_a.requests_ending_with(".zip").len(), 2);
    let ran = a.run(&mut a.cmd(a.path("work/out/prog"), [""; 0]));
    assert_eq!(stdout_text(&ran), tree.expected_output(), "{}", show(&ran));

    // Warm, same world: identical output, and byte-identical binaries.
    let shim = a.run_shim(&["build", "-o", "out/shim", "."]);
    let direct = a.run_direct(&["build", "-o", "out/direct", "."]);
    assert_same_outcome("warm go build", &shim, &direct);
    assert_clean_success("warm go build", &shim);
    let (bin_shim, bin_direct) = (
        fs::read(a.path("work/out/shim")).unwrap(),
        fs::read(a.path("work/out/direct")).unwrap(),
    );
    assert!(
        bin_shim == bin_direct,
        "go build through the shim produced a different binary"
    );
}

#[test]
fn go_run_output_is_identical() {
    let mut world = World::new();
    world.write_main_module(HELLO);
    let args = ["run", ".", "one", "two words"];
    let shim = world.run_shim(&args);
    let direct = world.run_direct(&args);
    assert_same_outcome("go run", &shim, &direct);
    assert_clean_success("go run", &shim);
    assert_eq!(
        stdout_text(&shim),
        "hello from go\narg: one\narg: two words\n"
    );

    // Also with a proxy configured (the shim then picks the child's GOPROXY).
    let proxy = TestProxy::empty();
    world.set_env("GOPROXY", proxy.url());
    let shim = world.run_shim(&args);
    let direct = world.run_direct(&args);
    assert_same_outcome("go run with a proxy", &shim, &direct);
    assert_clean_success("go run with a proxy", &shim);
}

/// Each failing command is run with GOPROXY=off (the shim execs go) and with a
/// healthy proxy (the shim may supervise go and read its stderr).
fn both_proxy_settings(world: &mut World, proxy: &TestProxy, check: impl Fn(&World, &str)) {
    for goproxy in ["off".to_string(), proxy.url()] {
        world.set_env("GOPROXY", &goproxy);
        check(world, &goproxy);
    }
}

#[test]
fn compile_error_exits_1_with_the_same_stderr() {
    let mut world = World::new();
    world.write_main_module(COMPILE_ERROR);
    let proxy = TestProxy::empty();
    both_proxy_settings(&mut world, &proxy, |world, goproxy| {
        let shim = world.run_shim(&["build", "-o", "out/x", "."]);
        let direct = world.run_direct(&["build", "-o", "out/x", "."]);
        assert_same_outcome(
            &format!("compile error (GOPROXY={goproxy})"),
            &shim,
            &direct,
        );
        assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
        assert!(
            stderr_text(&shim).contains("undefined: notDefined"),
            "{}",
            show(&shim)
        );
    });
}

#[test]
fn bad_flag_exits_2_with_the_same_stderr() {
    let mut world = World::new();
    world.write_main_module(HELLO);
    let proxy = TestProxy::empty();
    both_proxy_settings(&mut world, &proxy, |world, goproxy| {
        for args in [
            &["build", "-notaflag"][..],
            &["frobnicate"],
            &["mod", "nosuchverb"],
        ] {
            let shim = world.run_shim(args);
            let direct = world.run_direct(args);
            assert_same_outcome(&format!("go {args:?} (GOPROXY={goproxy})"), &shim, &direct);
            assert_eq!(shim.status.code(), Some(2), "{}", show(&shim));
            assert!(!shim.stderr.is_empty());
        }
    });
}

/// `go run` of a program that exits 3: go reports "exit status 3" and itself exits 1.
#[test]
fn go_run_of_a_program_exiting_3_exits_1_like_go() {
    let mut world = World::new();
    world.write_main_module(EXIT_3);
    let proxy = TestProxy::empty();
    both_proxy_settings(&mut world, &proxy, |world, goproxy| {
        let shim = world.run_shim(&["run", "."]);
        let direct = world.run_direct(&["run", "."]);
        assert_same_outcome(
            &format!("go run exit 3 (GOPROXY={goproxy})"),
            &shim,
            &direct,
        );
        assert_eq!(
            direct.status.code(),
            Some(1),
            "go run itself exits 1: {}",
            show(&direct)
        );
        assert_eq!(stdout_text(&shim), "about to exit 3\n");
        assert_eq!(stderr_text(&shim), "exit status 3\n");
    });
}

/// GOSHIM_DISABLE=1: go gets the environment exactly as the user set it.
#[test]
fn disabled_shim_leaves_go_and_its_environment_untouched() {
    let proxy = TestProxy::empty();
    let goproxy = format!("{},{}|direct", common::refused_url(), proxy.url());
    let mut world = World::new();
    world.set_env("GOPROXY", &goproxy);
    world.set_env("GOSHIM_DISABLE", "1");
    world.write_main_module(PRINT_ENV);

    let shim = mask_go_build_dirs(&world.run_shim(&["env", "-json"]));
    let direct = mask_go_build_dirs(&world.run_direct(&["env", "-json"]));
    assert_same_outcome("go env -json with GOSHIM_DISABLE=1", &shim, &direct);
    let shim = world.run_shim(&["env", "GOPROXY"]);
    assert_eq!(
        stdout_text(&shim),
        format!("{goproxy}\n"),
        "{}",
        show(&shim)
    );

    // A command that may fetch: the program sees the user's GOPROXY and GOFLAGS as set.
    let args = ["run", ".", "GOPROXY", "GOFLAGS", "GONOSUMDB"];
    let shim = world.run_shim(&args);
    assert_clean_success("go run with GOSHIM_DISABLE=1", &shim);
    assert_eq!(
        stdout_text(&shim),
        format!("GOPROXY={goproxy}\nGOFLAGS=-mod=mod\nGONOSUMDB unset\n")
    );
    assert_eq!(
        proxy.request_count(),
        0,
        "a disabled shim probes nothing: {:?}",
        proxy.request_paths()
    );
}

fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

//! Through the shim, go must look exactly like go: same stdout bytes, same
//! exit code, same stderr, and nothing of goshim's own on either stream.
//! Each test runs the same command through the shim and directly, in the same
//! sealed world, and compares.

mod common;

use std::fs;
use std::process::Output;

use common::process::run_with_input;
use common::process::{assert_clean_success, assert_same_status_and_stdout, mask_go_build_dirs};
use common::programs::{
    COMPILE_ERROR, ENV_DUMP, EXIT_3, FAILING_TEST, HELLO, PRINT_ENV, UPPER_CAT, VET_ERROR,
};
use common::scenario::{assert_program_prints, with_each_goproxy};
use common::{
    DEFAULT_TIMEOUT, ModTree, TestProxy, World, assert_same_outcome, show, stderr_text, stdout_text,
};

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

/// go's `-C dir` comes before the subcommand: `go -C sub env GOPROXY` is still
/// a passthrough, so go prints the user's GOPROXY, not the relay's URL.
#[test]
fn go_env_after_a_chdir_flag_is_identical() {
    let mut world = World::new();
    let (a, b) = (TestProxy::empty(), TestProxy::empty());
    let goproxy = format!("{},{}", a.url(), b.url());
    world.set_env("GOPROXY", &goproxy);
    world.write_main_module("package main\n\nfunc main() {}\n");
    fs::create_dir_all(world.work_dir().join("sub")).unwrap();
    for args in [
        &["-C", "sub", "env", "GOPROXY"][..],
        &["-C=sub", "env", "GOPROXY"],
    ] {
        let shim = world.run_shim(args);
        let direct = world.run_direct(args);
        assert_same_outcome(&format!("go {}", args.join(" ")), &shim, &direct);
        assert_clean_success("go -C sub env GOPROXY", &shim);
        assert_eq!(stdout_text(&shim).trim_end(), goproxy);
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
    assert_program_prints(&a, "work/out/prog", &tree.expected_output());

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

// Each failing command is run with GOPROXY=off (the shim execs go) and with a
// healthy proxy (the shim may supervise go and read its stderr).

/// Runs `go args` through the shim and directly, asserts the same outcome
/// (status, stdout, stderr) and exit code `code`; returns the shim's output.
fn fails_like_go(world: &World, what: &str, args: &[&str], code: i32) -> Output {
    fails_like_go_masked(world, what, args, code, Output::clone)
}

/// [`fails_like_go`], comparing the outputs after `mask`; returns the masked
/// shim output.
fn fails_like_go_masked(
    world: &World,
    what: &str,
    args: &[&str],
    code: i32,
    mask: fn(&Output) -> Output,
) -> Output {
    let shim = mask(&world.run_shim(args));
    let direct = mask(&world.run_direct(args));
    assert_same_outcome(what, &shim, &direct);
    assert_eq!(shim.status.code(), Some(code), "{what}\n{}", show(&shim));
    shim
}

#[test]
fn compile_error_exits_1_with_the_same_stderr() {
    let mut world = World::new();
    world.write_main_module(COMPILE_ERROR);
    with_each_goproxy(&mut world, |world, goproxy| {
        let what = format!("compile error (GOPROXY={goproxy})");
        let shim = fails_like_go(world, &what, &["build", "-o", "out/x", "."], 1);
        assert!(
            stderr_text(&shim).contains("undefined: notDefined"),
            "{}",
            show(&shim)
        );
    });
}

/// A retryable command that fails for a reason other than a proxy: printed
/// once, exit code kept.
#[test]
fn vet_failure_exits_1_with_the_same_stderr() {
    let mut world = World::new();
    world.write_main_module(VET_ERROR);
    with_each_goproxy(&mut world, |world, goproxy| {
        let what = format!("go vet (GOPROXY={goproxy})");
        let shim = fails_like_go(world, &what, &["vet", "."], 1);
        assert!(
            stderr_text(&shim).contains("Printf format %d"),
            "{}",
            show(&shim)
        );
    });
}

/// `go test` with a failing test: exit 1 and the same report (durations masked).
#[test]
fn failing_go_test_reports_like_go() {
    let mut world = World::new();
    world.write_main_module(HELLO);
    world.write_file("work/main_test.go", FAILING_TEST);
    with_each_goproxy(&mut world, |world, goproxy| {
        let what = format!("failing go test (GOPROXY={goproxy})");
        let args = ["test", "-count=1", "-v", "."];
        let shim = fails_like_go_masked(world, &what, &args, 1, mask_durations);
        assert!(
            stdout_text(&shim).contains("--- FAIL: TestFails"),
            "{}",
            show(&shim)
        );
    });
}

/// `out` with test durations ("(0.00s)", "0.003s") replaced by "Ds".
fn mask_durations(out: &Output) -> Output {
    let mask = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let mut result = String::with_capacity(text.len());
        let mut rest = text.as_ref();
        while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
            result.push_str(&rest[..start]);
            let tail = &rest[start..];
            let len = tail
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(tail.len());
            let (number, after) = tail.split_at(len);
            if number.contains('.') && after.starts_with('s') {
                result.push('D');
            } else {
                result.push_str(number);
            }
            rest = after;
        }
        result.push_str(rest);
        result.into_bytes()
    };
    Output {
        status: out.status,
        stdout: mask(&out.stdout),
        stderr: mask(&out.stderr),
    }
}

#[test]
fn bad_flag_exits_2_with_the_same_stderr() {
    let mut world = World::new();
    world.write_main_module(HELLO);
    with_each_goproxy(&mut world, |world, goproxy| {
        for args in [
            &["build", "-notaflag"][..],
            &["frobnicate"],
            &["mod", "nosuchverb"],
        ] {
            let shim = fails_like_go(world, &format!("go {args:?} (GOPROXY={goproxy})"), args, 2);
            assert!(!shim.stderr.is_empty());
        }
    });
}

/// `go run` of a program that exits 3: go reports "exit status 3" and itself exits 1.
#[test]
fn go_run_of_a_program_exiting_3_exits_1_like_go() {
    let mut world = World::new();
    world.write_main_module(EXIT_3);
    with_each_goproxy(&mut world, |world, goproxy| {
        // go run itself exits 1.
        let what = format!("go run exit 3 (GOPROXY={goproxy})");
        let shim = fails_like_go(world, &what, &["run", "."], 1);
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

/// The program go runs sees the user's environment. Differences allowed:
/// GOSHIM_SEEN is added; GOPROXY is the one the shim gave go when a proxy is
/// configured (health-ordered list or loopback relay); PATH differs only
/// because the direct run has no shims dir on it.
#[test]
fn go_run_program_sees_the_same_environment() {
    let mut world = World::new();
    world.write_main_module(ENV_DUMP);
    with_each_goproxy(&mut world, |world, goproxy| {
        let shim = world.run_shim(&["run", "."]);
        let direct = world.run_direct(&["run", "."]);
        assert_clean_success("env dump through the shim", &shim);
        let set_by_shim = ["PATH=", "GOSHIM_SEEN=", "GOPROXY="];
        let unrelated = |l: &&str| !set_by_shim.iter().any(|p| l.starts_with(p));
        let (shim_text, direct_text) = (stdout_text(&shim), stdout_text(&direct));
        let shim_env: Vec<&str> = shim_text.lines().filter(unrelated).collect();
        let direct_env: Vec<&str> = direct_text.lines().filter(unrelated).collect();
        assert_eq!(
            shim_env, direct_env,
            "environment of the program (GOPROXY={goproxy})"
        );
        assert!(
            stdout_text(&shim).contains("\nGOSHIM_SEEN="),
            "{}",
            show(&shim)
        );
        if goproxy == "off" {
            let line = format!("\nGOPROXY={goproxy}\n");
            assert!(stdout_text(&shim).contains(&line), "{}", show(&shim));
        }
    });
}

/// stdin reaches the program go runs, whichever way the shim runs go.
#[test]
fn go_run_program_reads_stdin_through_the_shim() {
    let mut world = World::new();
    world.write_main_module(UPPER_CAT);
    let input = "some input\nacross lines\n".repeat(2000);
    let expected = format!("{}{}\n", input.to_uppercase(), input.len());
    with_each_goproxy(&mut world, |world, goproxy| {
        let mut cmd = world.shim_cmd(["run", "."]);
        let out = run_with_input(&mut cmd, input.as_bytes(), DEFAULT_TIMEOUT);
        assert_clean_success(&format!("go run reading stdin (GOPROXY={goproxy})"), &out);
        assert!(
            stdout_text(&out) == expected,
            "stdin was not passed through intact"
        );
    });
}

fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

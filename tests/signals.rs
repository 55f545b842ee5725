//! Signals: what reaches go through the shim, and how the shim ends when go
//! ends by a signal. Every case is compared with the real go run directly under
//! the same signal, and every run must leave no process behind in its group.
//!
//! Both ways go runs under the shim are covered: handed over (the shim execs
//! go: GOPROXY=off, nothing to do for goshim) and supervised (a proxy is
//! configured: the shim stays go's parent, to serve its loopback relay and to
//! re-run go after proxy failures). `go run`/`go tool` are run both ways; for
//! `go build`, `-toolexec` points at a blocker program that keeps go busy until
//! the test has sent its signal.
//!
//! Ctrl-C is pressed two ways: as `kill(-pgid, SIGINT)` (a signal from a
//! process, to the whole job) and, in the `ctrl_c_at_a_terminal_*` tests, by
//! typing the interrupt character into a real pseudo-terminal whose foreground
//! job is the command, so that the kernel sends the SIGINT as it does for a
//! user (the shim does not forward those: go got its own copy).

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use common::process::{
    Proc, assert_same_status_and_stdout, send_signal, start_with_signal_ignored,
};
use common::programs::{BLOCKER, CHATTY, COMPILE_ERROR, SELF_KILL, SIGNAL_CATCHER, SLEEPER};
use common::scenario::with_each_goproxy;
use common::terminal::Pty;
use common::{Running, TestProxy, World, assert_same_outcome, show, stderr_text, stdout_text};
use libc::{
    SIGALRM, SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// Bound for a program to get ready (may include compiling it).
const READY: Duration = Duration::from_secs(60);
/// Bound for everything to end once the signal is sent.
const END: Duration = Duration::from_secs(30);
/// Time for `go tool` to call signal.Notify after starting the tool.
const GO_TOOL_NOTIFY: Duration = Duration::from_millis(300);

/// Starts `cmd`, waits until `ready` holds, calls `act`, and waits for the end.
fn signal_run(
    mut cmd: Command,
    ready: impl FnMut(&Running) -> bool,
    act: impl FnOnce(&mut Running),
) -> Output {
    let mut running = Running::spawn(&mut cmd);
    running.wait_until("ready", READY, ready);
    act(&mut running);
    running.wait(END)
}

fn printed_ready(r: &Running) -> bool {
    String::from_utf8_lossy(&r.stdout_so_far()).contains("ready\n")
}

// ---------------------------------------------------------------------------
// go run and go tool, each with GOPROXY=off (the shim hands the process over
// to go) and with a healthy proxy (the shim stays go's parent to serve it).

#[test]
fn sigterm_during_go_run_ends_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(SLEEPER);
    with_each_goproxy(&mut world, |world, goproxy| {
        let run = |cmd| signal_run(cmd, printed_ready, |r| r.signal(SIGTERM));
        let shim = run(world.shim_cmd(["run", "."]));
        let direct = run(world.direct_cmd(["run", "."]));
        assert_same_outcome(
            &format!("SIGTERM during go run, GOPROXY={goproxy}"),
            &shim,
            &direct,
        );
        assert_eq!(shim.status.signal(), Some(SIGTERM), "{}", show(&shim));
    });
}

/// `go run` ignores a SIGINT sent to go alone (it expects the terminal to
/// interrupt the program too): through the shim, go keeps running, as
/// directly, and the shim does not end before go does.
#[test]
fn sigint_to_go_alone_during_go_run_is_ignored_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(SLEEPER);
    with_each_goproxy(&mut world, |world, goproxy| {
        let act = |r: &mut Running| {
            r.signal(SIGINT);
            thread::sleep(Duration::from_millis(300));
            assert!(
                !r.has_exited(),
                "ended on a SIGINT that go run ignores (GOPROXY={goproxy})"
            );
            r.signal(SIGTERM);
        };
        let shim = signal_run(world.shim_cmd(["run", "."]), printed_ready, act);
        let direct = signal_run(world.direct_cmd(["run", "."]), printed_ready, act);
        let what = format!("SIGINT then SIGTERM during go run, GOPROXY={goproxy}");
        assert_same_outcome(&what, &shim, &direct);
        assert_eq!(shim.status.signal(), Some(SIGTERM), "{}", show(&shim));
    });
}

/// Ctrl-C at a terminal reaches the whole job: go ignores it and reports the
/// program's death ("signal: interrupt", exit 1).
#[test]
fn ctrl_c_to_the_job_during_go_run_ends_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(SLEEPER);
    with_each_goproxy(&mut world, |world, goproxy| {
        let run = |cmd| signal_run(cmd, printed_ready, |r| r.signal_group(SIGINT));
        let shim = run(world.shim_cmd(["run", "."]));
        let direct = run(world.direct_cmd(["run", "."]));
        assert_same_outcome(
            &format!("Ctrl-C during go run, GOPROXY={goproxy}"),
            &shim,
            &direct,
        );
        assert_eq!(direct.status.code(), Some(1), "{}", show(&direct));
        assert_eq!(stderr_text(&shim), "signal: interrupt\n");
    });
}

/// `go tool` forwards SIGHUP/SIGINT/SIGQUIT/SIGTERM to the tool: sent to the
/// shim alone, each must reach the program, which exits 40 + the signal.
fn check_signals_reach_a_go_tool_program(goproxy: &str) {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.write_file(
        "work/go.mod",
        "module example.com/m\n\ngo 1.24\n\ntool example.com/m/catcher\n",
    );
    world.write_file("work/catcher/main.go", SIGNAL_CATCHER);
    for sig in [SIGHUP, SIGINT, SIGQUIT, SIGTERM] {
        let run = |cmd| {
            signal_run(cmd, printed_ready, |r| {
                // go tool starts forwarding only after the tool has started:
                // give it time to get there, or go dies of the signal itself.
                thread::sleep(GO_TOOL_NOTIFY);
                r.signal(sig)
            })
        };
        let shim = run(world.shim_cmd(["tool", "catcher"]));
        let direct = run(world.direct_cmd(["tool", "catcher"]));
        let what = format!("signal {sig} to go tool, GOPROXY={goproxy}");
        assert_same_outcome(&what, &shim, &direct);
        assert_eq!(shim.status.code(), Some(40 + sig), "{}", show(&shim));
        assert!(
            stdout_text(&shim).starts_with("ready\ngot "),
            "{}",
            show(&shim)
        );
    }
}

#[test]
fn signals_to_the_shim_reach_a_go_tool_program() {
    check_signals_reach_a_go_tool_program("off");
}

#[test]
fn signals_to_the_shim_reach_a_go_tool_program_with_a_proxy() {
    let proxy = TestProxy::empty();
    check_signals_reach_a_go_tool_program(&proxy.url());
}

#[test]
fn go_run_of_a_program_killed_by_a_signal_exits_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(SELF_KILL);
    with_each_goproxy(&mut world, |world, goproxy| {
        let shim = world.run_shim(&["run", "."]);
        let direct = world.run_direct(&["run", "."]);
        let what = format!("go run of a self-killed program, GOPROXY={goproxy}");
        assert_same_outcome(&what, &shim, &direct);
        assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
        assert_eq!(stderr_text(&shim), "signal: killed\n");
    });
}

/// `nohup go run ...`: go starts with SIGHUP ignored, so a later SIGHUP (the
/// shell's hangup on exit, `kill -HUP`) leaves it running. Through the shim too.
#[test]
fn nohup_go_run_ignores_sighup_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(SLEEPER);
    with_each_goproxy(&mut world, |world, goproxy| {
        let run = |mut cmd: Command| {
            start_with_signal_ignored(&mut cmd, SIGHUP);
            signal_run(cmd, printed_ready, |r| {
                r.signal(SIGHUP);
                thread::sleep(Duration::from_millis(300));
                r.signal(SIGTERM);
            })
        };
        let shim = run(world.shim_cmd(["run", "."]));
        let direct = run(world.direct_cmd(["run", "."]));
        let what = format!("nohup go run, SIGHUP then SIGTERM, GOPROXY={goproxy}");
        assert_same_outcome(&what, &shim, &direct);
        assert_eq!(direct.status.signal(), Some(SIGTERM), "{}", show(&direct));
    });
}

/// stdout is a pipe nobody reads (`go ... | head -0`): whoever writes first
/// dies of SIGPIPE, as without the shim. This also catches a shim that leaves
/// SIGPIPE ignored for go (Rust ignores it in its own processes), which turns
/// the signal into write errors and changes the outcome.
#[test]
fn broken_stdout_pipe_ends_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(CHATTY);
    let run = |mut cmd: Command| {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        Running::spawn_with_stdout(&mut cmd, writer).wait(END)
    };
    let shim = run(world.shim_cmd(["version"]));
    let direct = run(world.direct_cmd(["version"]));
    assert_same_outcome("go version into a broken pipe", &shim, &direct);
    assert_eq!(direct.status.signal(), Some(SIGPIPE), "{}", show(&direct));
    with_each_goproxy(&mut world, |world, goproxy| {
        for args in [&["list", "-json", "."][..], &["run", "."]] {
            let shim = run(world.shim_cmd(args));
            let direct = run(world.direct_cmd(args));
            let what = format!("go {args:?} into a broken pipe, GOPROXY={goproxy}");
            assert_same_outcome(&what, &shim, &direct);
        }
    });
}

/// stderr is a pipe nobody reads (`go build 2>&1 | head -0`): go dies of
/// SIGPIPE on its first error line, and so must the shim's go.
#[test]
fn broken_stderr_pipe_ends_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(COMPILE_ERROR);
    let run = |mut cmd: Command| {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        Running::spawn_with_stderr(&mut cmd, writer).wait(END)
    };
    with_each_goproxy(&mut world, |world, goproxy| {
        for args in [&["build", "-o", "out/x", "."][..], &["vet", "."]] {
            let shim = run(world.shim_cmd(args));
            let direct = run(world.direct_cmd(args));
            let what = format!("go {args:?} with a broken stderr, GOPROXY={goproxy}");
            assert_same_outcome(&what, &shim, &direct);
        }
    });
}

// ---------------------------------------------------------------------------
// go build, supervised by the shim.

/// A world whose `go build` blocks in a `-toolexec` blocker, with a healthy
/// proxy configured so that the shim supervises go rather than exec-ing it.
struct BuildJob {
    world: World,
    _proxy: TestProxy,
    blocker: PathBuf,
}

impl BuildJob {
    fn new() -> BuildJob {
        let proxy = TestProxy::empty();
        let mut world = World::new();
        world.set_env("GOPROXY", proxy.url());
        world.set_env("BLOCKER_DIR", world.path("blocker"));
        let src = world.write_module("blocker-src", "example.com/blocker", BLOCKER);
        let blocker = world.path("bin/blocker");
        let mut build = world.direct_cmd(["build", "-o", blocker.to_str().unwrap(), "."]);
        build.current_dir(src);
        let out = world.run(&mut build);
        assert!(out.status.success(), "building the blocker: {}", show(&out));
        BuildJob {
            world,
            _proxy: proxy,
            blocker,
        }
    }

    /// Fresh blocker state, and a main package never built before (a cached
    /// compile would not run the tool at all).
    fn reset(&self) {
        static NONCE: AtomicU32 = AtomicU32::new(0);
        let dir = self.world.path("blocker");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let nonce = format!(
            "{}-{}-{:?}",
            std::process::id(),
            NONCE.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
        );
        self.world.write_main_module(&format!(
            "package main\n\nconst nonce = {nonce:?}\n\nfunc main() {{ println(nonce) }}\n"
        ));
    }

    fn args(&self) -> Vec<String> {
        let blocker = self.blocker.to_str().unwrap();
        [
            "build",
            "-p",
            "1",
            "-toolexec",
            blocker,
            "-o",
            "out/prog",
            ".",
        ]
        .map(String::from)
        .to_vec()
    }

    fn shim_cmd(&self) -> Command {
        self.reset();
        self.world.shim_cmd(self.args())
    }

    fn direct_cmd(&self) -> Command {
        self.reset();
        self.world.direct_cmd(self.args())
    }

    fn ready(&self) -> impl FnMut(&Running) -> bool + use<> {
        let file = self.world.path("blocker/ready");
        move |_| file.exists()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.world.path("blocker/log")).unwrap_or_default()
    }
}

/// The shim's child that runs the real go (the shim may have other children,
/// e.g. a background prober). Panics if the shim is not supervising a go.
fn go_child_of(shim: &Running) -> Proc {
    let real = fs::canonicalize(common::go::real_go()).unwrap();
    let kids = shim.children();
    let gos: Vec<Proc> = kids
        .iter()
        .filter(|p| p.exe().is_some_and(|e| e == real))
        .cloned()
        .collect();
    assert_eq!(
        gos.len(),
        1,
        "the shim (pid {}) should be the parent of exactly one real go, has children {kids:?}",
        shim.pid()
    );
    gos.into_iter().next().unwrap()
}

/// go build does not catch SIGHUP/SIGINT/SIGQUIT/SIGTERM: sent to the shim
/// alone, each must reach go, and the shim must end exactly as go does
/// (killed by the same signal; for SIGQUIT go dumps its goroutines, whose
/// text differs from run to run, and exits 2).
#[test]
fn signals_to_a_supervising_shim_reach_go() {
    let job = BuildJob::new();
    for sig in [SIGHUP, SIGINT, SIGQUIT, SIGTERM] {
        let shim = signal_run(job.shim_cmd(), job.ready(), |r| {
            go_child_of(r);
            r.signal(sig);
        });
        let direct = signal_run(job.direct_cmd(), job.ready(), |r| r.signal(sig));
        let what = format!("signal {sig} during go build");
        if sig == SIGQUIT {
            assert_same_status_and_stdout(&what, &shim, &direct);
            assert_eq!(shim.status.code(), Some(2), "{}", show(&shim));
            assert!(
                stderr_text(&shim).starts_with("SIGQUIT: quit"),
                "{}",
                show(&shim)
            );
        } else {
            assert_same_outcome(&what, &shim, &direct);
            assert_eq!(shim.status.signal(), Some(sig), "{}", show(&shim));
        }
    }
}

/// SIGUSR1, SIGUSR2, SIGALRM and SIGWINCH sent to a supervising shim reach go
/// (which ignores them, as the Go runtime does without signal.Notify) instead
/// of killing the shim by their default action and orphaning go: the build
/// goes on, and a SIGTERM sent afterwards ends it exactly as it ends direct go.
#[test]
fn other_signals_to_a_supervising_shim_reach_go_and_do_not_kill_the_shim() {
    let job = BuildJob::new();
    for sig in [SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH] {
        let then_term = |r: &mut Running| {
            r.signal(sig);
            thread::sleep(Duration::from_millis(300));
            r.signal(SIGTERM);
        };
        let shim = signal_run(job.shim_cmd(), job.ready(), |r| {
            go_child_of(r);
            then_term(r);
        });
        let direct = signal_run(job.direct_cmd(), job.ready(), then_term);
        let what = format!("signal {sig}, then SIGTERM, during go build");
        assert_same_outcome(&what, &shim, &direct);
        assert_eq!(
            shim.status.signal(),
            Some(SIGTERM),
            "{what}: {}",
            show(&shim)
        );
    }
}

/// Ctrl-C to the whole job during a supervised build: go and the tool die of
/// it, and the shim ends the same way without re-running go.
#[test]
fn ctrl_c_to_the_job_during_a_supervised_build_ends_like_direct_without_rerun() {
    let job = BuildJob::new();
    let shim = signal_run(job.shim_cmd(), job.ready(), |r| r.signal_group(SIGINT));
    let shim_log = job.log();
    let direct = signal_run(job.direct_cmd(), job.ready(), |r| r.signal_group(SIGINT));
    assert_same_outcome("Ctrl-C during go build", &shim, &direct);
    assert_eq!(shim.status.signal(), Some(SIGINT), "{}", show(&shim));
    let go_runs = shim_log.lines().filter(|l| *l == "compile -V=full").count();
    assert_eq!(
        go_runs, 1,
        "go must run once, not be re-run after Ctrl-C:\n{shim_log}"
    );
}

/// `go build &` in a script: go starts with SIGINT ignored, so Ctrl-C at the
/// terminal does not stop it (here only the blocker, which catches SIGINT,
/// ends, and go reports the failed compile). Through the shim too.
#[test]
fn background_go_build_ignores_ctrl_c_like_direct_go() {
    let job = BuildJob::new();
    let run = |mut cmd: Command| {
        start_with_signal_ignored(&mut cmd, SIGINT);
        signal_run(cmd, job.ready(), |r| r.signal_group(SIGINT))
    };
    let shim = run(job.shim_cmd());
    let direct = run(job.direct_cmd());
    assert_same_outcome(
        "go build started with SIGINT ignored, Ctrl-C",
        &shim,
        &direct,
    );
    assert_eq!(direct.status.code(), Some(1), "{}", show(&direct));
}

/// go killed by a signal (not sent through the shim): the shim re-raises it.
#[test]
fn supervising_shim_dies_by_the_signal_that_killed_go() {
    let job = BuildJob::new();
    for sig in [SIGKILL, SIGTERM] {
        let shim = signal_run(job.shim_cmd(), job.ready(), |r| {
            send_signal(go_child_of(r).pid, sig);
        });
        assert_eq!(shim.status.signal(), Some(sig), "{}", show(&shim));
        assert!(
            shim.stdout.is_empty() && shim.stderr.is_empty(),
            "{}",
            show(&shim)
        );
    }
}

// ---------------------------------------------------------------------------
// Ctrl-C typed at a real terminal.

/// Runs `cmd` as the foreground job of a new pseudo-terminal, waits until
/// `ready`, calls `check`, types Ctrl-C, and waits for the end.
fn ctrl_c_at_a_terminal(
    mut cmd: Command,
    ready: impl FnMut(&Running) -> bool,
    check: impl FnOnce(&Running),
) -> Output {
    let pty = Pty::open();
    let mut running = Running::spawn_in_terminal(&mut cmd, &pty);
    running.wait_until("ready", READY, ready);
    check(&running);
    assert_eq!(
        pty.foreground_group(),
        running.pid(),
        "the job is no longer in the foreground"
    );
    pty.press_ctrl_c();
    running.wait(END)
}

/// Whether `r` is the real go itself (the shim exec-ed it) or the shim with
/// one real go child (the shim supervises it), as `supervised` says.
fn check_go_runs(r: &Running, supervised: bool) {
    if supervised {
        go_child_of(r);
    } else {
        let real = fs::canonicalize(common::go::real_go()).unwrap();
        let exe = fs::read_link(format!("/proc/{}/exe", r.pid())).unwrap();
        assert_eq!(exe, real, "the shim should have exec-ed the real go");
    }
}

/// Ctrl-C at a terminal during `go run`: the terminal interrupts go (which
/// ignores it) and the program, and go reports "signal: interrupt", exit 1.
/// Through the shim the same, both when it hands go the process and when it
/// supervises go (then it gets the kernel's SIGINT too, and must neither pass
/// it on nor say anything).
#[test]
fn ctrl_c_at_a_terminal_during_go_run_ends_like_direct_go() {
    let mut world = World::new();
    world.write_main_module(SLEEPER);
    with_each_goproxy(&mut world, |world, goproxy| {
        let supervised = goproxy != "off";
        let shim = ctrl_c_at_a_terminal(world.shim_cmd(["run", "."]), printed_ready, |r| {
            check_go_runs(r, supervised)
        });
        let direct = ctrl_c_at_a_terminal(world.direct_cmd(["run", "."]), printed_ready, |_| ());
        let what = format!("Ctrl-C at a terminal during go run, GOPROXY={goproxy}");
        assert_same_outcome(&what, &shim, &direct);
        assert_eq!(direct.status.code(), Some(1), "{}", show(&direct));
        assert_eq!(stderr_text(&shim), "signal: interrupt\n");
        assert_eq!(stdout_text(&shim), "ready\n");
    });
}

/// Ctrl-C at a terminal during a supervised `go build`: go and the blocked
/// tool each get the terminal's SIGINT; go dies of it and the shim dies the
/// same way, silently, without running go again.
#[test]
fn ctrl_c_at_a_terminal_during_a_supervised_build_ends_like_direct_without_rerun() {
    let job = BuildJob::new();
    let shim = ctrl_c_at_a_terminal(job.shim_cmd(), job.ready(), |r| check_go_runs(r, true));
    let shim_log = job.log();
    let direct = ctrl_c_at_a_terminal(job.direct_cmd(), job.ready(), |_| ());
    let direct_log = job.log();
    assert_same_outcome("Ctrl-C at a terminal during go build", &shim, &direct);
    assert_eq!(shim.status.signal(), Some(SIGINT), "{}", show(&shim));
    assert!(shim.stderr.is_empty(), "{}", show(&shim));
    let count = |log: &str, line: &str| log.lines().filter(|l| *l == line).count();
    assert_eq!(
        count(&shim_log, "compile -V=full"),
        1,
        "go must run once, not be re-run after Ctrl-C:\n{shim_log}"
    );
    assert_eq!(
        count(&shim_log, "got interrupt"),
        1,
        "the blocked tool must get the terminal's SIGINT:\n{shim_log}"
    );
    assert_eq!(
        shim_log, direct_log,
        "the tools go ran through the shim and directly"
    );
}

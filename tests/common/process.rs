//! Running processes with bounded waits, in their own process group.
//!
//! Every process a test starts gets its own process group, so that a timeout can
//! kill everything it started (go, the compiler, the user's program) and a
//! signal test can send a signal to "the whole job" the way a terminal would.
//! Nothing here waits without a deadline: a hung shim fails its test with the
//! captured output instead of hanging the suite.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// The output helpers used to live here; re-exported so that both paths work.
pub use super::assert::*;
use super::terminal::Pty;

/// Default bound for one go command in a test (a cold `go build` with module
/// downloads takes a few seconds; this only guards against hangs).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long processes still in a finished command's group may take to exit
/// before the harness calls them leftovers.
const LEFTOVER_GRACE: Duration = Duration::from_secs(5);

/// How long the output pipes may stay open after the group is gone.
const PIPE_GRACE: Duration = Duration::from_secs(10);

const POLL: Duration = Duration::from_millis(10);

/// Runs `cmd` to completion with stdin from /dev/null and stdout/stderr
/// captured. On timeout, kills the whole process group and panics with the
/// output so far. Also panics if the command left processes behind.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    Running::spawn(cmd).wait(timeout)
}

/// Like [`run_with_timeout`], with `input` fed to stdin (then closed).
pub fn run_with_input(cmd: &mut Command, input: &[u8], timeout: Duration) -> Output {
    Running::spawn_with_input(cmd, input).wait(timeout)
}

/// A process started in its own process group (pgid = its pid), with output
/// captured in the background. Dropping it kills the group if it is still running.
pub struct Running {
    child: Child,
    /// The process started (for a terminal job, the session leader).
    spawned: i32,
    /// The command's process, also its process group id: `spawned`, or for a
    /// terminal job, the leader's child.
    job: i32,
    what: String,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    reaped: bool,
    leftover_grace: Duration,
}

impl Running {
    /// Starts `cmd` (stdin null, stdout/stderr piped, new process group).
    pub fn spawn(cmd: &mut Command) -> Running {
        cmd.stdin(Stdio::null());
        Running::start(cmd)
    }

    /// Starts `cmd` with `input` written to its stdin by a helper thread.
    pub fn spawn_with_input(cmd: &mut Command, input: &[u8]) -> Running {
        cmd.stdin(Stdio::piped());
        let mut running = Running::start(cmd);
        let mut stdin = running.child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        // Not joined: a child that never reads must not block the test; the
        // write fails with EPIPE once the child is gone.
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        running
    }

    /// Starts `cmd` (stdin null) with stdout going to `stdout` instead of
    /// being captured, e.g. a pipe whose reader is already closed.
    pub fn spawn_with_stdout(cmd: &mut Command, stdout: impl Into<Stdio>) -> Running {
        cmd.stdin(Stdio::null()).stdout(stdout.into());
        Running::start_with(cmd, false, true)
    }

    /// Starts `cmd` (stdin null) with stderr going to `stderr` instead of being captured.
    pub fn spawn_with_stderr(cmd: &mut Command, stderr: impl Into<Stdio>) -> Running {
        cmd.stdin(Stdio::null()).stderr(stderr.into());
        Running::start_with(cmd, true, false)
    }

    /// Starts `cmd` as the foreground job of the terminal `pty`, the way an
    /// interactive shell runs a command typed at its prompt: a session leader
    /// (standing in for the shell) takes the pty as its controlling terminal
    /// and forks the job into a process group of its own, which it makes the
    /// terminal's foreground group; the job's stdin is the pty, stdout and
    /// stderr are captured. Typing Ctrl-C ([`Pty::press_ctrl_c`]) then sends
    /// SIGINT to every process of the job, and to nothing else.
    ///
    /// The leader stays out of the way, as a shell does: it waits for the job,
    /// then for the job's process group to empty (so that its own exit, which
    /// hangs up the terminal's foreground group, reaches nobody; bounded by
    /// 20 s), and then ends exactly as the job did. [`Running::pid`] and the
    /// group checks are the job's; the exit status is the leader's copy.
    pub fn spawn_in_terminal(cmd: &mut Command, pty: &Pty) -> Running {
        cmd.stdin(pty.slave());
        // SAFETY: only async-signal-safe calls (setsid, ioctl, fork, setpgid,
        // signal, waitpid, kill, nanosleep, close_range, _exit) in the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The job's orphans come to us, not to a far-away init that
                // may reap them late (see terminal_session_leader).
                if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let job = libc::fork();
                if job < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if job == 0 {
                    // The job: its own group, in the foreground. A background
                    // group may take the terminal only with SIGTTOU ignored.
                    if libc::setpgid(0, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    let rc = libc::tcsetpgrp(0, libc::getpid());
                    libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                    if rc < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    return Ok(()); // exec the command
                }
                terminal_session_leader(job)
            });
        }
        // setsid fails in a process group leader: no process_group(0) here.
        let mut running = Running::start_raw(cmd, true, true);
        // spawn returned: the job has exec-ed (the leader closed its copy of
        // std's exec-error pipe at once), so it is the leader's only child.
        let kids = children_of(running.spawned);
        if kids.len() != 1 {
            let out = running.kill_and_collect();
            panic!(
                "the session leader for {} should have one child, the job, has {kids:?}:\n{}",
                running.what,
                show(&out)
            );
        }
        running.job = kids[0].pid;
        assert_eq!(kids[0].pgrp, running.job, "the job's process group");
        assert_eq!(
            pty.foreground_group(),
            running.job,
            "{} is not the foreground job of {}",
            running.what,
            pty.name()
        );
        running
    }

    fn start(cmd: &mut Command) -> Running {
        Running::start_with(cmd, true, true)
    }

    fn start_with(cmd: &mut Command, capture_stdout: bool, capture_stderr: bool) -> Running {
        cmd.process_group(0);
        Running::start_raw(cmd, capture_stdout, capture_stderr)
    }

    /// Starts `cmd`, which must make itself a process group leader (the harness
    /// signals and checks the group whose id is the pid).
    fn start_raw(cmd: &mut Command, capture_stdout: bool, capture_stderr: bool) -> Running {
        if capture_stdout {
            cmd.stdout(Stdio::piped());
        }
        if capture_stderr {
            cmd.stderr(Stdio::piped());
        }
        let what = format!("{cmd:?} (in {:?})", cmd.get_current_dir());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, stdout.clone()));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, stderr.clone()));
        }
        Running {
            spawned: child.id() as i32,
            job: child.id() as i32,
            child,
            what,
            stdout,
            stderr,
            readers,
            reaped: false,
            leftover_grace: LEFTOVER_GRACE,
        }
    }

    /// How long processes of the group may outlive the leader before `wait`
    /// calls them leftovers (default 5 s).
    pub fn set_leftover_grace(&mut self, grace: Duration) {
        self.leftover_grace = grace;
    }

    /// The command's process id, which is also its process group id (for a
    /// terminal job, the job's, not its session leader's).
    pub fn pid(&self) -> i32 {
        self.job
    }

    /// Everything written to stdout so far.
    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr_so_far(&self) -> Vec<u8> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stdout contains `needle` (e.g. a program's "ready" line).
    /// Panics, after killing the group, if the process exits or the time runs out first.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        let what = format!("printing {needle:?}");
        self.wait_until(&what, timeout, |r| {
            contains(&r.stdout_so_far(), needle.as_bytes())
        });
    }

    /// Waits until `cond` holds (checked every 10 ms). Panics, after killing
    /// the group, if the process exits first or the time runs out.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Running) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if self.has_exited() {
                thread::sleep(Duration::from_millis(100)); // let the readers catch up
                if cond(self) {
                    return;
                }
                let out = self.kill_and_collect();
                panic!("{} exited before {what}:\n{}", self.what, show(&out));
            }
            if Instant::now() > deadline {
                let out = self.kill_and_collect();
                panic!(
                    "{} not {what} within {timeout:?}:\n{}",
                    self.what,
                    show(&out)
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Sends `sig` to the process only (as `kill PID` does).
    pub fn signal(&self, sig: i32) {
        send_signal(self.job, sig);
    }

    /// Sends `sig` to the whole process group (as a terminal's Ctrl-C reaches a job).
    pub fn signal_group(&self, sig: i32) {
        assert!(
            !self.reaped,
            "the group of a reaped process may belong to someone else"
        );
        // SAFETY: plain kill(2) on a group we created and still hold (leader not reaped).
        let rc = unsafe { libc::kill(-self.job, sig) };
        assert_eq!(rc, 0, "kill(-{}, {sig}) failed", self.job);
    }

    /// Live (non-zombie) child processes of this process.
    pub fn children(&self) -> Vec<Proc> {
        children_of(self.job)
    }

    /// Waits until this process has exactly one live child and returns it.
    pub fn wait_for_single_child(&mut self, timeout: Duration) -> Proc {
        let deadline = Instant::now() + timeout;
        loop {
            let kids = self.children();
            if kids.len() == 1 {
                return kids.into_iter().next().unwrap();
            }
            if Instant::now() > deadline || self.has_exited() {
                let out = self.kill_and_collect();
                panic!(
                    "{} did not have exactly one child (had {kids:?}):\n{}",
                    self.what,
                    show(&out)
                );
            }
            thread::sleep(POLL);
        }
    }

    /// True once the process has exited. It is not reaped, so its pid and
    /// process group id cannot be reused by someone else meanwhile.
    pub fn has_exited(&self) -> bool {
        if self.reaped {
            return true;
        }
        // SAFETY: waitid with WNOWAIT only inspects our own child; siginfo_t is plain data.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                self.spawned as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            rc == 0 && info.si_pid() != 0
        }
    }

    /// Waits for the process to end and returns its output. Panics (after
    /// killing the group) on timeout, or if processes of its group are still
    /// alive a grace period (see [`Running::set_leftover_grace`]) after it ended.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        while !self.has_exited() {
            if Instant::now() > deadline {
                let out = self.kill_and_collect();
                panic!(
                    "timed out after {timeout:?}, killed: {}\n{}",
                    self.what,
                    show(&out)
                );
            }
            thread::sleep(POLL);
        }
        let grace = Instant::now() + self.leftover_grace;
        loop {
            let left = group_members(self.job);
            if left.is_empty() {
                break;
            }
            if Instant::now() > grace {
                let out = self.kill_and_collect();
                panic!(
                    "{} exited but left processes behind in its group: {left:?}\n{}",
                    self.what,
                    show(&out)
                );
            }
            thread::sleep(POLL);
        }
        let pipes = Instant::now() + PIPE_GRACE;
        while !self.readers.iter().all(JoinHandle::is_finished) {
            if Instant::now() > pipes {
                let out = self.kill_and_collect();
                panic!(
                    "{} exited but something outside its group holds its stdout/stderr open\n{}",
                    self.what,
                    show(&out)
                );
            }
            thread::sleep(POLL);
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let status = self.reap();
        Output {
            status,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
        }
    }

    fn reap(&mut self) -> ExitStatus {
        let status = self.child.wait().expect("waitpid on our own child");
        self.reaped = true;
        status
    }

    /// SIGKILL to the job's group and (for a terminal job) the leader's.
    fn kill_groups(&self) {
        // SAFETY: the leader is not reaped yet, so its group id is still ours;
        // a terminal job's group is kept by its leader until it is empty.
        unsafe {
            libc::kill(-self.job, libc::SIGKILL);
            if self.job != self.spawned {
                libc::kill(-self.spawned, libc::SIGKILL);
            }
        }
    }

    /// Kills the whole group, reaps, and returns what was captured.
    fn kill_and_collect(&mut self) -> Output {
        let status = if self.reaped {
            ExitStatus::from_raw(0)
        } else {
            self.kill_groups();
            self.reap()
        };
        thread::sleep(Duration::from_millis(50)); // let readers drain what is buffered
        Output {
            status,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_groups();
            let _ = self.child.wait();
        }
    }
}

/// The session leader of [`Running::spawn_in_terminal`], in the forked child
/// (async-signal-safe calls only): waits for `job`, then for its process group
/// to empty (at most 20 s), then ends as the job did. Never returns.
unsafe fn terminal_session_leader(job: libc::pid_t) -> ! {
    // SAFETY: async-signal-safe calls on our own descriptors and children.
    unsafe {
        // Close everything but stdio, std's exec-error pipe included, so that
        // spawn() in the test returns once the job has exec-ed.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0) < 0 {
            for fd in 3..4096 {
                libc::close(fd);
            }
        }
        let mut status = 0;
        while libc::waitpid(job, &mut status, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(125);
            }
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        for _ in 0..2000 {
            // Orphans of the job are ours to reap (we are their subreaper):
            // a zombie would keep the group alive.
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            if libc::kill(-job, 0) < 0 {
                break;
            }
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

fn collect(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Makes `cmd` start with `sig` ignored, as `nohup` does for SIGHUP and a
/// non-interactive shell does for SIGINT/SIGQUIT in background jobs. An
/// ignored disposition survives exec, so the real go would inherit it too.
pub fn start_with_signal_ignored(cmd: &mut Command, sig: i32) {
    // SAFETY: signal(2) is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::signal(sig, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `kill(pid, sig)`, panicking on failure.
pub fn send_signal(pid: i32, sig: i32) {
    // SAFETY: plain kill(2).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// One entry of /proc.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub state: char,
    pub cmdline: String,
}

impl Proc {
    /// The executable the process runs (`/proc/PID/exe`).
    pub fn exe(&self) -> Option<PathBuf> {
        fs::read_link(format!("/proc/{}/exe", self.pid)).ok()
    }
}

/// Every process visible in /proc (zombies included).
pub fn all_processes() -> Vec<Proc> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ...": comm may contain spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    Some(Proc {
        pid,
        ppid,
        pgrp,
        state,
        cmdline,
    })
}

/// Live (non-zombie) processes in process group `pgid`.
pub fn group_members(pgid: i32) -> Vec<Proc> {
    all_processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid && p.state != 'Z')
        .collect()
}

/// Live (non-zombie) children of `pid`.
pub fn children_of(pid: i32) -> Vec<Proc> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == pid && p.state != 'Z')
        .collect()
}

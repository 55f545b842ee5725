//! The Windows build of goshim under Wine, against the Windows go: the shim's
//! exit codes (the full 32-bit ones), its stdout and stderr byte for byte
//! against go run directly, and a relayed `go mod download` from a loopback
//! proxy.
//!
//! Skipped, saying why, unless everything is there: `wine`, the cross-built
//! `goshim.exe` (docs/testing.md) and what `tests/wine/setup.sh` prepares
//! under target/wine (a Wine prefix with a stand-in bcryptprimitives.dll,
//! and the Windows go).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{ModTree, TestProxy, run_with_timeout, show};

/// Wine starts slowly (its server, then each process): generous bounds.
const BOUND: Duration = Duration::from_secs(120);

/// STATUS_CONTROL_C_EXIT: how a Windows process ended by Ctrl-C exits.
const CONTROL_C_EXIT: u32 = 0xC000_013A;

struct Setup {
    goshim: PathBuf,
    go: PathBuf,
    prefix: PathBuf,
    /// A Windows program: `wprobe run <prog> <args>` runs a program and prints
    /// its exit code in full; `wprobe` alone exits with `$WPROBE_EXIT`.
    wprobe: PathBuf,
}

/// Everything the tests need, or why they are skipped (printed once per test).
fn setup() -> Result<&'static Setup, &'static str> {
    static SETUP: OnceLock<Result<Setup, String>> = OnceLock::new();
    SETUP
        .get_or_init(find_setup)
        .as_ref()
        .map_err(String::as_str)
}

fn find_setup() -> Result<Setup, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let goshim = std::env::var_os("GOSHIM_WINE_EXE").map_or_else(
        || root.join("target/cross/x86_64-pc-windows-gnu/debug/goshim.exe"),
        PathBuf::from,
    );
    let wine = root.join("target/wine");
    let (go, prefix) = (wine.join("go/bin/go.exe"), wine.join("prefix"));
    let has_wine = Command::new("wine")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_wine {
        return Err("no wine on PATH (Debian: apt-get install wine wine64)".into());
    }
    if !goshim.is_file() {
        return Err(format!(
            "no {} (cross-build it as docs/testing.md says, or set GOSHIM_WINE_EXE)",
            goshim.display()
        ));
    }
    let stub = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
    if !go.is_file() || !stub.is_file() {
        return Err("no Windows go or Wine prefix in target/wine (run tests/wine/setup.sh)".into());
    }
    let wprobe = build_wprobe(&wine)?;
    Ok(Setup {
        goshim,
        go,
        prefix,
        wprobe,
    })
}

/// Builds the wprobe helper for Windows with the Linux go.
fn build_wprobe(dir: &Path) -> Result<PathBuf, String> {
    let src = dir.join("wprobe");
    fs::create_dir_all(&src).map_err(|e| e.to_string())?;
    fs::write(src.join("go.mod"), "module wprobe\n\ngo 1.21\n").map_err(|e| e.to_string())?;
    fs::write(src.join("main.go"), WPROBE).map_err(|e| e.to_string())?;
    let exe = dir.join("wprobe.exe");
    let out = Command::new(common::go::real_go())
        .current_dir(&src)
        .args(["build", "-o"])
        .arg(&exe)
        .env("GOOS", "windows")
        .env("GOARCH", "amd64")
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .env("GOCACHE", common::go::shared_gocache())
        .output()
        .map_err(|e| format!("cannot build wprobe.exe: {e}"))?;
    if !out.status.success() {
        return Err(format!("cannot build wprobe.exe: {}", show(&out)));
    }
    Ok(exe)
}

const WPROBE: &str = r#"package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "run" {
		cmd := exec.Command(os.Args[2], os.Args[3:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		if cmd.ProcessState == nil {
			fmt.Fprintln(os.Stderr, "wprobe:", err)
			os.Exit(100)
		}
		fmt.Printf("exit=%#x\n", uint32(cmd.ProcessState.ExitCode()))
		return
	}
	code, _ := strconv.ParseUint(os.Getenv("WPROBE_EXIT"), 0, 32)
	os.Exit(int(int32(uint32(code))))
}
"#;

/// A Linux path as the Windows programs see it (Wine's Z: drive).
fn win(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// A sealed place for one test: a shims folder with `go.exe` (a copy of
/// goshim.exe), goshim's cache and go's own folders.
struct WinWorld {
    setup: &'static Setup,
    dir: tempfile::TempDir,
}

impl WinWorld {
    fn new(setup: &'static Setup) -> WinWorld {
        let dir = tempfile::tempdir().expect("temp dir");
        let shims = dir.path().join("shims");
        fs::create_dir_all(&shims).expect("shims dir");
        fs::copy(&setup.goshim, shims.join("go.exe")).expect("copy goshim.exe");
        WinWorld { setup, dir }
    }

    fn shim(&self) -> PathBuf {
        self.dir.path().join("shims/go.exe")
    }

    /// `wine <program> <args>` with the world's environment: PATH (Windows
    /// side) is the shims folder, then the Windows go's folder.
    fn wine(&self, program: &Path, args: &[&str]) -> Command {
        let d = self.dir.path();
        let go_bin = self.setup.go.parent().expect("go's folder");
        let mut cmd = Command::new("wine");
        cmd.arg(program)
            .args(args)
            .current_dir(d)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d)
            .env("WINEPREFIX", &self.setup.prefix)
            .env("WINEDEBUG", "-all")
            .env(
                "WINEPATH",
                format!("{};{}", win(&d.join("shims")), win(go_bin)),
            )
            .env("GOPATH", win(&d.join("gopath")))
            .env("GOMODCACHE", win(&d.join("modcache")))
            .env("GOCACHE", win(&d.join("gocache")))
            .env("GOENV", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOTELEMETRY", "off")
            .env("GOSHIM_CACHE_DIR", win(&d.join("goshim-cache")))
            .env("GOSHIM_CONFIG", win(&d.join("goshim.toml")))
            .env("GOSHIM_TTL", "0");
        cmd
    }

    fn run(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.wine(program, args);
        cmd.envs(env.iter().copied());
        run_with_timeout(&mut cmd, BOUND)
    }

    /// The full exit code of `program args`, as a Windows parent sees it.
    fn exit_code(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> u32 {
        let program = win(program);
        let mut all = vec!["run", program.as_str()];
        all.extend_from_slice(args);
        let out = self.run(&self.setup.wprobe, &all, env);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find_map(|l| l.strip_prefix("exit=0x"));
        let code = line.and_then(|hex| u32::from_str_radix(hex.trim(), 16).ok());
        code.unwrap_or_else(|| panic!("no exit code from wprobe: {}", show(&out)))
    }
}

/// Skips the test, saying why, when the Windows setup is missing; fails it
/// instead when GOSHIM_TEST_WINE_REQUIRED is set (.ci/run prepared it).
macro_rules! setup_or_skip {
    () => {
        match setup() {
            Ok(s) => s,
            Err(why) if std::env::var_os("GOSHIM_TEST_WINE_REQUIRED").is_some() => {
                panic!("GOSHIM_TEST_WINE_REQUIRED is set, but {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        }
    };
}

#[test]
fn goshim_exe_runs_as_the_cli_and_go_exe_as_the_shim() {
    let s = setup_or_skip!();
    let w = WinWorld::new(s);
    let out = w.run(&s.goshim, &["--version"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(out.stdout.starts_with(b"goshim "), "{}", show(&out));
    // The personality goes by the file stem, whatever its case.
    let upper = w.dir.path().join("shims/GO.EXE");
    fs::rename(w.shim(), &upper).expect("rename");
    let out = w.run(&upper, &["version"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(out.stdout.starts_with(b"go version go1."), "{}", show(&out));
}

#[test]
fn shim_output_and_exit_codes_match_go_byte_for_byte() {
    let s = setup_or_skip!();
    let w = WinWorld::new(s);
    let cases: [&[&str]; 4] = [
        &["version"],
        &["env", "GOOS", "GOARCH"],
        &["tool", "no-such-tool"],
        &["no-such-command"],
    ];
    for args in cases {
        let direct = w.run(&s.go, args, &[]);
        let shimmed = w.run(&w.shim(), args, &[]);
        assert_eq!(shimmed.stdout, direct.stdout, "stdout of go {args:?}");
        assert_eq!(shimmed.stderr, direct.stderr, "stderr of go {args:?}");
        assert_eq!(shimmed.status.code(), direct.status.code(), "go {args:?}");
        let code = w.exit_code(&w.shim(), args, &[]);
        assert_eq!(code, w.exit_code(&s.go, args, &[]), "go {args:?}");
    }
}

#[test]
fn the_full_32_bit_exit_code_reaches_the_caller() {
    let s = setup_or_skip!();
    let w = WinWorld::new(s);
    let fake_go = win(&s.wprobe);
    // `version` is run as is (Unix would exec); `build` is supervised (its
    // go env fails, so it runs as is too, through the same child code).
    for args in [["version"], ["build"]] {
        for code in [0, 3, 255, 256, CONTROL_C_EXIT] {
            let want = code.to_string();
            let env = [("GOSHIM_GO", fake_go.as_str()), ("WPROBE_EXIT", &want)];
            assert_eq!(
                w.exit_code(&w.shim(), &args, &env),
                code,
                "go {args:?} exiting with {code:#x}"
            );
        }
    }
}

#[test]
fn go_mod_download_goes_through_the_relay() {
    let s = setup_or_skip!();
    let w = WinWorld::new(s);
    let tree = ModTree::new(3);
    let proxy = TestProxy::start(&tree);
    let module = w.dir.path().join("m");
    tree.write_main_module(&module);
    let mut cmd = w.wine(&w.shim(), &["mod", "download"]);
    cmd.current_dir(&module)
        .env("GOPROXY", proxy.url())
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOSHIM_LOG", "debug");
    let out = run_with_timeout(&mut cmd, BOUND);
    assert!(out.status.success(), "{}", show(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("GOPROXY=<loopback relay>"), "{}", show(&out));
    for m in &tree.modules {
        let zip = w
            .dir
            .path()
            .join("modcache/cache/download")
            .join(&m.path)
            .join(format!("@v/{}.zip", m.latest()));
        assert!(zip.is_file(), "{} missing: {}", zip.display(), show(&out));
    }
    assert!(
        proxy.requests().iter().any(|r| r.path.ends_with(".zip")),
        "the proxy served no zip"
    );
}

/// goshim's unit tests, built for Windows by .ci/cross.sh beside goshim.exe,
/// pass under Wine: the platform code's own tests (paths, file identity,
/// locks, exit codes) on the platform they are for.
#[test]
fn the_unit_tests_pass_on_windows() {
    let s = setup_or_skip!();
    let tests = s.goshim.with_file_name("goshim-unit-tests.exe");
    assert!(
        tests.is_file(),
        "no {} (.ci/cross.sh x86_64-pc-windows-gnu builds it)",
        tests.display()
    );
    let w = WinWorld::new(s);
    let out = w.run(&tests, &["--test-threads=2"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("test result: ok."),
        "{}",
        show(&out)
    );
}

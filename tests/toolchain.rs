//! Toolchain switches through the relay (issue 10). A module whose go.mod
//! says `go 1.99.0` makes go (GOTOOLCHAIN=auto) download
//! `golang.org/toolchain@v0.0.1-go1.99.0.<os>-<arch>` before it runs any
//! subcommand, `go version` and `go env` included, verify it against the
//! checksum database (toolchains are always verified, even with GOSUMDB=off)
//! and run its `bin/go`. Here that toolchain is a fake of a few MB whose
//! `bin/go` prints its arguments and the GOPROXY it sees, as go's own tests do.
//!
//! What goshim owes go: the download goes through the relay's failover
//! (a primary that fails, hangs or drips costs nothing), the passthrough
//! command itself then runs with the user's environment untouched (so
//! `go env GOPROXY` shows the user's list), and a switched `go build` keeps
//! using the relay. Time limits only catch hangs.

mod common;

use std::process::Output;
use std::time::Duration;

use common::scenario::{logs, relay_urls_in, timed_shim};
use common::sumdb::{SUMDB_NAME, SumDb};
use common::zip::store_zip;
use common::{Fault, ModTree, TestProxy, World, show, stdout_text};

const LIMIT: Duration = Duration::from_secs(90);
const TARGET: &str = "go1.99.0";
/// The fake toolchain's payload: big enough to be streamed, raced and dripped.
const PAYLOAD_BYTES: usize = 3 * 1024 * 1024;

/// `v0.0.1-go1.99.0.linux-amd64`.
fn toolchain_version() -> String {
    let (os, arch) = common::go::go_os_arch();
    format!("v0.0.1-{TARGET}.{os}-{arch}")
}

/// The fake toolchain module's zip: the files go checks after unpacking
/// (`bin/go`, `bin/gofmt`, `pkg/tool`, `lib`) and an incompressible payload.
fn toolchain_zip() -> Vec<u8> {
    let prefix = format!("golang.org/toolchain@{}", toolchain_version());
    let script = format!("#!/bin/sh\necho \"{TARGET} (fake): $* GOPROXY=$GOPROXY\"\n");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let payload: Vec<u8> = (0..PAYLOAD_BYTES / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    let (os, arch) = common::go::go_os_arch();
    let tool_dir = format!("pkg/tool/{os}_{arch}");
    store_zip(&[
        (
            format!("{prefix}/go.mod"),
            b"module golang.org/toolchain\n".to_vec(),
        ),
        (format!("{prefix}/bin/go"), script.into_bytes()),
        (format!("{prefix}/bin/gofmt"), b"#!/bin/sh\n".to_vec()),
        (
            format!("{prefix}/{tool_dir}/compile"),
            b"#!/bin/sh\n".to_vec(),
        ),
        (format!("{prefix}/lib/payload.bin"), payload),
    ])
}

/// A checksum database holding the test modules and the fake toolchain, and
/// proxies serving both: `(db, faulty primary, healthy secondary)`.
fn proxies(fault: Fault) -> (SumDb, TestProxy, TestProxy) {
    let tree = ModTree::new(1);
    let zip = toolchain_zip();
    let go_mod = "module golang.org/toolchain\n";
    let mut db = SumDb::from_tree(SUMDB_NAME, &tree);
    db.add("golang.org/toolchain", &toolchain_version(), &zip, go_mod);
    let serve = |proxy: &TestProxy| {
        let v = toolchain_version();
        let base = "golang.org/toolchain/@v";
        proxy.insert_file(&format!("{base}/list"), format!("{v}\n").into_bytes());
        let info = format!("{{\"Version\":\"{v}\",\"Time\":\"2026-01-01T00:00:00Z\"}}");
        proxy.insert_file(&format!("{base}/{v}.info"), info.into_bytes());
        proxy.insert_file(&format!("{base}/{v}.mod"), go_mod.as_bytes().to_vec());
        proxy.insert_file(&format!("{base}/{v}.zip"), zip.clone());
    };
    let primary = TestProxy::builder().tree(&tree).sumdb(&db).start();
    let secondary = TestProxy::builder().tree(&tree).sumdb(&db).start();
    serve(&primary);
    serve(&secondary);
    primary.set_fault(fault);
    (db, primary, secondary)
}

/// A cold world (no snapshot, no probe) with GOTOOLCHAIN=auto, verification
/// on, and `work/` a module that asks for go 1.99.0.
fn switching_world(db: &SumDb, goproxy: &str) -> World {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.set_env("GOSHIM_TTL", "0");
    world.set_env("GOTOOLCHAIN", "auto");
    world.verify_with(db);
    world.write_file("work/go.mod", "module example.com/m\n\ngo 1.99.0\n");
    world.write_file("work/main.go", "package main\n\nfunc main() {}\n");
    world
}

fn bounded(world: &World, args: &[&str], proxies: &[(&str, &TestProxy)]) -> Output {
    let (out, _) = timed_shim(world, args, LIMIT);
    if !out.status.success() {
        eprintln!("{}", logs(proxies));
    }
    out
}

fn assert_switched(what: &str, out: &Output, args: &str, goproxy: &str) {
    assert!(out.status.success(), "{what}\n{}", show(out));
    assert_eq!(
        stdout_text(out),
        format!("{TARGET} (fake): {args} GOPROXY={goproxy}\n"),
        "{what}\n{}",
        show(out)
    );
}

/// `go version` and `go env GOPROXY` in the module, through the shim: the
/// toolchain comes through the relay past the primary's fault, each command
/// then reaches the fake toolchain with the user's own GOPROXY.
fn passthrough_switches_past(fault: Fault) {
    let (db, primary, secondary) = proxies(fault);
    let goproxy = format!("{},{}", primary.url(), secondary.url());
    let world = switching_world(&db, &goproxy);
    let named = [("primary", &primary), ("secondary", &secondary)];

    let version = bounded(&world, &["version"], &named);
    assert_switched("go version", &version, "version", &goproxy);
    assert!(
        String::from_utf8_lossy(&version.stderr).contains("go: downloading go1.99.0"),
        "go's own download line is kept\n{}",
        show(&version)
    );
    let zip = format!("{}.zip", toolchain_version());
    assert!(
        !secondary.requests_ending_with(&zip).is_empty(),
        "the toolchain did not come from the healthy secondary\n{}",
        logs(&named)
    );
    let lookup = format!(
        "/sumdb/{SUMDB_NAME}/lookup/golang.org/toolchain@{}",
        toolchain_version()
    );
    let verified = [&primary, &secondary]
        .iter()
        .any(|p| p.request_paths().iter().any(|r| r.ends_with(&lookup)));
    assert!(
        verified,
        "go did not verify the toolchain\n{}",
        logs(&named)
    );
    let env = bounded(&world, &["env", "GOPROXY"], &named);
    assert_switched("go env GOPROXY", &env, "env GOPROXY", &goproxy);
}

#[test]
fn go_version_switches_past_a_primary_answering_502() {
    passthrough_switches_past(Fault::Status(502));
}

#[test]
fn go_version_switches_past_a_hung_primary() {
    passthrough_switches_past(Fault::Hang);
}

#[test]
fn go_version_switches_past_a_primary_dripping_the_toolchain() {
    passthrough_switches_past(Fault::SlowDrip {
        bytes_per_chunk: 1024,
        delay: Duration::from_millis(50),
    });
}

#[test]
fn a_switched_go_build_keeps_using_the_relay() {
    let (db, primary, secondary) = proxies(Fault::Status(503));
    let goproxy = format!("{},{}", primary.url(), secondary.url());
    let world = switching_world(&db, &goproxy);
    let named = [("primary", &primary), ("secondary", &secondary)];
    let out = bounded(&world, &["build", "."], &named);
    assert!(out.status.success(), "go build\n{}", show(&out));
    let text = stdout_text(&out);
    let seen = text
        .strip_prefix(&format!("{TARGET} (fake): build . GOPROXY="))
        .unwrap_or_else(|| panic!("the fake toolchain did not run\n{}", show(&out)));
    // The relay's URL (a 32-hex-digit token path), not the user's list or a
    // reordered one, which are on 127.0.0.1 too.
    assert!(
        !relay_urls_in(seen).is_empty() && seen.trim_end() != goproxy,
        "the switched toolchain does not see the relay: {seen}"
    );
}

#[test]
fn go_env_gotoolchain_and_a_local_go_stay_local() {
    let (db, primary, secondary) = proxies(Fault::Healthy);
    let goproxy = format!("{},{}", primary.url(), secondary.url());
    let mut world = switching_world(&db, &goproxy);
    // go answers `go env GOTOOLCHAIN` itself, without switching.
    let out = bounded(&world, &["env", "GOTOOLCHAIN"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(stdout_text(&out), "auto\n");
    world.set_env("GOTOOLCHAIN", "local");
    let out = world.run_shim(&["env", "GOPROXY"]);
    assert_eq!(stdout_text(&out), format!("{goproxy}\n"), "{}", show(&out));
    assert_eq!(primary.request_count() + secondary.request_count(), 0);
}

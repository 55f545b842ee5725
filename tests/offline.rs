//! The last tier (issue 10): when every upstream fails for a version query,
//! the relay answers it from go's own download cache, so a project can use
//! modules this machine already has while every proxy is down. Plain go fails
//! the same commands. A "not found" from the upstreams is never overridden.
//!
//! Each world downloads `example.com/dep0@v1.0.0` first (the proxies also
//! publish v1.1.0, which the cache never sees), then every upstream goes
//! down (503 and refused: both fail at once, so no test waits on a deadline).
//! Checksum verification is on throughout (a test database served by the
//! healthy proxy): offline, go verifies against what it cached of it.

mod common;

use std::fs;
use std::process::Output;

use common::assert::says_http_status;
use common::scenario::goshim_lines;
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World, refused_url, show};

const USE_DEP0: &str = r#"package main

import (
	"fmt"

	"example.com/dep0"
)

func main() { fmt.Println(dep0.Version) }
"#;

const HELLO: &str = "package main\n\nfunc main() {}\n";

/// A world whose module cache holds dep0 v1.0.0 (fetched by project `a`
/// through the shim from a healthy proxy); GOPROXY then lists `down`.
fn world_with_cached_dep0(tree: &ModTree, down: &str) -> World {
    let db = SumDb::from_tree(SUMDB_NAME, tree);
    let healthy = TestProxy::builder().tree(tree).sumdb(&db).start();
    let mut world = World::new();
    world.verify_with(&db);
    world.set_env("GOPROXY", healthy.url());
    world.set_env("GOSHIM_TTL", "0");
    let a = world.write_module("a", "example.com/a", HELLO);
    let out = world.run(
        world
            .shim_cmd(["mod", "download", "example.com/dep0@v1.0.0"])
            .current_dir(&a),
    );
    assert!(
        out.status.success(),
        "download into the cache\n{}",
        show(&out)
    );
    world.set_env("GOPROXY", down);
    world
}

fn in_dir(world: &World, dir: &std::path::Path, args: &[&str], shim: bool) -> Output {
    let mut cmd = if shim {
        world.shim_cmd(args)
    } else {
        world.direct_cmd(args)
    };
    world.run(cmd.current_dir(dir))
}

fn local_cache_lines(out: &Output) -> Vec<String> {
    goshim_lines(out)
        .into_iter()
        .filter(|l| l.contains("local module cache"))
        .collect()
}

#[test]
fn with_every_proxy_down_tidy_and_get_latest_use_the_cached_version() {
    let tree = ModTree::with_versions(1, &["v1.0.0", "v1.1.0"]);
    let bad = TestProxy::faulty(&tree, Fault::Status(503));
    let world = world_with_cached_dep0(&tree, &format!("{},{}", bad.url(), refused_url()));

    // Plain go cannot tell which versions exist.
    let direct_dir = world.write_module("direct", "example.com/direct", USE_DEP0);
    let direct = in_dir(&world, &direct_dir, &["mod", "tidy"], false);
    assert!(
        !direct.status.success(),
        "plain go succeeded?\n{}",
        show(&direct)
    );

    let b = world.write_module("b", "example.com/b", USE_DEP0);
    let tidy = in_dir(&world, &b, &["mod", "tidy"], true);
    assert!(tidy.status.success(), "go mod tidy\n{}", show(&tidy));
    let go_mod = fs::read_to_string(b.join("go.mod")).unwrap();
    assert!(go_mod.contains("example.com/dep0 v1.0.0"), "{go_mod}");
    assert_eq!(
        local_cache_lines(&tidy).len(),
        1,
        "one notice about the local module cache\n{}",
        show(&tidy)
    );
    let go_sum = fs::read_to_string(b.join("go.sum")).unwrap();
    assert!(go_sum.contains("example.com/dep0 v1.0.0 h1:"), "{go_sum}");
    let ran = in_dir(&world, &b, &["run", "."], true);
    assert!(ran.status.success(), "go run\n{}", show(&ran));
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "v1.0.0\n");

    let c = world.write_module("c", "example.com/c", USE_DEP0);
    let get = in_dir(&world, &c, &["get", "example.com/dep0@latest"], true);
    assert!(get.status.success(), "go get @latest\n{}", show(&get));
    let go_mod = fs::read_to_string(c.join("go.mod")).unwrap();
    assert!(go_mod.contains("example.com/dep0 v1.0.0"), "{go_mod}");
    assert!(
        !bad.requests().is_empty(),
        "the upstream was never asked: {:?}",
        bad.requests()
    );
}

#[test]
fn a_module_the_cache_never_saw_still_fails_with_the_upstreams_account() {
    let tree = ModTree::with_versions(2, &["v1.0.0"]);
    let bad = TestProxy::faulty(&tree, Fault::Status(503));
    let world = world_with_cached_dep0(&tree, &bad.url());
    let d = world.write_module("d", "example.com/d", HELLO);
    let get = in_dir(&world, &d, &["get", "example.com/dep1@latest"], true);
    assert!(!get.status.success(), "go get succeeded?\n{}", show(&get));
    assert!(local_cache_lines(&get).is_empty(), "{}", show(&get));
    assert!(
        says_http_status(&String::from_utf8_lossy(&get.stderr), 503),
        "go's error does not say what the upstream did\n{}",
        show(&get)
    );
}

#[test]
fn not_found_from_the_upstreams_is_never_answered_from_the_cache() {
    let tree = ModTree::with_versions(1, &["v1.0.0"]);
    let gone = TestProxy::faulty(&tree, Fault::Status(404));
    let world = world_with_cached_dep0(&tree, &gone.url());
    let e = world.write_module("e", "example.com/e", HELLO);
    let shim = in_dir(&world, &e, &["get", "example.com/dep0@latest"], true);
    let direct = in_dir(&world, &e, &["get", "example.com/dep0@latest"], false);
    assert!(!shim.status.success(), "go get succeeded?\n{}", show(&shim));
    assert_eq!(shim.status.code(), direct.status.code(), "{}", show(&shim));
    assert!(local_cache_lines(&shim).is_empty(), "{}", show(&shim));
}

//! Fetching ahead (issue 11): the relay starts what go will ask next (a
//! module version's other small files, the `.mod` files a go.mod requires,
//! and for `go mod download` the zips) and holds the answers for the run.
//!
//! What must hold: go receives exactly what the proxy serves (module cache and
//! go.sum equal plain go's, checksums verified against the test database);
//! private paths are fetched ahead only from the user's own list; a failing
//! primary during fetch ahead goes unnoticed; `GOSHIM_PREFETCH=0` asks the
//! proxy exactly what plain go asks. No assertion is about timing.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::process::Output;
use std::time::Duration;

use common::scenario::{
    assert_go_sum_from, files_under, goshim_lines, status_json, write_tidy_go_sum,
};
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, Running, TestProxy, World, show};

/// A world (no snapshot, no background probe) verifying against `db`, with
/// `tree`'s main module in `work/`.
fn world(goproxy: &str, db: &SumDb, tree: &ModTree) -> World {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.set_env("GOSHIM_TTL", "0");
    world.verify_with(db);
    world.write_tree_main_module(tree);
    world
}

/// A module graph three levels deep, its database and a proxy serving both
/// whose every answer comes `delay` late.
fn graph(delay: Duration) -> (ModTree, SumDb, TestProxy) {
    let tree = ModTree::layered(3, 3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    proxy.set_fault(Fault::Delay(delay));
    (tree, db, proxy)
}

/// Every file of go's download cache (module files, not locks), by path.
fn download_cache(world: &World) -> BTreeMap<String, Vec<u8>> {
    let root = world.path("gopath/pkg/mod/cache/download");
    files_under(&root)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".lock"))
        .filter(|p| !p.to_string_lossy().contains("/sumdb/"))
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            (rel, fs::read(&p).unwrap())
        })
        .collect()
}

fn run_ok(world: &World, shim: bool, args: &[&str]) {
    let out = if shim {
        world.run_shim(args)
    } else {
        world.run_direct(args)
    };
    assert_quiet_success(&out, args);
}

fn assert_quiet_success(out: &Output, args: &[&str]) {
    assert!(out.status.success(), "go {args:?}\n{}", show(out));
    assert!(goshim_lines(out).is_empty(), "goshim spoke\n{}", show(out));
}

/// How many different go.mod files the proxy was asked for.
fn distinct_mods(proxy: &TestProxy) -> usize {
    distinct_asked(proxy, ".mod")
}

/// How many different paths ending in `suffix` the proxy was asked for.
fn distinct_asked(proxy: &TestProxy, suffix: &str) -> usize {
    let mut paths: Vec<String> = proxy
        .request_paths()
        .into_iter()
        .filter(|p| p.ends_with(suffix))
        .collect();
    paths.sort();
    paths.dedup();
    paths.len()
}

/// Lets the proxy's paused bodies go on, and `go` finish well.
fn resume_and_finish(proxy: &TestProxy, go: Running) {
    proxy.resume();
    assert_quiet_success(&go.wait(Duration::from_secs(60)), &[]);
}

fn prefetch_of(world: &World) -> serde_json::Value {
    status_json(world)["prefetch"].clone()
}

/// The relay fetched something ahead in `world` (else a test of what it
/// fetches ahead would prove nothing).
fn assert_fetched_ahead(world: &World) {
    let p = prefetch_of(world);
    assert!(
        p["fetched"].as_u64() > Some(0),
        "nothing was fetched ahead: {p}"
    );
}

/// How often the proxy was asked for each checksum-database lookup, by `module@version`.
fn lookups(proxy: &TestProxy) -> BTreeMap<String, usize> {
    let mut asked = BTreeMap::new();
    for p in proxy.request_paths() {
        if let Some((_, m)) = p.split_once("/lookup/") {
            *asked.entry(m.to_string()).or_insert(0) += 1;
        }
    }
    asked
}

#[test]
fn what_go_gets_ahead_is_byte_identical_to_plain_go() {
    let (tree, db, proxy) = graph(Duration::from_millis(20));
    let via_shim = world(&proxy.url(), &db, &tree);
    let plain = world(&proxy.url(), &db, &tree);
    for args in [&["mod", "download"][..], &["build", "-o", "out/prog", "."]] {
        run_ok(&via_shim, true, args);
        run_ok(&plain, false, args);
    }
    let read = |w: &World, f: &str| fs::read_to_string(w.work_dir().join(f)).unwrap();
    assert_eq!(read(&via_shim, "go.sum"), read(&plain, "go.sum"));
    assert_eq!(read(&via_shim, "go.mod"), read(&plain, "go.mod"));
    let (a, b) = (download_cache(&via_shim), download_cache(&plain));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "the module caches differ");
    assert_fetched_ahead(&via_shim);
}

#[test]
fn the_graph_s_mod_files_are_fetched_ahead_of_go() {
    let (tree, db, proxy) = graph(Duration::from_millis(20));
    let w = world(&proxy.url(), &db, &tree);
    run_ok(&w, true, &["mod", "download"]);
    let p = prefetch_of(&w);
    // Of each module's .mod, .info and (go mod download) zip, nearly all came
    // ahead of go (25 of 27 here: go asks its first files itself; two per
    // module leaves room for timing); none of it went unused.
    assert!(
        p["fetched"].as_u64() >= Some(2 * tree.modules.len() as u64),
        "{p}"
    );
    assert_eq!(p["unused"].as_u64(), Some(0), "{p}");
}

#[test]
fn prefetch_off_asks_exactly_what_plain_go_asks() {
    let (tree, db, proxy) = graph(Duration::ZERO);
    let mut via_shim = world(&proxy.url(), &db, &tree);
    via_shim.set_env("GOSHIM_PREFETCH", "0");
    run_ok(&via_shim, true, &["mod", "download"]);
    let mut shim_paths = proxy.request_paths();
    proxy.clear_log();
    let plain = world(&proxy.url(), &db, &tree);
    run_ok(&plain, false, &["mod", "download"]);
    let mut plain_paths = proxy.request_paths();
    shim_paths.sort();
    plain_paths.sort();
    assert_eq!(shim_paths, plain_paths);
    assert_eq!(prefetch_of(&via_shim)["fetched"].as_u64(), Some(0));
}

#[test]
fn a_failing_primary_during_fetch_ahead_goes_unnoticed() {
    let (tree, db, good) = graph(Duration::from_millis(20));
    let flaky = TestProxy::builder().tree(&tree).sumdb(&db).start();
    flaky.set_fault(Fault::EveryNth { n: 2, status: 503 });
    let w = world(&format!("{},{}", flaky.url(), good.url()), &db, &tree);
    run_ok(&w, true, &["mod", "download"]);
    run_ok(&w, true, &["build", "-o", "out/prog", "."]);
    assert!(
        flaky.requests().iter().any(|r| r.status == Some(503)),
        "the primary never failed"
    );
    assert_fetched_ahead(&w);
}

#[test]
fn private_paths_are_fetched_ahead_only_from_the_users_list() {
    let (tree, db, users) = graph(Duration::from_millis(20));
    // An extra candidate goshim adds, that must never see a private path.
    let extra = TestProxy::builder().tree(&tree).sumdb(&db).start();
    let mut w = world(&users.url(), &db, &tree);
    w.set_env("GOSHIM_PROXIES", extra.url());
    w.set_env("GONOSUMDB", "example.com/l1*,example.com/l2*");
    w.set_env("GONOPROXY", "none");
    // The user's proxy fails on the public paths, which fail over to the
    // extra: the relay learns to prefer it, which it must not for the private
    // ones (served well by the user's proxy, so the run succeeds).
    users.set_fault_containing("example.com/l0", Fault::EveryNth { n: 3, status: 503 });
    let out = w.run_shim(&["mod", "download"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        extra
            .request_paths()
            .iter()
            .any(|p| p.contains("example.com/l0")),
        "the public paths never failed over to the extra\n{}",
        show(&out)
    );
    assert_fetched_ahead(&w);
    let private = |p: &String| p.contains("example.com/l1") || p.contains("example.com/l2");
    let leaked: Vec<String> = extra.request_paths().into_iter().filter(private).collect();
    assert!(
        leaked.is_empty(),
        "private paths reached the extra: {leaked:?}"
    );
    assert!(
        users.request_paths().iter().any(private),
        "the private paths were never asked at all\n{}",
        show(&out)
    );
}

/// A module whose ~2 MB zip (larger than what the relay holds in memory) a
/// proxy sends slowly enough that go asks for it while it is being fetched
/// ahead; its database.
fn slow_big_zip() -> (ModTree, Vec<u8>, SumDb) {
    common::sumdb::big_module_with_db(2_000_000)
}

/// A proxy serving the big module and its database, the zip with `fault`.
fn big_zip_proxy(big: &ModTree, zip: &[u8], db: &SumDb, fault: Fault) -> TestProxy {
    let proxy = TestProxy::builder().tree(big).sumdb(db).start();
    proxy.insert_file("example.com/big/@v/v1.0.0.zip", zip.to_vec());
    proxy.set_fault_for(".zip", fault);
    proxy
}

fn cached_zip(world: &World) -> Vec<u8> {
    fs::read(world.path("gopath/pkg/mod/cache/download/example.com/big/@v/v1.0.0.zip"))
        .unwrap_or_default()
}

#[test]
fn go_takes_over_a_zip_that_is_still_being_fetched_ahead() {
    let (big, zip, db) = slow_big_zip();
    // The zip's first half, then nothing until the test says so.
    let proxy = big_zip_proxy(&big, &zip, &db, Fault::PauseMidBody);
    let w = world(&proxy.url(), &db, &big);
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download"]));
    // go has the bytes that came so far while the fetch ahead is still
    // under way: its temporary zip in the module cache grows.
    let dir = w.path("gopath/pkg/mod/cache/download/example.com/big/@v");
    go.wait_until(
        "receiving the zip's first half",
        Duration::from_secs(60),
        |_| {
            files_under(&dir).iter().any(|f| {
                let name = f.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with("v1.0.0.zip")
                    && name.ends_with(".tmp")
                    && fs::metadata(f).is_ok_and(|m| m.len() > 0)
            })
        },
    );
    resume_and_finish(&proxy, go);
    assert!(cached_zip(&w) == zip, "the cached zip differs");
    // go got the rest of the fetch under way instead of asking again.
    let zips = proxy.requests_ending_with(".zip");
    assert_eq!(zips.len(), 1, "{:?}", proxy.request_paths());
    let p = prefetch_of(&w);
    assert_eq!(p["unused"].as_u64(), Some(0), "{p}");
}

#[test]
fn a_zip_taken_over_midway_is_completed_by_the_next_upstream() {
    let (big, zip, db) = slow_big_zip();
    let stalling = big_zip_proxy(&big, &zip, &db, Fault::StallMidBody);
    let good = big_zip_proxy(&big, &zip, &db, Fault::Healthy);
    let w = world(&format!("{},{}", stalling.url(), good.url()), &db, &big);
    run_ok(&w, true, &["mod", "download"]);
    assert!(cached_zip(&w) == zip, "the cached zip differs");
    assert_eq!(stalling.requests_ending_with(".zip").len(), 1);
    assert!(
        !good.requests_ending_with(".zip").is_empty(),
        "the zip was never completed from the second proxy"
    );
}

/// `n` modules, their database, a proxy that sends every go.mod half and
/// then waits (until [`resume_and_finish`]), and a world where go fetches
/// one at a time (`GOMAXPROCS=1`): go is held at its first go.mod while the
/// relay asks for what it fetches ahead. At most 5 modules: from a proxy next
/// door the relay fetches 4 ahead at once, and these are held too.
fn held_at_first_go_mod(n: usize) -> (ModTree, TestProxy, World) {
    assert!(
        n <= 5,
        "the relay holds at most 4 fetches ahead at once here"
    );
    let tree = ModTree::new(n);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    proxy.set_fault_for(".mod", Fault::PauseMidBody);
    let mut w = world(&proxy.url(), &db, &tree);
    w.set_env("GOMAXPROCS", "1");
    (tree, proxy, w)
}

/// `go mod download`, held at its first go.mod until the proxy was asked
/// for `n` different go.mod files, then let on to a quiet success.
fn download_once_mods_asked(w: &World, proxy: &TestProxy, n: usize) {
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download"]));
    go.wait_until(
        "asking for the go.mod files",
        Duration::from_secs(60),
        |_| distinct_mods(proxy) == n,
    );
    resume_and_finish(proxy, go);
}

#[test]
fn the_main_module_s_requirements_are_fetched_ahead_at_go_s_first_request() {
    let (tree, proxy, w) = held_at_first_go_mod(5);
    download_once_mods_asked(&w, &proxy, tree.modules.len());
    // Each go.mod was fetched once, and nothing went unused.
    assert_eq!(proxy.requests_ending_with(".mod").len(), tree.modules.len());
    let p = prefetch_of(&w);
    assert_eq!(p["unused"].as_u64(), Some(0), "{p}");
    // A second run finds them all in go's cache and fetches nothing ahead.
    proxy.clear_log();
    run_ok(&w, true, &["list", "-m", "all"]);
    assert!(
        proxy.request_paths().is_empty(),
        "{:?}",
        proxy.request_paths()
    );
}

#[test]
fn a_distant_upstream_gets_more_fetches_ahead_at_once() {
    // As held_at_first_go_mod, with 8 modules, but dep0's go.mod comes 20 ms
    // late: the upstream is distant, so the relay fetches more than 4 ahead
    // at once, and all 8 go.mod files are asked while the others are held.
    let tree = ModTree::new(8);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    proxy.set_fault_for(
        "dep0/@v/v1.0.0.mod",
        Fault::Delay(Duration::from_millis(20)),
    );
    proxy.add_fault(Some(".mod"), Fault::PauseMidBody);
    let mut w = world(&proxy.url(), &db, &tree);
    w.set_env("GOMAXPROCS", "1");
    download_once_mods_asked(&w, &proxy, tree.modules.len());
    assert_eq!(proxy.requests_ending_with(".mod").len(), tree.modules.len());
}

#[test]
fn a_path_go_fetches_directly_is_never_fetched_ahead() {
    let (_, proxy, mut w) = held_at_first_go_mod(4);
    // go fetches dep3 directly, never from a proxy (its HTTPS lookup goes to
    // a refused local proxy: nothing leaves the machine).
    w.set_env("GONOPROXY", "example.com/dep3");
    w.set_env("GONOSUMDB", "example.com/dep3");
    w.set_env("HTTPS_PROXY", common::refused_url());
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download"]));
    // Held at its first go.mod, go has asked for one; the relay asks for the
    // other two it may.
    go.wait_until(
        "asking for the go.mod files",
        Duration::from_secs(60),
        |_| distinct_mods(&proxy) == 3,
    );
    proxy.resume();
    let out = go.wait(Duration::from_secs(60));
    let leaked: Vec<String> = proxy
        .request_paths()
        .into_iter()
        .filter(|p| p.contains("dep3"))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}\n{}", show(&out));
}

#[test]
fn a_workspace_s_requirements_are_fetched_ahead_too() {
    let (tree, proxy, mut w) = held_at_first_go_mod(5);
    w.set_env("GOFLAGS", ""); // -mod=mod is refused in workspace mode
    // A second module in the workspace, which no proxy is asked for.
    w.write_module(
        "work/tool",
        "example.com/tool",
        "package main\n\nfunc main() {}\n",
    );
    w.write_file("work/go.work", "go 1.24\n\nuse (\n\t.\n\t./tool\n)\n");
    download_once_mods_asked(&w, &proxy, tree.modules.len());
    assert!(
        !proxy
            .request_paths()
            .iter()
            .any(|p| p.contains("example.com/tool")),
        "{:?}",
        proxy.request_paths()
    );
    assert_eq!(prefetch_of(&w)["unused"].as_u64(), Some(0));
}

#[test]
fn a_zip_fetched_ahead_that_turns_out_missing_reaches_go_as_a_404() {
    let tree = ModTree::new(1);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    // The zip is fetched ahead when go asks for the .info; go asks for it
    // (milliseconds later) while the proxy still thinks about its 404.
    let late_404 = Fault::LateStatus {
        delay: Duration::from_millis(1000),
        status: 404,
    };
    proxy.set_fault_for(".zip", late_404);
    let w = world(&proxy.url(), &db, &tree);
    let out = w.run_shim(&["mod", "download"]);
    let plain = world(&proxy.url(), &db, &tree).run_direct(&["mod", "download"]);
    assert_eq!(out.status.code(), plain.status.code(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".zip: 404 Not Found") && !stderr.contains("EOF"),
        "{}\nplain go:\n{}",
        show(&out),
        show(&plain)
    );
    assert!(
        goshim_lines(&out).is_empty(),
        "goshim spoke\n{}",
        show(&out)
    );
}

#[test]
fn with_another_modfile_go_mod_s_requirements_are_not_fetched_ahead() {
    let (tree, proxy, w) = held_at_first_go_mod(4);
    // go reads alt.mod, which requires dep0 only; go.mod's other three
    // requirements are nothing go will ask for.
    let dep0 = &tree.modules[0];
    let alt = format!(
        "module example.com/m\n\ngo 1.24\n\nrequire {} {}\n",
        dep0.path,
        dep0.latest()
    );
    w.write_file("work/alt.mod", alt);
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download", "-modfile=alt.mod"]));
    go.wait_until("asking for dep0's go.mod", Duration::from_secs(60), |_| {
        distinct_mods(&proxy) >= 1
    });
    resume_and_finish(&proxy, go);
    let others: Vec<String> = proxy
        .request_paths()
        .into_iter()
        .filter(|p| !p.contains(&format!("{}/", dep0.path)) && !p.contains("/sumdb/"))
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

/// A copy of `module` in `work/local`, and the main go.mod's `replace` of
/// its path with that folder.
fn replace_with_local_copy(w: &World, module: &common::modtree::Module) {
    let local = w.work_dir().join("local");
    fs::create_dir_all(&local).unwrap();
    fs::write(local.join("go.mod"), module.go_mod()).unwrap();
    fs::write(
        local.join(format!("{}.go", module.name)),
        module.source(module.latest()),
    )
    .unwrap();
    let go_mod = w.work_dir().join("go.mod");
    let text = fs::read_to_string(&go_mod).unwrap();
    fs::write(
        &go_mod,
        format!("{text}\nreplace {} => ./local\n", module.path),
    )
    .unwrap();
}

/// A main module's `replace` holds for the whole module graph: go never asks
/// a proxy for the replaced path, so fetching ahead along the graph (a
/// required module's go.mod names it) must not either. Here `go build`, which
/// does not fetch the main module's requirements ahead: only the walk along
/// the graph could reach the replaced path.
#[test]
fn a_path_the_main_module_replaces_is_never_fetched_ahead() {
    let (tree, db, proxy) = graph(Duration::ZERO);
    let replaced = &tree.modules[tree.modules.len() - 1]; // required by the level above
    let w = world(&proxy.url(), &db, &tree);
    replace_with_local_copy(&w, replaced);
    run_ok(&w, true, &["build", "-o", "out/prog", "."]);
    let asked: Vec<String> = proxy
        .request_paths()
        .into_iter()
        .filter(|p| p.contains(&format!("/{}/", replaced.path)))
        .collect();
    assert!(
        asked.is_empty(),
        "the replaced path reached the proxy: {asked:?}"
    );
    assert_fetched_ahead(&w);
}

/// A file already in go's download cache is never fetched ahead: go will not
/// ask for it. Here `go list -m all` left every `.mod` there; `go build` then
/// asks only for what it lacks, and so does the relay.
#[test]
fn what_go_s_download_cache_holds_is_never_fetched_ahead() {
    let (tree, db, proxy) = graph(Duration::ZERO);
    let w = world(&proxy.url(), &db, &tree);
    run_ok(&w, false, &["list", "-m", "all"]);
    let cached = download_cache(&w);
    let before = proxy.request_count();
    run_ok(&w, true, &["build", "-o", "out/prog", "."]);
    let again: Vec<String> = proxy.request_paths()[before..]
        .iter()
        .filter(|p| cached.contains_key(p.trim_start_matches('/')))
        .cloned()
        .collect();
    assert!(again.is_empty(), "asked again for cached files: {again:?}");
    let zips = proxy.request_paths()[before..]
        .iter()
        .filter(|p| p.ends_with(".zip"))
        .count();
    assert_eq!(zips, tree.modules.len(), "the build did not fetch its zips");
}

/// `tree`'s database, a proxy serving both that holds every checksum-database
/// tile until told to go on, and a world where go loads the module graph one
/// module at a time (`GOMAXPROCS=1`): go stops at verifying its first lookup.
fn held_at_first_tile(tree: &ModTree) -> (SumDb, TestProxy, World) {
    let db = SumDb::from_tree(SUMDB_NAME, tree);
    let proxy = TestProxy::builder().tree(tree).sumdb(&db).start();
    proxy.set_fault_containing("/tile/", Fault::PauseMidBody);
    let mut w = world(&proxy.url(), &db, tree);
    w.set_env("GOMAXPROCS", "1");
    (db, proxy, w)
}

/// `go mod download` through the shim, held at the tile until `ready`, then
/// let on to a quiet success.
fn download_held_until(w: &World, proxy: &TestProxy, ready: impl Fn(&TestProxy) -> bool) {
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download"]));
    go.wait_until("the relay's requests", Duration::from_secs(60), |_| {
        ready(proxy)
    });
    resume_and_finish(proxy, go);
}

#[test]
fn checksum_lookups_are_fetched_ahead_of_go() {
    let tree = ModTree::new(6);
    // While go is held, the relay asks for the lookup of every go.mod.
    let (db, proxy, w) = held_at_first_tile(&tree);
    download_held_until(&w, &proxy, |p| lookups(p).len() == tree.modules.len());
    let asked = lookups(&proxy);
    assert!(asked.values().all(|&n| n == 1), "{asked:?}");
    let p = prefetch_of(&w);
    assert_eq!(p["unused"].as_u64(), Some(0), "{p}");
    assert_go_sum_from(&w, &tree, &db, false, "lookups fetched ahead");
}

#[test]
fn a_lookup_go_would_not_make_is_never_fetched_ahead() {
    let tree = ModTree::new(4);
    let (db, proxy, mut w) = held_at_first_tile(&tree);
    // go.sum has dep1; go fetches dep2 from the proxy but never checks it.
    let dep1 = &tree.modules[1];
    let mut sum = db.go_sum_lines(&dep1.path, dep1.latest()).join("\n");
    sum.push('\n');
    fs::write(w.work_dir().join("go.sum"), sum).unwrap();
    w.set_env("GONOSUMDB", "example.com/dep2");
    let expected: Vec<String> = ["dep0", "dep3"]
        .iter()
        .map(|m| format!("example.com/{m}@v1.0.0"))
        .collect();
    // While go is held, the relay asks for the other lookup go needs, and
    // for no other.
    download_held_until(&w, &proxy, |p| {
        lookups(p).into_keys().collect::<Vec<_>>() == expected
    });
    let asked: Vec<String> = lookups(&proxy).into_keys().collect();
    assert_eq!(asked, expected);
    assert_eq!(distinct_mods(&proxy), tree.modules.len());
}

#[test]
fn a_go_mod_go_prunes_from_the_graph_is_not_looked_up_ahead() {
    // main requires a (l0m0) only; a requires b (l1m0). With graph pruning
    // `go mod download` reads a's go.mod but never b's, so it never checks
    // b: the relay fetches b's go.mod ahead along the graph (a small waste,
    // counted), but not b's lookup.
    let tree = ModTree::layered(2, 1);
    let (_, proxy, w) = held_at_first_tile(&tree);
    let a = &tree.modules[0];
    w.write_file(
        "work/go.mod",
        format!(
            "module example.com/m\n\ngo 1.24\n\nrequire {} v1.0.0\n",
            a.path
        ),
    );
    w.write_file(
        "work/main.go",
        format!(
            "package main\n\nimport \"{}\"\n\nfunc main() {{ println({}.Name()) }}\n",
            a.path, a.name
        ),
    );
    // Held at a's lookup once the relay has fetched b's go.mod ahead: any
    // lookup of b would be asked by then.
    download_held_until(&w, &proxy, |p| {
        let paths = p.request_paths();
        let seen = |end: &str| paths.iter().any(|p| p.ends_with(end));
        seen("l1m0/@v/v1.0.0.mod") && seen(".p/2")
    });
    let asked = lookups(&proxy);
    assert!(asked.contains_key("example.com/l0m0@v1.0.0"), "{asked:?}");
    assert!(!asked.contains_key("example.com/l1m0@v1.0.0"), "{asked:?}");
}

#[test]
fn lookups_are_fetched_ahead_when_go_s_cache_has_every_go_mod() {
    // Everything in go's module cache, but no go.sum: go asks the database
    // first, before any module, then checks each cached go.mod.
    let tree = ModTree::new(4);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    let mut w = world(&proxy.url(), &db, &tree);
    run_ok(&w, false, &["mod", "download"]);
    fs::remove_file(w.work_dir().join("go.sum")).unwrap();
    fs::remove_dir_all(w.path("gopath/pkg/mod/cache/download/sumdb")).unwrap();
    proxy.clear_log();
    proxy.set_fault_containing("/tile/", Fault::PauseMidBody);
    w.set_env("GOMAXPROCS", "1");
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download"]));
    go.wait_until("asking for the lookups", Duration::from_secs(60), |_| {
        lookups(&proxy).len() == tree.modules.len()
    });
    resume_and_finish(&proxy, go);
    assert_go_sum_from(&w, &tree, &db, false, "lookups of cached go.mod files");
}

/// When go falls behind, zips fetched ahead wait for go to take one of
/// those held: `go mod download` of 80 modules, held in its `.info` phase
/// (one module's `.info` pauses), so that go takes no zip; the relay fetches
/// at most 32 zips ahead meanwhile (it fetched all 79 it knew of before),
/// and the download then succeeds, verified, with nothing unused.
#[test]
fn zips_fetched_ahead_wait_for_go_to_take_them() {
    let tree = ModTree::new(80);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    let last = &tree.modules[79].path;
    proxy.set_fault_for(&format!("{last}/@v/v1.0.0.info"), Fault::PauseMidBody);
    let w = world(&proxy.url(), &db, &tree);
    let mut go = Running::spawn(&mut w.shim_cmd(["mod", "download"]));
    go.wait_until("fetching zips ahead", Duration::from_secs(60), |_| {
        distinct_asked(&proxy, ".zip") >= 32
    });
    // Long enough for the rest to go out, were they not held back.
    std::thread::sleep(Duration::from_millis(500));
    let before_go_took_any = distinct_asked(&proxy, ".zip");
    resume_and_finish(&proxy, go);
    assert_eq!(before_go_took_any, 32);
    assert_go_sum_from(&w, &tree, &db, false, "go mod download");
    let p = prefetch_of(&w);
    assert_eq!(p["unused"], 0, "{p}");
}

/// 600 modules of 64 KiB (more than the relay holds in memory) under an
/// open-file limit of 256: fetching ahead spills to files only within its
/// bounds, and the download succeeds, verified, as it does with go alone.
#[test]
fn many_modules_under_a_small_open_file_limit() {
    let tree = ModTree::padded(600, 64 * 1024);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    let w = world(&proxy.url(), &db, &tree);
    let mut cmd = w.shim_cmd(["mod", "download"]);
    limit_open_files(&mut cmd, 256);
    let out = w.run(&mut cmd);
    assert_quiet_success(&out, &["mod", "download"]);
    assert_go_sum_from(&w, &tree, &db, false, "go mod download");
    let p = prefetch_of(&w);
    assert!(p["fetched"].as_u64() > Some(600), "{p}");
    assert_eq!(p["unused"], 0, "{p}");
}

/// `ulimit -n limit` for the command (and go under it).
fn limit_open_files(cmd: &mut std::process::Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let rlim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || match libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
}

/// The only upstream leaves the first two requests for dep0's `.info`
/// unanswered: those are the fetch ahead (made when go got dep0's `.mod`)
/// and its one retry, which time out. A guess that failed costs go
/// nothing: go's own request for it, a moment later, is still sent to the
/// upstream and served, in the one run; and the health snapshot records no
/// failure.
#[test]
fn a_fetch_ahead_that_times_out_costs_go_s_own_requests_nothing() {
    let tree = ModTree::new(1);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    proxy.set_fault_for("/dep0/@v/v1.0.0.info", Fault::HangFirst { n: 2 });
    let mut w = world(&proxy.url(), &db, &tree);
    w.set_env("GOSHIM_RESPONSE_TIMEOUT_MS", "1000");
    w.set_env("GOSHIM_LOG", "1");
    let out = w.run_shim(&["mod", "download"]);
    let ctx = format!("{}\n{}", show(&out), common::scenario::log_of(&proxy));
    assert!(out.status.success(), "{ctx}");
    assert_eq!(common::scenario::go_runs(&out), 1, "{ctx}");
    let infos = proxy.requests_ending_with("/dep0/@v/v1.0.0.info");
    assert_eq!(
        infos.len(),
        3,
        "the fetch ahead twice, then go's own\n{ctx}"
    );
    let health = common::scenario::health_path(&w);
    if health.exists() {
        let doc = common::scenario::read_health(&w);
        let failed = doc["proxies"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| !p["last_failure_at"].is_null()));
        assert!(!failed, "a failed guess was recorded: {doc:#}\n{ctx}");
    }
}

/// A distant upstream (every answer 20 ms late) and 30 modules: the relay
/// fetches many ahead at once, but never has more than 18 requests (over
/// HTTP/1.1, each a connection) in flight to one upstream, fetches ahead
/// and go's own together. go here asks up to 8 at once (GOMAXPROCS=8), so
/// without the budget the two add up to more. (Twenty such commands at
/// once against one small server overflowed its listen queue.) Counted as
/// requests the proxy was answering at once: a connection the relay let go
/// of is seen closed a little later.
#[test]
fn fetching_ahead_keeps_to_a_connection_budget_per_upstream() {
    let tree = ModTree::new(30);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    proxy.set_fault(Fault::Delay(Duration::from_millis(20)));
    let mut w = world(&proxy.url(), &db, &tree);
    w.set_env("GOMAXPROCS", "8");
    run_ok(&w, true, &["mod", "download"]);
    assert_fetched_ahead(&w);
    let peak = proxy.peak_requests();
    assert!(peak <= 18, "{peak} requests answered at once");
}

// ---------------------------------------------------------------------------
// go build: the zips go.sum names (issue 19).
// ---------------------------------------------------------------------------

/// `tree` with its database, a proxy that sends every zip half and then
/// waits, and a world (go one package at a time, `GOMAXPROCS=1`) whose main
/// module has a tidy go.sum: go is held at its first zip, so the zips the
/// proxy is asked for beyond it were fetched ahead.
fn held_at_first_zip(tree: &ModTree) -> (SumDb, TestProxy, World) {
    let db = SumDb::from_tree(SUMDB_NAME, tree);
    let proxy = TestProxy::builder().tree(tree).sumdb(&db).start();
    proxy.set_fault_for(".zip", Fault::PauseMidBody);
    let mut w = world(&proxy.url(), &db, tree);
    w.set_env("GOMAXPROCS", "1");
    (db, proxy, w)
}

/// go through the shim, held until the proxy was asked for `n` different
/// zips, then let on to a quiet success.
fn run_once_zips_asked(w: &World, proxy: &TestProxy, args: &[&str], n: usize) {
    let mut go = Running::spawn(&mut w.shim_cmd(args));
    go.wait_until("asking for the zips", Duration::from_secs(60), |_| {
        distinct_asked(proxy, ".zip") == n
    });
    resume_and_finish(proxy, go);
}

#[test]
fn go_build_fetches_ahead_the_zips_go_sum_names_each_once_none_unused() {
    let tree = ModTree::new(4);
    let (db, proxy, w) = held_at_first_zip(&tree);
    let go_sum = write_tidy_go_sum(&w, &db, &tree, &[]);
    let build = ["build", "-o", "out/prog", "."];
    // Without fetching ahead, go (held at its first zip) never asks for a
    // second one.
    run_once_zips_asked(&w, &proxy, &build, tree.modules.len());
    assert_eq!(
        proxy.requests_ending_with(".zip").len(),
        tree.modules.len(),
        "{:?}",
        proxy.request_paths()
    );
    let p = prefetch_of(&w);
    assert_eq!(p["unused_zips"].as_u64(), Some(0), "{p}");
    assert!(
        p["zips"].as_u64() >= Some(tree.modules.len() as u64 - 1),
        "{p}"
    );
    common::scenario::assert_program_prints(&w, "work/out/prog", &tree.expected_output());
    // What plain go gets: the same go.sum (untouched) and module cache.
    let plain_proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
    let plain = world(&plain_proxy.url(), &db, &tree);
    write_tidy_go_sum(&plain, &db, &tree, &[]);
    run_ok(&plain, false, &build);
    assert_eq!(common::scenario::go_sum(&w), go_sum);
    assert_eq!(common::scenario::go_sum(&plain), go_sum);
    assert!(
        download_cache(&w) == download_cache(&plain),
        "the module caches differ"
    );
}

#[test]
fn an_older_version_in_go_sum_is_skipped_and_a_test_only_zip_counts_as_unused() {
    let tree = ModTree::with_versions(3, &["v1.0.0", "v1.1.0"]);
    let (db, proxy, w) = held_at_first_zip(&tree);
    // dep2 is imported by a test only; go.sum keeps dep0's version from
    // before an upgrade.
    let built = ModTree {
        modules: tree.modules[..2].to_vec(),
    };
    w.write_file("work/main.go", built.main_go());
    w.write_file(
        "work/main_test.go",
        "package main\n\nimport (\n\t\"testing\"\n\n\t\"example.com/dep2\"\n)\n\n\
         func TestDep2(t *testing.T) { _ = dep2.Name() }\n",
    );
    write_tidy_go_sum(&w, &db, &tree, &[("example.com/dep0", "v1.0.0")]);
    run_once_zips_asked(&w, &proxy, &["build", "-o", "out/prog", "."], 3);
    let zips = proxy.requests_ending_with(".zip");
    assert_eq!(zips.len(), 3, "{:?}", proxy.request_paths());
    assert!(
        !proxy.request_paths().iter().any(|p| p.contains("v1.0.0")),
        "the version from before the upgrade was fetched: {:?}",
        proxy.request_paths()
    );
    let p = prefetch_of(&w);
    assert_eq!(p["unused_zips"].as_u64(), Some(1), "the test-only zip: {p}");
    common::scenario::assert_program_prints(&w, "work/out/prog", &built.expected_output());

    // go test wants it: fetched ahead again (the rest is cached), and used.
    proxy.heal();
    proxy.clear_log();
    run_ok(&w, true, &["test", "./..."]);
    assert_eq!(
        proxy.requests_ending_with(".zip").len(),
        1,
        "{:?}",
        proxy.request_paths()
    );
    assert_eq!(prefetch_of(&w)["unused_zips"].as_u64(), Some(1));
}

/// Replaced, cached and GONOPROXY modules' zips never reach the proxy ahead
/// of go: dep0 is replaced by a folder, dep1 is in go's download cache, go
/// fetches dep2 directly (and fails: nothing is there), dep3 comes from the
/// proxy.
#[test]
fn replaced_cached_and_direct_zips_are_never_fetched_ahead() {
    let tree = ModTree::new(4);
    let (db, proxy, mut w) = held_at_first_zip(&tree);
    write_tidy_go_sum(&w, &db, &tree, &[]);
    replace_with_local_copy(&w, &tree.modules[0]);
    proxy.heal();
    run_ok(&w, false, &["mod", "download", "example.com/dep1"]);
    proxy.set_fault_for(".zip", Fault::PauseMidBody);
    proxy.clear_log();
    w.set_env("GONOPROXY", "example.com/dep2");
    w.set_env("GONOSUMDB", "example.com/dep2");
    w.set_env("HTTPS_PROXY", common::refused_url());

    let mut go = Running::spawn(&mut w.shim_cmd(["build", "-o", "out/prog", "."]));
    go.wait_until("asking for dep3's zip", Duration::from_secs(60), |_| {
        !proxy.requests_ending_with("dep3/@v/v1.0.0.zip").is_empty()
    });
    proxy.resume();
    let out = go.wait(Duration::from_secs(60));
    let wrong: Vec<String> = proxy
        .request_paths()
        .into_iter()
        .filter(|p| p.contains("dep0") || p.contains("dep1") || p.contains("dep2"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}\n{}", show(&out));
    assert_eq!(
        proxy.requests_ending_with(".zip").len(),
        1,
        "{:?}",
        proxy.request_paths()
    );
}

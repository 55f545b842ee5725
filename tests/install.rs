//! `install.sh`: the links it makes (`shims/go` is the shim, `shims/goshim`
//! the CLI, both from one PATH line) and what `--uninstall` removes (goshim's
//! cache) and keeps (the user's config). The build is a fake `cargo` that
//! copies the binary under test, so no compiler runs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{World, show, stdout_text};

/// A world with a fake `cargo` first on PATH.
fn world() -> World {
    let mut w = World::new();
    w.write_executable(
        "fakebin/cargo",
        "#!/bin/sh\n[ \"$1\" = build ] || exit 0\nmkdir -p \"$CARGO_TARGET_DIR/release\" && cp \"$GOSHIM_UNDER_TEST\" \"$CARGO_TARGET_DIR/release/goshim\"\n",
    );
    w.set_env("GOSHIM_UNDER_TEST", common::go::goshim_bin());
    w.set_env("CARGO_TARGET_DIR", w.path("target"));
    w.set_path(&[w.path("fakebin")]);
    w
}

fn install(w: &World, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    let mut all = vec!["--no-static", "--prefix"];
    let prefix = w.path("inst");
    all.push(prefix.to_str().unwrap());
    all.extend_from_slice(args);
    let out = w.run(&mut w.cmd(script, &all));
    assert!(out.status.success(), "{}", show(&out));
    out
}

fn link_target(p: &Path) -> PathBuf {
    fs::read_link(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn goshim_is_reachable_from_the_shims_line_and_uninstall_cleans_up() {
    let mut w = world();
    let out = install(&w, &[]);
    let shims = w.path("inst/shims");
    assert!(
        stdout_text(&out).contains(&format!("export PATH=\"{}:$PATH\"", shims.display())),
        "{}",
        show(&out)
    );
    for name in ["go", "goshim"] {
        assert_eq!(link_target(&shims.join(name)), Path::new("../bin/goshim"));
    }

    // The README's PATH line: shims first, then the real go.
    w.set_path(&[shims.clone(), w.real_go_dir().to_path_buf()]);
    w.remove_env("GOSHIM_CACHE_DIR"); // the default place, under XDG_CACHE_HOME
    let out = w.run(&mut w.cmd("sh", ["-c", "goshim which && go version"]));
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout_text(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(w.real_go().to_str().unwrap()),
        "goshim ran as the CLI and found the real go, not a link: {}",
        show(&out)
    );
    assert!(
        lines.next().unwrap_or("").starts_with("go version go1."),
        "{}",
        show(&out)
    );
    let out = w.run(&mut w.cmd("goshim", ["status"]));
    assert!(out.status.success(), "{}", show(&out));

    // goshim's state (made by the runs above, plus a leftover temp file)
    // and the user's config.
    let cache = w.path("cache/goshim");
    assert!(cache.join("goenv.json").is_file(), "{}", show(&out));
    fs::write(cache.join(".health.json.123.tmp"), "x").unwrap();
    let config = w.write_file("config/goshim/config.toml", "attempts = 2\n");

    let out = install(&w, &["--uninstall"]);
    let text = stdout_text(&out);
    assert!(!w.path("inst").exists(), "{text}");
    assert!(!cache.exists(), "{text}");
    assert!(
        text.contains(&format!("removed goshim's cache {}/", cache.display())),
        "{text}"
    );
    assert!(config.is_file());
    assert!(
        text.contains(&format!("kept your config file {}", config.display())),
        "{text}"
    );

    // A shared GOSHIM_CACHE_DIR: only goshim's files go, the folder stays.
    let shared = w.path("shared");
    for f in ["health.json", "health.lock", "probe.lock", "notes.txt"] {
        w.write_file(shared.join(f), "x");
    }
    w.set_env("GOSHIM_CACHE_DIR", &shared);
    let out = install(&w, &["--uninstall"]);
    let left: Vec<String> = fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["notes.txt"], "{}", show(&out));
}

#[test]
fn uninstall_leaves_links_it_did_not_make() {
    let w = world();
    install(&w, &[]);
    let goshim = w.path("inst/shims/goshim");
    fs::remove_file(&goshim).unwrap();
    std::os::unix::fs::symlink("/usr/bin/true", &goshim).unwrap();
    let out = install(&w, &["--uninstall"]);
    assert_eq!(link_target(&goshim), Path::new("/usr/bin/true"));
    assert!(!w.path("inst/shims/go").exists(), "{}", show(&out));
    assert!(
        common::stderr_text(&out).contains("left") && common::stderr_text(&out).contains("alone"),
        "{}",
        show(&out)
    );
}

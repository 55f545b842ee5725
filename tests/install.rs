//! `install.sh`: the links it makes (`shims/go` is the shim, `shims/goshim`
//! the CLI, both from one PATH line) and what `--uninstall` removes (goshim's
//! cache) and keeps (the user's config). The build is a fake `cargo` that
//! copies the binary under test, so no compiler runs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::scenario::home_files;
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

    // The PATH line install.sh prints: shims first, then the real go.
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

/// `goshim self uninstall` without a checkout: install.sh's layout under a
/// temporary HOME (every goshim path at its default), used for real, then the
/// installed goshim removes itself, its links, its cache and the PATH lines
/// the release installer writes (as cargo-dist 0.34 writes them; tests/release.rs
/// runs the real installer when `dist` is installed). Only the config is left.
#[test]
fn self_uninstall_leaves_only_the_config() {
    let mut w = world();
    for var in ["GOSHIM_CACHE_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"] {
        w.remove_env(var);
    }
    let home = w.path("home");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    let out = w.run(&mut w.cmd(script, ["--no-static"]));
    assert!(out.status.success(), "{}", show(&out));
    let shims = home.join(".goshim/shims");
    w.set_path(&[shims.clone(), w.real_go_dir().to_path_buf()]);
    let out = w.run(&mut w.cmd("sh", ["-c", "go version && goshim status"]));
    assert!(out.status.success(), "{}", show(&out));
    assert!(home.join(".cache/goshim/goenv.json").is_file());
    let config = w.write_file("home/.config/goshim/config.toml", "attempts = 2\n");

    // What the release installer adds for PATH: env files, a receipt, and a
    // line sourcing the env file in the profiles (after a blank line).
    let line = ". \"$HOME/.config/goshim/env.sh\"";
    w.write_file("home/.config/goshim/env.sh", "export PATH=x\n");
    w.write_file("home/.config/goshim/env.fish", "set -x PATH x\n");
    w.write_file("home/.config/goshim/goshim-receipt.json", "{}\n");
    w.write_file("home/.profile", format!("umask 022\n\n{line}\n"));
    w.write_file(
        "home/.bashrc",
        format!("alias ll='ls -l'\n\n{line}\nexport EDITOR=vi\n"),
    );
    w.write_file(
        "home/.config/fish/conf.d/goshim.env.fish",
        "\nsource \"$HOME/.config/goshim/env.fish\"\n",
    );

    let out = w.run(&mut w.cmd("goshim", ["self", "uninstall"]));
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout_text(&out);
    assert!(
        text.contains(&format!("kept your config file {}", config.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "removed the PATH line from {}",
            home.join(".bashrc").display()
        )),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string(home.join(".bashrc")).unwrap(),
        "alias ll='ls -l'\nexport EDITOR=vi\n"
    );
    assert_eq!(
        fs::read_to_string(home.join(".profile")).unwrap(),
        "umask 022\n"
    );
    let left = home_files(&home);
    assert_eq!(
        left,
        [".bashrc", ".config/goshim/config.toml", ".profile"],
        "{}",
        show(&out)
    );
    assert!(!home.join(".goshim").exists(), "{}", show(&out));

    // Nothing left to remove: the binary is gone, so is the command.
    let out = w.run(&mut w.cmd("sh", ["-c", "command -v goshim"]));
    assert!(!out.status.success(), "{}", show(&out));
}

/// A goshim that no installer placed (no `go` link to it) is not removed.
#[test]
fn self_uninstall_refuses_a_binary_that_is_not_installed() {
    let w = World::new();
    let copy = w.path("tools/goshim");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(common::go::goshim_bin(), &copy).unwrap();
    let out = w.run(&mut w.cmd(&copy, ["self", "uninstall"]));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        common::stderr_text(&out).contains("does not look installed"),
        "{}",
        show(&out)
    );
    assert!(copy.is_file());
    let out = w.run(&mut w.cmd(&copy, ["self"]));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        common::stderr_text(&out).contains("usage: goshim self uninstall"),
        "{}",
        show(&out)
    );
}

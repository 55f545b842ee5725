//! The `goshim` CLI helps: `--help` on every command (exit 0, on stdout),
//! `goshim help <command>`, a clear error and exit 2 for what it does not
//! know, and completion scripts that the shells load.

mod common;

use common::{World, show, stderr_text, stdout_text};

const COMMANDS: [&str; 8] = [
    "status",
    "doctor",
    "probe",
    "use",
    "which",
    "self",
    "completions",
    "help",
];

#[test]
fn every_command_has_help() {
    let w = World::new();
    let out = w.run(&mut w.goshim_cmd(["--help"]));
    assert!(out.status.success(), "{}", show(&out));
    let listed: Vec<String> = stdout_text(&out)
        .lines()
        .skip_while(|l| *l != "commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.trim_start().starts_with("--"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(listed, COMMANDS, "{}", show(&out));
    assert!(
        stdout_text(&out).contains("GOSHIM_DISABLE"),
        "{}",
        show(&out)
    );
    assert!(stdout_text(&out).contains("Config file:"), "{}", show(&out));
    for cmd in COMMANDS {
        for args in [vec![cmd, "--help"], vec![cmd, "-h"], vec!["help", cmd]] {
            let out = w.run(&mut w.goshim_cmd(&args));
            assert!(out.status.success(), "goshim {args:?}\n{}", show(&out));
            assert!(
                stdout_text(&out).starts_with(&format!("usage: goshim {cmd}")),
                "goshim {args:?}\n{}",
                show(&out)
            );
            assert!(stderr_text(&out).is_empty(), "{}", show(&out));
        }
    }
    for (args, says) in [
        (vec!["status", "--bogus"], "unknown flag '--bogus'"),
        (vec!["bogus"], "unknown command 'bogus'"),
        (vec!["help", "bogus"], "unknown command 'bogus'"),
        (vec!["completions", "tcsh"], "no completions for 'tcsh'"),
    ] {
        let out = w.run(&mut w.goshim_cmd(&args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "goshim {args:?}\n{}",
            show(&out)
        );
        assert!(stderr_text(&out).contains(says), "{}", show(&out));
        assert!(stdout_text(&out).is_empty(), "{}", show(&out));
    }
}

/// bash sources the script and completes commands and their flags; zsh and
/// fish load theirs, where they are installed.
#[test]
fn completions_load_in_the_shells() {
    let w = World::new();
    let script = |shell: &str| {
        let out = w.run(&mut w.goshim_cmd(["completions", shell]));
        assert!(out.status.success(), "{}", show(&out));
        w.write_file(format!("goshim.{shell}"), &out.stdout)
    };
    let bash = script("bash");
    let probe = format!(
        ". {}; COMP_WORDS=(goshim st); COMP_CWORD=1; _goshim; echo \"${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(goshim doctor --a); COMP_CWORD=2; _goshim; echo \"${{COMPREPLY[*]}}\"",
        bash.display()
    );
    let out = w.run(&mut w.cmd("bash", ["-c", &probe]));
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(stdout_text(&out), "status\n--all\n", "{}", show(&out));
    for shell in ["zsh", "fish"] {
        let present = std::process::Command::new(shell)
            .arg("--version")
            .output()
            .is_ok();
        if !present {
            eprintln!("{shell} is not installed: its completions are only generated");
            script(shell);
            continue;
        }
        let file = script(shell);
        let load = match shell {
            "zsh" => format!(
                "autoload -U compinit && compinit -u && . {}",
                file.display()
            ),
            _ => format!("source {}", file.display()),
        };
        let out = w.run(&mut w.cmd(shell, ["-c", &load]));
        assert!(out.status.success(), "{shell}: {}", show(&out));
    }
}

/// `goshim status` says what go gets with the relay: the upstreams, and
/// go's own `direct` tail as what go does after them (it is no upstream).
#[test]
fn status_names_upstreams_and_go_s_own_tail_apart() {
    let mut w = World::new();
    w.set_env("GOSHIM_TTL", "0");
    for (goproxy, tail) in [
        (
            "https://a.example,direct",
            "then go itself goes direct when they all answer not found",
        ),
        (
            "https://a.example|https://b.example|direct",
            "then go itself goes direct when they all fail",
        ),
    ] {
        w.set_env("GOPROXY", goproxy);
        let out = w.run(&mut w.goshim_cmd(["status"]));
        assert!(out.status.success(), "{}", show(&out));
        let text = stdout_text(&out);
        let line = text
            .lines()
            .find(|l| l.starts_with("GOPROXY:"))
            .unwrap_or("");
        assert!(
            line.contains("loopback relay, upstreams https://a.example"),
            "{text}"
        );
        assert!(!line.contains(",direct") && line.ends_with(tail), "{text}");
    }
}

//! The CLI's own description: one table of commands, from which come
//! `goshim --help`, `goshim <command> --help` (and `goshim help <command>`),
//! and the shell completions (`goshim completions bash|zsh|fish`). Only the
//! `goshim` personality reads it: the `go` shim never parses its arguments.

use std::fmt::Write as _;

/// One `goshim` command.
pub struct Command {
    pub name: &'static str,
    /// What follows the name in its usage line.
    pub args: &'static str,
    /// Its flags (and fixed words), for the completions.
    pub words: &'static [&'static str],
    /// One line, for the list of commands.
    pub summary: &'static str,
    /// What `goshim <command> --help` adds below the usage line.
    pub details: &'static str,
}

pub const COMMANDS: &[Command] = &[
    Command {
        name: "status",
        args: "[--json | --format text|json|prometheus]",
        words: &["--json", "--format", "text", "json", "prometheus"],
        summary: "the real go, the health snapshot, and the GOPROXY the next go call gets",
        details: "Reads the health snapshot (it probes nothing). --json prints one JSON object;
--format prometheus prints gauges and counters for a node_exporter textfile collector.",
    },
    Command {
        name: "doctor",
        args: "[--all] [--json]",
        words: &["--all", "--json"],
        summary: "probe and rank the proxies, check the setup",
        details: "Probes every candidate proxy (latency, checksum database, index freshness,
TLS certificate), ranks them and checks the setup (PATH order, GOSUMDB,
GOPRIVATE, editors). --all adds the well-known public mirrors. Exit status 0
when a proxy in use is healthy and serves modules, 1 when none is.",
    },
    Command {
        name: "probe",
        args: "[--json]",
        words: &["--json"],
        summary: "probe every candidate proxy now, save the snapshot, print the ranking",
        details: "Asks every proxy for the sample modules' @v/list: the probe module, inside a
module the first three requirements of its go.mod, and doctor_modules. Exit
status 0 when a proxy is up or degraded and lists at least one of them (goshim
doctor's rule), 1 when none does.",
    },
    Command {
        name: "use",
        args: "<preset>",
        words: &["cn", "global", "all", "none"],
        summary: "add a preset of public mirrors as candidates (none removes it)",
        details: "Writes preset = \"<preset>\" to the config file, keeping its comments. The
mirrors become candidates after your own GOPROXY entries; the relay tries
them in health order, and never sends them a private module path.",
    },
    Command {
        name: "which",
        args: "",
        words: &[],
        summary: "print the real go that the shim runs",
        details: "GOSHIM_GO when set, else the first go on PATH that is not goshim itself.",
    },
    Command {
        name: "self",
        args: "uninstall",
        words: &["uninstall"],
        summary: "remove this installation (keeps the config file)",
        details: super::self_cmd::DETAILS,
    },
    Command {
        name: "completions",
        args: "bash|zsh|fish",
        words: &["bash", "zsh", "fish"],
        summary: "print a completion script for the shell",
        details: "bash: goshim completions bash > ~/.local/share/bash-completion/completions/goshim
zsh:  goshim completions zsh > \"${fpath[1]}/_goshim\"
fish: goshim completions fish > ~/.config/fish/completions/goshim.fish",
    },
    Command {
        name: "help",
        args: "[<command>]",
        words: &[],
        summary: "print this help, or a command's",
        details: "",
    },
];

pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// `goshim --help`: the commands, and where goshim's settings are.
pub fn usage(config_file: Option<&std::path::Path>) -> String {
    let mut out = String::from("usage: goshim <command> [flags]\n\ncommands:\n");
    for c in COMMANDS {
        let _ = writeln!(out, "  {:<13} {}", c.name, c.summary);
    }
    let config = config_file.map_or("(none: set HOME or GOSHIM_CONFIG)".into(), |p| {
        p.display().to_string()
    });
    let _ = write!(
        out,
        "  --version     print goshim's version and the commit it was built from

'goshim <command> --help' tells more about each.

The shim is this same binary started as `go`, first on PATH. GOSHIM_DISABLE=1
runs plain go for one command. Config file: {config}
Every variable and config key: docs/configuration.md in goshim's repository."
    );
    out
}

/// `goshim <command> --help`.
pub fn command_help(c: &Command) -> String {
    let mut out = format!("usage: goshim {} {}", c.name, c.args)
        .trim_end()
        .to_string();
    let _ = write!(out, "\n\n{}", c.summary);
    if !c.details.is_empty() {
        let _ = write!(out, "\n\n{}", c.details);
    }
    out
}

/// A completion script for `shell`, or None for a shell it does not know.
pub fn completions(shell: &str) -> Option<String> {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let top = format!("{} --help --version", names.join(" "));
    Some(match shell {
        "bash" => {
            let cases = case_lines(|name, words| format!("{name}) words=\"{words} --help\" ;;"));
            format!(
                "# bash completion for goshim (goshim completions bash)
_goshim() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} words
    if [ \"$COMP_CWORD\" -eq 1 ]; then
        words=\"{top}\"
    else
        case ${{COMP_WORDS[1]}} in
{cases}        help) words=\"{names}\" ;;
        *) words=\"--help\" ;;
        esac
    fi
    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))
}}
complete -F _goshim goshim
",
                names = names.join(" ")
            )
        }
        "zsh" => {
            let cases = case_lines(|name, words| format!("{name}) compadd -- {words} --help ;;"));
            format!(
                "#compdef goshim
# zsh completion for goshim (goshim completions zsh)
_goshim() {{
    if (( CURRENT == 2 )); then
        compadd -- {top}
    else
        case $words[2] in
{cases}        help) compadd -- {names} ;;
        *) compadd -- --help ;;
        esac
    fi
}}
compdef _goshim goshim
",
                names = names.join(" ")
            )
        }
        "fish" => {
            let mut out = String::from("# fish completion for goshim (goshim completions fish)\n");
            out.push_str("complete -c goshim -f\n");
            for c in COMMANDS {
                let _ = writeln!(
                    out,
                    "complete -c goshim -n __fish_use_subcommand -a {} -d '{}'",
                    c.name,
                    c.summary.replace('\'', "")
                );
                if !c.words.is_empty() {
                    let _ = writeln!(
                        out,
                        "complete -c goshim -n '__fish_seen_subcommand_from {}' -a '{}'",
                        c.name,
                        c.words.join(" ")
                    );
                }
            }
            out
        }
        _ => return None,
    })
}

/// One `case` branch per command with words of its own, for the shell scripts.
fn case_lines(branch: impl Fn(&str, &str) -> String) -> String {
    COMMANDS
        .iter()
        .filter(|c| !c.words.is_empty())
        .map(|c| format!("        {}\n", branch(c.name, &c.words.join(" "))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_and_completions_name_them_all() {
        for c in COMMANDS {
            let help = command_help(c);
            assert!(
                help.starts_with(&format!("usage: goshim {}", c.name)),
                "{help}"
            );
            for shell in ["bash", "zsh", "fish"] {
                assert!(completions(shell).unwrap().contains(c.name), "{shell}");
            }
        }
        assert!(completions("tcsh").is_none());
        let usage = usage(None);
        assert!(usage.contains("GOSHIM_DISABLE") && usage.contains("Config file"));
    }
}

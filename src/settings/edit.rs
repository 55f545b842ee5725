//! Setting one top-level key of the config file in place (`goshim use`):
//! every other line, comment and key stays as it was. The result is parsed
//! and compared with the intended change before it replaces the file
//! atomically, so an edit that would change anything else is refused.

use std::path::{Path, PathBuf};

use crate::state_file;

/// Sets `preset = "<name>"`, or removes the key when `name` is None.
/// `name` must be a preset name (lower-case letters, digits, '-').
pub fn set_preset(path: &Path, name: Option<&str>) -> Result<PathBuf, String> {
    set_key(path, "preset", name)
}

fn set_key(path: &Path, key: &str, value: Option<&str>) -> Result<PathBuf, String> {
    // Edit the file a symlink points to (dotfile managers), not the link.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let old = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", target.display())),
    };
    let new = edit(&old, key, value).map_err(|e| format!("{}: {e}", target.display()))?;
    if new != old {
        state_file::write_atomic(&target, new.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(target)
}

/// The text with `key` set to the string `value` (or removed), checked.
fn edit(old: &str, key: &str, value: Option<&str>) -> Result<String, String> {
    let before: toml::Table = toml::from_str(old)
        .map_err(|e| format!("not valid TOML ({}); fix it first", e.message().trim()))?;
    let line = value.map(|v| format!("{key} = \"{v}\""));
    let mut out: Vec<String> = Vec::new();
    let mut placed = false;
    let mut in_tables = false;
    for l in old.lines() {
        let trimmed = l.trim_start();
        if trimmed.starts_with('[') && !in_tables && !placed {
            // Top-level keys must come before the first table: put it here.
            if let Some(line) = &line {
                out.push(line.clone());
                placed = true;
            }
        }
        in_tables |= trimmed.starts_with('[');
        if !in_tables && is_key_line(trimmed, key) {
            if let Some(line) = line.as_ref().filter(|_| !placed) {
                out.push(line.clone());
                placed = true;
            }
            continue;
        }
        out.push(l.to_string());
    }
    if let Some(line) = line.filter(|_| !placed) {
        out.push(line);
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    // The edit must change exactly the key, nothing else.
    let after: toml::Table =
        toml::from_str(&text).map_err(|_| "cannot edit it safely; set the key by hand")?;
    let mut expected = before;
    match value {
        Some(v) => expected.insert(key.to_string(), toml::Value::String(v.to_string())),
        None => expected.remove(key),
    };
    if after != expected {
        return Err(format!(
            "cannot edit it safely; set {key} by hand (or remove it)"
        ));
    }
    Ok(text)
}

/// `key = ...` or `"key" = ...` at the start of a line.
fn is_key_line(trimmed: &str, key: &str) -> bool {
    let rest = trimmed
        .strip_prefix(key)
        .or_else(|| trimmed.strip_prefix(&format!("\"{key}\"")))
        .or_else(|| trimmed.strip_prefix(&format!("'{key}'")));
    rest.is_some_and(|r| r.trim_start().starts_with('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_replaces_and_removes_keeping_everything_else() {
        let old = "# my settings\nproxies = [\n  \"https://a.example\",\n]\nattempts = 2 # two\n";
        let set = edit(old, "preset", Some("cn")).unwrap();
        assert_eq!(set, format!("{old}preset = \"cn\"\n"));
        let replaced = edit(&set, "preset", Some("global")).unwrap();
        assert_eq!(replaced, format!("{old}preset = \"global\"\n"));
        assert_eq!(edit(&replaced, "preset", None).unwrap(), old);
        assert_eq!(edit("", "preset", Some("cn")).unwrap(), "preset = \"cn\"\n");
        assert_eq!(edit("", "preset", None).unwrap(), "");
    }

    #[test]
    fn puts_top_level_keys_before_tables_and_refuses_broken_files() {
        let old = "attempts = 2\n[extra]\npreset = 1\n";
        assert_eq!(
            edit(old, "preset", Some("cn")).unwrap(),
            "attempts = 2\npreset = \"cn\"\n[extra]\npreset = 1\n"
        );
        assert!(edit("attempts = [", "preset", Some("cn")).is_err());
        // A second definition would be invalid TOML already; a tricky layout is refused.
        let tricky = "proxies = [\n[\"x\"],\n]\n";
        assert!(edit(tricky, "preset", Some("cn")).is_err());
    }
}

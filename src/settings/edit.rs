//! Setting one top-level key of the config file in place (`goshim use`),
//! through toml_edit: every other line, comment and key stays as it was, and
//! a CRLF file stays CRLF. The result is parsed
//! and compared with the intended change before it replaces the file
//! atomically, so an edit that would change anything else is refused.

use std::path::{Path, PathBuf};

use crate::state_file::{self, Durability};

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
    // A file left with nothing in it (`goshim use none` after `goshim use
    // cn`) goes: an empty config.toml only makes a person wonder.
    if new.trim().is_empty() {
        return match std::fs::remove_file(&target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", target.display()))
            }
            _ => Ok(target),
        };
    }
    if new != old {
        state_file::write_atomic(&target, new.as_bytes(), Durability::Durable)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(target)
}

/// The text with `key` set to the string `value` (or removed), checked.
fn edit(old: &str, key: &str, value: Option<&str>) -> Result<String, String> {
    let not_toml = |e: &dyn std::fmt::Display| {
        format!("not valid TOML ({}); fix it first", e.to_string().trim())
    };
    let before: toml::Table = toml::from_str(old).map_err(|e| not_toml(&e.message()))?;
    let mut doc: toml_edit::DocumentMut = old.parse().map_err(|e| not_toml(&e))?;
    match value {
        // Keep the old value's decor: a trailing `# comment` stays on its line.
        Some(v) => match doc.get_mut(key).and_then(|item| item.as_value_mut()) {
            Some(slot) => {
                let decor = slot.decor().clone();
                *slot = v.into();
                *slot.decor_mut() = decor;
            }
            None => doc[key] = toml_edit::value(v),
        },
        None => {
            doc.remove(key);
        }
    }
    let mut text = doc.to_string();
    if old.contains("\r\n") {
        // toml_edit writes '\n' for the lines it makes; a CRLF file stays CRLF.
        text = text.replace("\r\n", "\n").replace('\n', "\r\n");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_left_empty_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        set_preset(&path, Some("cn")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "preset = \"cn\"\n");
        set_preset(&path, None).unwrap();
        assert!(!path.exists());
        // Nothing to remove: no file is made either.
        set_preset(&path, None).unwrap();
        assert!(!path.exists());
    }

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
    }

    #[test]
    fn keeps_comments_crlf_and_nested_arrays() {
        let old = "# top\r\npreset = \"cn\" # mine\r\n\r\n# tables\r\n[extra]\r\nx = 1\r\n";
        assert_eq!(
            edit(old, "preset", Some("global")).unwrap(),
            old.replace("\"cn\"", "\"global\"")
        );
        let crlf = "attempts = 2\r\n";
        assert_eq!(
            edit(crlf, "preset", Some("cn")).unwrap(),
            "attempts = 2\r\npreset = \"cn\"\r\n"
        );
        assert_eq!(
            edit("attempts = 2\r\npreset = \"cn\"\r\n", "preset", None).unwrap(),
            crlf
        );
        // A line that starts with '[' inside an array is no table header.
        let nested = "proxies = [\n  [\"x\"],\n]\n[extra]\n";
        assert_eq!(
            edit(nested, "preset", Some("cn")).unwrap(),
            "proxies = [\n  [\"x\"],\n]\npreset = \"cn\"\n[extra]\n"
        );
    }
}

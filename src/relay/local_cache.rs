//! The last tier: when every upstream failed for a request (a real failure,
//! never a "not found"), answer from go's own download cache,
//! `$GOMODCACHE/cache/download`, which has the GOPROXY layout.
//!
//! Only version queries need answering here: go reads `.info`, `.mod`, `.zip`
//! and the checksum database's lookups and tiles from that same cache before
//! it ever asks a proxy, so a request for one of those means the cache lacks
//! it too. What go cannot answer offline is "which versions are there"
//! (`@v/list`, `@latest`): answered from the versions it can build from the
//! cache alone. go still verifies everything against go.sum and the cached
//! checksum database, so integrity is unchanged; the list may lack newer versions.

use std::fs;
use std::path::Path;

use super::route::{self, Route};
use crate::go::module_path;

/// The body answering `rel` from the download cache at `root`, if it can.
pub fn answer(root: &Path, rel: &str) -> Option<String> {
    let Route::Module { .. } = route::parse(rel) else {
        return None;
    };
    // A file name under `root`, nothing else: no `..`, no absolute path.
    if rel
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return None;
    }
    if let Some(escaped) = rel.strip_suffix("/@v/list") {
        // A module never fetched here stays a failure: go's error then says why.
        // The cache names files by escaped version (`v1.0.0-!r!c1`); the
        // list says the version itself.
        let versions = complete_versions(&root.join(escaped).join("@v"))?;
        let releases = versions
            .iter()
            .filter_map(|v| module_path::unescape(v))
            .filter(|v| !is_pseudo(v));
        // An empty list is a real answer too: go then asks for @latest.
        return Some(releases.map(|v| format!("{v}\n")).collect());
    }
    if let Some(escaped) = rel.strip_suffix("/@latest") {
        return latest_info(&root.join(escaped).join("@v"));
    }
    None
}

/// Versions whose `.info`, `.mod` and `.zip` are all cached: go can use them
/// without asking anyone (one with only a `.mod`, from a graph walk, is not).
fn complete_versions(dir: &Path) -> Option<Vec<String>> {
    let entries = fs::read_dir(dir).ok()?;
    let mut versions: Vec<String> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let v = name.strip_suffix(".info")?;
            let has = |ext: &str| dir.join(format!("{v}.{ext}")).is_file();
            (has("mod") && has("zip")).then(|| v.to_string())
        })
        .collect();
    versions.sort();
    Some(versions)
}

/// The `.info` of the newest complete version, by its commit time (go asks
/// for @latest only when the list has no release, i.e. for pseudo-versions).
fn latest_info(dir: &Path) -> Option<String> {
    complete_versions(dir)?
        .into_iter()
        .filter_map(|v| {
            let info = fs::read_to_string(dir.join(format!("{v}.info"))).ok()?;
            let doc: serde_json::Value = serde_json::from_str(&info).ok()?;
            let time = doc.get("Time")?.as_str()?.to_string();
            Some((time, info))
        })
        .max()
        .map(|(_, info)| info)
}

/// A pseudo-version (`v0.0.0-20191109021931-daa7c04131f5` and kin): never
/// in a proxy's `@v/list`.
fn is_pseudo(v: &str) -> bool {
    let v = v.split('+').next().unwrap_or(v);
    let Some((head, rev)) = v.rsplit_once('-') else {
        return false;
    };
    let Some(split) = head.len().checked_sub(14) else {
        return false;
    };
    let (before, stamp) = head.split_at(split);
    rev.len() >= 12
        && rev.bytes().all(|b| b.is_ascii_alphanumeric())
        && stamp.bytes().all(|b| b.is_ascii_digit())
        && (before.ends_with('-') || before.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn lists_complete_release_versions_and_the_latest_pseudo_version() {
        let root = tempfile::tempdir().unwrap();
        let v = root.path().join("example.com/!x/@v");
        for ver in ["v1.0.0", "v1.1.0", "v1.1.1-!r!c1"] {
            write(&v, &format!("{ver}.info"), "{}");
            write(&v, &format!("{ver}.mod"), "module example.com/X\n");
            write(&v, &format!("{ver}.zip"), "PK");
        }
        write(&v, "v1.2.0.info", "{}");
        write(&v, "v1.2.0.mod", "module example.com/X\n");
        let list = answer(root.path(), "example.com/!x/@v/list");
        assert_eq!(list.as_deref(), Some("v1.0.0\nv1.1.0\nv1.1.1-RC1\n"));

        let p = root.path().join("example.com/p/@v");
        for (ver, time) in [
            ("v0.0.0-20200101000000-aaaaaaaaaaaa", "2020-01-01T00:00:00Z"),
            ("v0.0.0-20210101000000-bbbbbbbbbbbb", "2021-01-01T00:00:00Z"),
        ] {
            let info = format!(r#"{{"Version":"{ver}","Time":"{time}"}}"#);
            write(&p, &format!("{ver}.info"), &info);
            write(&p, &format!("{ver}.mod"), "module example.com/p\n");
            write(&p, &format!("{ver}.zip"), "PK");
        }
        assert_eq!(
            answer(root.path(), "example.com/p/@v/list").as_deref(),
            Some("")
        );
        let latest = answer(root.path(), "example.com/p/@latest").unwrap();
        assert!(latest.contains("bbbbbbbbbbbb"), "{latest}");
        assert_eq!(answer(root.path(), "example.com/none/@latest"), None);
        assert_eq!(answer(root.path(), "example.com/none/@v/list"), None);
        assert_eq!(answer(root.path(), "example.com/p/@v/v1.0.0.info"), None);
        assert_eq!(
            answer(root.path(), "sumdb/sum.golang.org/lookup/x@v1"),
            None
        );
        assert_eq!(answer(root.path(), "example.com/../../p/@v/list"), None);
    }

    #[test]
    fn tells_pseudo_versions_from_releases() {
        assert!(is_pseudo("v0.0.0-20191109021931-daa7c04131f5"));
        assert!(is_pseudo("v1.2.4-0.20191109021931-daa7c04131f5"));
        assert!(is_pseudo(
            "v1.2.3-pre.0.20191109021931-daa7c04131f5+incompatible"
        ));
        assert!(!is_pseudo("v1.2.3"));
        assert!(!is_pseudo("v1.2.3-rc.1"));
        assert!(!is_pseudo("v2.0.0+incompatible"));
    }
}

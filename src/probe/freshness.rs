//! Index freshness (the seed article's section 2.2): for each sample module,
//! every proxy's `@v/list` against the union of all of them. A proxy lacking
//! versions that another one lists lags behind in syncing; one that answers
//! 404/410 for a module that every other answering proxy lists is dead ("gone").

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::Serialize;

use super::samples::Sample;

/// What one proxy said about one module's version list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// 200: these versions.
    Versions(Vec<String>),
    /// 404 or 410.
    NotFound(u16),
    /// Anything else (error, other status, not asked): nothing to compare.
    Unknown,
}

impl Listing {
    /// Listed (true), not found (false), or no such answer.
    pub fn listed(&self) -> Option<bool> {
        match self {
            Listing::Versions(_) => Some(true),
            Listing::NotFound(_) => Some(false),
            Listing::Unknown => None,
        }
    }
}

/// One module as one proxy serves it, against the union.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ModuleFreshness {
    pub module: String,
    /// Versions this proxy lists (None: it gave no list).
    pub versions: Option<usize>,
    /// Versions other proxies list and this one lacks, oldest first (None: unknown).
    pub missing: Option<Vec<String>>,
    /// 404/410 although every other proxy that answered lists versions.
    pub gone: bool,
}

/// `listings[p][m]`: proxy p, sample m. Returns the same shape.
pub fn compare(samples: &[Sample], listings: &[Vec<Listing>]) -> Vec<Vec<ModuleFreshness>> {
    let unions: Vec<BTreeSet<&str>> = (0..samples.len())
        .map(|m| {
            listings
                .iter()
                .filter_map(|row| match row.get(m) {
                    Some(Listing::Versions(v)) => Some(v.iter().map(String::as_str)),
                    _ => None,
                })
                .flatten()
                .collect()
        })
        .collect();
    listings
        .iter()
        .enumerate()
        .map(|(p, row)| {
            samples
                .iter()
                .enumerate()
                .map(|(m, sample)| {
                    let union = &unions[m];
                    let (versions, missing, gone) = match row.get(m) {
                        Some(Listing::Versions(v)) => {
                            let own: BTreeSet<&str> = v.iter().map(String::as_str).collect();
                            let lacking = union.iter().filter(|u| !own.contains(*u));
                            (Some(own.len()), Some(sorted(lacking.copied())), false)
                        }
                        Some(Listing::NotFound(_)) => {
                            let gone = sample.source.condemns()
                                && !union.is_empty()
                                && others_all_list(listings, p, m);
                            (None, Some(sorted(union.iter().copied())), gone)
                        }
                        _ => (None, None, false),
                    };
                    ModuleFreshness {
                        module: sample.module.clone(),
                        versions,
                        missing,
                        gone,
                    }
                })
                .collect()
        })
        .collect()
}

/// Every other proxy that answered definitively (a list or 404/410) listed
/// versions of module `m`: the seed article's "every other mirror has it".
fn others_all_list(listings: &[Vec<Listing>], p: usize, m: usize) -> bool {
    listings
        .iter()
        .enumerate()
        .filter(|(q, _)| *q != p)
        .filter_map(|(_, row)| row.get(m))
        .all(|l| !matches!(l, Listing::NotFound(_)))
}

/// The versions in an `@v/list` body: one per line, anything odd skipped.
pub fn parse_list(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with('v')
                && l.len() <= 128
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-+".contains(&b))
        })
        .map(str::to_string)
        .collect();
    out.sort_by(|a, b| semver_cmp(a, b));
    out.dedup();
    out
}

fn sorted<'a>(versions: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = versions.map(str::to_string).collect();
    v.sort_by(|a, b| semver_cmp(a, b));
    v
}

/// Semantic version order (`v1.2.3-pre` before `v1.2.3`), text order for the rest.
pub fn semver_cmp(a: &str, b: &str) -> Ordering {
    fn key(v: &str) -> Option<(Vec<u64>, bool, &str)> {
        let v = v.strip_prefix('v')?;
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, p),
            None => (v, ""),
        };
        let nums = core
            .split('.')
            .map(|n| n.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        Some((nums, pre.is_empty(), pre))
    }
    match (key(a), key(b)) {
        (Some((na, ra, pa)), Some((nb, rb, pb))) => na
            .cmp(&nb)
            .then(ra.cmp(&rb))
            .then_with(|| pa.cmp(pb))
            .then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::samples::Source;

    fn vs(list: &[&str]) -> Listing {
        Listing::Versions(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn reports_missing_versions_and_dead_mirrors() {
        let sample = |module: &str, source| Sample {
            module: module.into(),
            source,
        };
        let modules = [
            sample("example.com/a", Source::ProbeModule),
            sample("example.com/b", Source::DoctorModules),
        ];
        let listings = vec![
            vec![vs(&["v1.0.0", "v1.1.0", "v1.2.0"]), vs(&["v0.1.0"])],
            vec![vs(&["v1.0.0"]), Listing::Unknown],
            vec![Listing::NotFound(410), Listing::NotFound(404)],
        ];
        let r = compare(&modules, &listings);
        assert_eq!(r[0][0].missing, Some(vec![]));
        assert_eq!(
            r[1][0].missing,
            Some(vec!["v1.1.0".to_string(), "v1.2.0".to_string()])
        );
        assert_eq!(r[1][1].missing, None);
        assert!(r[2][0].gone && r[2][1].gone);
        assert_eq!(r[2][0].missing.as_ref().unwrap().len(), 3);
        // Two proxies without it: neither is "every other has it".
        let r = compare(
            &modules[..1],
            &[
                vec![vs(&["v1.0.0"])],
                vec![Listing::NotFound(404)],
                vec![Listing::NotFound(410)],
            ],
        );
        assert!(!r[1][0].gone && !r[2][0].gone);
        // Nobody has it: a 404 is an honest answer.
        let r = compare(&modules[..1], &[vec![Listing::NotFound(404)]]);
        assert!(!r[0][0].gone);
        // The user's own requirement: a public mirror rightly lacks it.
        let own = [sample("corp.example/lib", Source::GoMod)];
        let r = compare(&own, &[vec![vs(&["v1.0.0"])], vec![Listing::NotFound(404)]]);
        assert!(!r[1][0].gone);
        assert_eq!(r[1][0].missing, Some(vec!["v1.0.0".to_string()]));
    }

    #[test]
    fn parses_and_orders_lists() {
        let body = b"v1.10.0\nv1.2.0\n\nv1.2.0-rc.1\ngarbage line\nv1.2.0\r\n";
        assert_eq!(parse_list(body), ["v1.2.0-rc.1", "v1.2.0", "v1.10.0"]);
    }
}

//! What a GOPROXY-protocol request asks for.

use crate::go::module_path;

/// A request path relative to the relay's token prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `<module>/@v/list|<v>.info|<v>.mod|<v>.zip` or `<module>/@latest`.
    Module {
        path: String,
        zip: bool,
    },
    /// `sumdb/<name>/supported`.
    SumdbSupported {
        name: String,
    },
    /// `sumdb/<name>/lookup/...` or `sumdb/<name>/tile/...`.
    Sumdb {
        name: String,
    },
    Unknown,
}

pub fn parse(rel: &str) -> Route {
    if let Some(rest) = rel.strip_prefix("sumdb/") {
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if name.is_empty() {
            return Route::Unknown;
        }
        return if tail == "supported" {
            Route::SumdbSupported { name: name.into() }
        } else {
            Route::Sumdb { name: name.into() }
        };
    }
    let escaped = if let Some(i) = rel.find("/@v/") {
        &rel[..i]
    } else if let Some(p) = rel.strip_suffix("/@latest") {
        p
    } else {
        return Route::Unknown;
    };
    match module_path::unescape(escaped) {
        Some(path) if !path.is_empty() => Route::Module {
            path,
            zip: rel.ends_with(".zip"),
        },
        _ => Route::Unknown,
    }
}

/// `(module path, version)` of a checksum-database lookup,
/// `sumdb/<name>/lookup/<escaped path>@<escaped version>`.
pub fn lookup(rel: &str) -> Option<(String, String)> {
    let (_, tail) = rel.strip_prefix("sumdb/")?.split_once("/lookup/")?;
    let (path, version) = tail.rsplit_once('@')?;
    Some((
        module_path::unescape(path)?,
        module_path::unescape(version)?,
    ))
}

/// The length of a checksum-database hash tile, which its path fixes:
/// `sumdb/<name>/tile/<H>/<L>/<NNN>[.p/<W>]` holds W (else 2^H) hashes of 32
/// bytes. None for any other path (data tiles vary in length).
pub fn hash_tile_len(rel: &str) -> Option<u64> {
    let (_, tile) = rel.strip_prefix("sumdb/")?.split_once("/tile/")?;
    let mut parts = tile.split('/');
    let height: u32 = parts
        .next()?
        .parse()
        .ok()
        .filter(|h| (1..=30).contains(h))?;
    parts.next()?.parse::<u32>().ok()?; // a level number; not "data"
    let width = match tile.rsplit_once(".p/") {
        Some((_, w)) => w.parse().ok()?,
        None => 1u64 << height,
    };
    Some(width * 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_protocol_paths() {
        assert_eq!(
            parse("github.com/!burnt!sushi/toml/@v/v1.0.0.zip"),
            Route::Module {
                path: "github.com/BurntSushi/toml".into(),
                zip: true
            }
        );
        assert_eq!(
            parse("example.com/m/@latest"),
            Route::Module {
                path: "example.com/m".into(),
                zip: false
            }
        );
        assert_eq!(
            parse("sumdb/sum.golang.org/supported"),
            Route::SumdbSupported {
                name: "sum.golang.org".into()
            }
        );
        assert_eq!(
            parse("sumdb/sum.golang.org/tile/8/0/001"),
            Route::Sumdb {
                name: "sum.golang.org".into()
            }
        );
        assert_eq!(parse("favicon.ico"), Route::Unknown);
        assert_eq!(parse("Bad/@v/list"), Route::Unknown);
    }

    #[test]
    fn reads_lookups() {
        assert_eq!(
            lookup("sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.0.0-!r!c1"),
            Some(("github.com/BurntSushi/toml".into(), "v1.0.0-RC1".into()))
        );
        assert_eq!(lookup("sumdb/sum.golang.org/tile/8/0/001"), None);
        assert_eq!(lookup("example.com/x/@v/v1.0.0.mod"), None);
    }

    #[test]
    fn hash_tiles_have_the_length_their_path_says() {
        assert_eq!(
            hash_tile_len("sumdb/sum.golang.org/tile/8/0/001"),
            Some(8192)
        );
        assert_eq!(
            hash_tile_len("sumdb/s.example/tile/8/1/x002/345.p/3"),
            Some(96)
        );
        assert_eq!(
            hash_tile_len("sumdb/sum.golang.org/tile/8/data/001.p/5"),
            None
        );
        assert_eq!(hash_tile_len("sumdb/sum.golang.org/lookup/m@v1.0.0"), None);
        assert_eq!(hash_tile_len("example.com/tile/8/0/@v/list"), None);
    }
}

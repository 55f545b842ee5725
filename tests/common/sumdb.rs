//! `SumDb`: the server side of Go's checksum database (sum.golang.org), for
//! tests that run go with verification on.
//!
//! An independent implementation of the formats in golang.org/x/mod/sumdb
//! (`note`, `tlog`, `dirhash`, `server.go`); the real go is the arbiter:
//! - records: `"<mod> <ver> h1:<zip hash>\n<mod> <ver>/go.mod h1:<go.mod hash>\n"`,
//!   one per module version, in the order added (ids 0, 1, ...);
//! - an RFC 6962 Merkle tree over them: leaf = SHA-256(0x00||record),
//!   node = SHA-256(0x01||left||right);
//! - tiles of height 8: `tile/8/<L>/<NNN>[.p/<W>]` (W hashes of level 8L) and
//!   `tile/8/data/<NNN>[.p/<W>]` (W records, each followed by a blank line);
//! - the signed tree head `go.sum database tree\n<N>\n<base64 root>\n`, then a
//!   blank line and `— <name> <base64(key hash||Ed25519 signature)>\n`;
//! - `lookup/<mod>@<ver>`: `<id>\n<record>\n<signed tree head>`.
//!
//! The key is derived from the name, so a database is the same bytes in every
//! run. [`SumDb::lying`] gives copies that misbehave in one way each.
//!
//! ```ignore
//! let db = SumDb::from_tree(SUMDB_NAME, &tree);
//! let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
//! world.verify_with(&db); // GOSUMDB=<verifier key>
//! ```

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::digest::{Context, SHA256, digest};
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::modtree::{ModTree, escape_module_path};

/// A name that resolves nowhere (`.test` is reserved), so that go can only
/// reach the database through GOPROXY, never at its direct `https://<name>`.
pub const SUMDB_NAME: &str = "sum.goshim.test";

/// Tile height, as go's client uses (and sum.golang.org serves).
const HEIGHT: u32 = 8;
const TILE_WIDTH: u64 = 1 << HEIGHT;

type Hash = [u8; 32];

/// Ways a database can misbehave (see [`SumDb::lying`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// The tree head carries no signature line.
    UnsignedHead,
    /// The tree head is signed with another key under the same name.
    ForeignKey,
    /// Every hash tile has one byte flipped (the tree head is honest).
    WrongTiles,
}

/// A checksum database; see the module docs.
#[derive(Clone)]
pub struct SumDb {
    name: String,
    key: Arc<Ed25519KeyPair>,
    /// `(module path, version, record text)`, id = index.
    records: Vec<(String, String, String)>,
    /// Leaf hashes of the records.
    leaves: Vec<Hash>,
    lie: Option<Lie>,
}

/// `example.com/big` ([`super::modtree::big_module`]), its zip, and a
/// database (named [`SUMDB_NAME`]) holding it.
pub fn big_module_with_db(bytes: usize) -> (ModTree, Vec<u8>, SumDb) {
    let (tree, zip) = super::modtree::big_module(bytes);
    let m = &tree.modules[0];
    let mut db = SumDb::new(SUMDB_NAME);
    db.add(&m.path, m.latest(), &zip, &m.go_mod());
    (tree, zip, db)
}

impl SumDb {
    /// An empty database called `name`.
    pub fn new(name: &str) -> SumDb {
        SumDb {
            name: name.to_string(),
            key: Arc::new(key_pair(name, "")),
            records: Vec::new(),
            leaves: Vec::new(),
            lie: None,
        }
    }

    /// A database holding every version of every module of `tree`.
    pub fn from_tree(name: &str, tree: &ModTree) -> SumDb {
        let mut db = SumDb::new(name);
        db.add_tree(tree);
        db
    }

    /// Adds every version of every module of `tree`.
    pub fn add_tree(&mut self, tree: &ModTree) {
        for m in &tree.modules {
            for v in &m.versions {
                self.add(&m.path, v, &m.zip(v), &m.go_mod());
            }
        }
    }

    /// Adds the record of `path@version` whose module zip is `zip` (stored
    /// entries only, as [`super::zip::store_zip`] writes) and go.mod is `go_mod`.
    pub fn add(&mut self, path: &str, version: &str, zip: &[u8], go_mod: &str) {
        let zip_hash = hash1(&stored_entries(zip));
        let mod_hash = hash1(&[("go.mod".to_string(), go_mod.as_bytes().to_vec())]);
        let text = format!("{path} {version} {zip_hash}\n{path} {version}/go.mod {mod_hash}\n");
        self.leaves.push(record_hash(text.as_bytes()));
        self.records
            .push((path.to_string(), version.to_string(), text));
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key, `<name>+<hash8hex>+<base64(0x01||pubkey)>`: the
    /// value of GOSUMDB.
    pub fn verifier_key(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_hash(),
            B64.encode(self.alg_key())
        )
    }

    /// The go.sum lines of `path@version` (zip line, then go.mod line).
    pub fn go_sum_lines(&self, path: &str, version: &str) -> Vec<String> {
        self.records
            .iter()
            .find(|(p, v, _)| p == path && v == version)
            .map(|(_, _, text)| text.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// A copy of this database that misbehaves as `lie` says.
    pub fn lying(&self, lie: Lie) -> SumDb {
        let mut db = self.clone();
        if lie == Lie::ForeignKey {
            db.key = Arc::new(key_pair(&self.name, "foreign"));
        }
        db.lie = Some(lie);
        db
    }

    /// The answer to `rest`, the path after `/sumdb/<name>/` (`latest`,
    /// `lookup/...`, `tile/...`); None for 404. `supported` is the proxy's.
    pub fn serve(&self, rest: &str) -> Option<Vec<u8>> {
        if rest == "latest" {
            return Some(self.signed_head());
        }
        if let Some(modver) = rest.strip_prefix("lookup/") {
            let id = self.records.iter().position(|(p, v, _)| {
                // Versions are escaped like paths (upper case → '!' + lower).
                format!("{}@{}", escape_module_path(p), escape_module_path(v)) == modver
            })?;
            let mut out = format!("{id}\n{}\n", self.records[id].2).into_bytes();
            out.extend(self.signed_head());
            return Some(out);
        }
        let (level, n, width) = parse_tile(rest.strip_prefix("tile/")?)?;
        let first = n.checked_mul(TILE_WIDTH).filter(|f| *f < 1 << 40)?;
        match level {
            None => {
                let end = usize::try_from(first + width).ok()?;
                let records = self.records.get(first as usize..end)?;
                Some(
                    records
                        .iter()
                        .flat_map(|r| format!("{}\n", r.2).into_bytes())
                        .collect(),
                )
            }
            Some(level) => {
                let height = level.checked_mul(HEIGHT).filter(|&h| h < 32)?;
                // Only hashes of complete subtrees exist.
                if ((first + width) << height) > self.leaves.len() as u64 {
                    return None;
                }
                let mut out: Vec<u8> = (first..first + width)
                    .flat_map(|i| {
                        let lo = (i << height) as usize;
                        subtree_hash(&self.leaves[lo..lo + (1 << height)])
                    })
                    .collect();
                if self.lie == Some(Lie::WrongTiles) {
                    out[0] ^= 0xff;
                }
                Some(out)
            }
        }
    }

    /// The signed tree head note.
    pub fn signed_head(&self) -> Vec<u8> {
        let root = if self.leaves.is_empty() {
            digest(&SHA256, b"").as_ref().try_into().unwrap()
        } else {
            subtree_hash(&self.leaves)
        };
        let text = format!(
            "go.sum database tree\n{}\n{}\n",
            self.leaves.len(),
            B64.encode(root)
        );
        if self.lie == Some(Lie::UnsignedHead) {
            return format!("{text}\n").into_bytes();
        }
        let mut sig = self.key_hash().to_be_bytes().to_vec();
        sig.extend_from_slice(self.key.sign(text.as_bytes()).as_ref());
        format!("{text}\n— {} {}\n", self.name, B64.encode(sig)).into_bytes()
    }

    /// 0x01 (Ed25519) followed by the public key.
    fn alg_key(&self) -> Vec<u8> {
        let mut key = vec![1u8];
        key.extend_from_slice(self.key.public_key().as_ref());
        key
    }

    /// First 4 bytes, big-endian, of SHA-256(name + "\n" + 0x01 + pubkey).
    /// The foreign key of [`Lie::ForeignKey`] gets its own hash, which go
    /// does not know.
    fn key_hash(&self) -> u32 {
        let mut input = format!("{}\n", self.name).into_bytes();
        input.extend(self.alg_key());
        let sum = digest(&SHA256, &input);
        u32::from_be_bytes(sum.as_ref()[..4].try_into().unwrap())
    }
}

/// An Ed25519 key pair from a seed derived from `name` and `salt`:
/// deterministic, and distinct per name.
fn key_pair(name: &str, salt: &str) -> Ed25519KeyPair {
    let seed = digest(
        &SHA256,
        format!("goshim test sumdb {name} {salt}").as_bytes(),
    );
    Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).expect("a 32-byte seed")
}

/// dirhash.Hash1: SHA-256 over the sorted lines `<sha256 hex>  <name>\n`.
fn hash1(files: &[(String, Vec<u8>)]) -> String {
    let mut files: Vec<&(String, Vec<u8>)> = files.iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Context::new(&SHA256);
    for (name, data) in files {
        let hex: String = digest(&SHA256, data)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        summary.update(format!("{hex}  {name}\n").as_bytes());
    }
    format!("h1:{}", B64.encode(summary.finish()))
}

/// The entries (name, contents) of a zip of stored (uncompressed) entries,
/// read from the local headers.
fn stored_entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([zip[i], zip[i + 1]]));
    let u32_at = |i: usize| u32::from_le_bytes(zip[i..i + 4].try_into().unwrap()) as usize;
    let mut entries = Vec::new();
    let mut at = 0;
    while zip.len() >= at + 30 && u32_at(at) == 0x0403_4b50 {
        assert_eq!(u16_at(at + 8), 0, "only stored zip entries are supported");
        let (size, name_len, extra_len) = (u32_at(at + 18), u16_at(at + 26), u16_at(at + 28));
        let name_at = at + 30;
        let data_at = name_at + name_len + extra_len;
        let name =
            String::from_utf8(zip[name_at..name_at + name_len].to_vec()).expect("UTF-8 name");
        entries.push((name, zip[data_at..data_at + size].to_vec()));
        at = data_at + size;
    }
    entries
}

fn record_hash(data: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x00]);
    ctx.update(data);
    ctx.finish().as_ref().try_into().unwrap()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    ctx.finish().as_ref().try_into().unwrap()
}

/// RFC 6962's Merkle tree hash of `leaves` (not empty): split at the largest
/// power of two below the count.
fn subtree_hash(leaves: &[Hash]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let split = 1 << (leaves.len() - 1).ilog2();
    node_hash(
        &subtree_hash(&leaves[..split]),
        &subtree_hash(&leaves[split..]),
    )
}

/// Parses `8/<L|data>/<x001/…/NNN>[.p/<W>]`: (level, None for data; tile
/// number; width). Only the canonical form go writes is accepted.
fn parse_tile(path: &str) -> Option<(Option<u32>, u64, u64)> {
    let rest = path.strip_prefix("8/")?;
    let (level, rest) = rest.split_once('/')?;
    let level = match level {
        "data" => None,
        l => Some(l.parse::<u32>().ok()?),
    };
    let (number, width) = match rest.split_once(".p/") {
        Some((n, w)) => (
            n,
            w.parse::<u64>()
                .ok()
                .filter(|w| (1..TILE_WIDTH).contains(w))?,
        ),
        None => (rest, TILE_WIDTH),
    };
    let mut n = 0u64;
    let parts: Vec<&str> = number.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let digits = if i + 1 < parts.len() {
            part.strip_prefix('x')?
        } else {
            part
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)? + digits.parse::<u64>().ok()?;
    }
    Some((level, n, width))
}

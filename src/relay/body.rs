//! One response body assembled from one or more upstreams.
//!
//! Bytes are placed by offset: whichever upstream is furthest ahead supplies
//! the next bytes, and bytes that overlap what was already accepted are
//! compared with the recent window (a different body from another mirror is
//! caught, not spliced in). A zip is checked at both ends: it must start like
//! a zip before anything reaches go, and its last chunk is held back until
//! the end-of-central-directory record is seen, so go never receives a
//! truncated or non-zip body as complete. Memory: the window (≈ 64 KiB plus a
//! chunk), shared with the chunks sent, not copied.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::error_class::ErrorClass;

/// EOCD record (22 bytes) plus the longest comment: where a zip's end record
/// must be, and how much of the past is kept to compare overlaps.
const WINDOW: usize = 22 + 65535;

pub struct Splice {
    /// Bytes accepted so far (sent to go, or held back for it).
    pub accepted: u64,
    /// The last accepted chunks, at least WINDOW bytes when there are that many.
    recent: VecDeque<Bytes>,
    recent_len: usize,
    /// Check zip framing (the request was for a `.zip`).
    zip: bool,
    /// A zip's newest chunk, not yet given to go.
    held: Option<Bytes>,
}

impl Splice {
    pub fn new(zip: bool) -> Splice {
        Splice {
            accepted: 0,
            recent: VecDeque::new(),
            recent_len: 0,
            zip,
            held: None,
        }
    }

    pub fn is_zip(&self) -> bool {
        self.zip
    }

    /// Takes `bytes` found at offset `at` of the body. Returns what can go to
    /// go now (if anything), or why this copy of the body cannot be used.
    pub fn offer(&mut self, at: u64, bytes: Bytes) -> Result<Option<Bytes>, ErrorClass> {
        if at > self.accepted {
            return Err(ErrorClass::Mismatch); // a gap: never splice across one
        }
        let end = at + bytes.len() as u64;
        let overlap_end = end.min(self.accepted);
        if at < overlap_end && !self.matches(at, &bytes[..(overlap_end - at) as usize]) {
            return Err(ErrorClass::Mismatch);
        }
        if end <= self.accepted {
            return Ok(None);
        }
        let new = bytes.slice((self.accepted.saturating_sub(at)) as usize..);
        if self.zip && self.accepted == 0 && !starts_like_zip(&new) {
            return Err(ErrorClass::BadZip);
        }
        self.accepted = end;
        self.remember(new.clone());
        Ok(if self.zip {
            self.held.replace(new)
        } else {
            Some(new)
        })
    }

    /// The body is complete: what is still held for go, or BadZip when a zip
    /// does not end like one (then a longer copy may still complete it).
    pub fn finish(&mut self) -> Result<Option<Bytes>, ErrorClass> {
        if !self.zip {
            return Ok(None);
        }
        let tail: Vec<u8> = self.recent.iter().flat_map(|b| b.iter().copied()).collect();
        if !ends_like_zip(&tail) {
            return Err(ErrorClass::BadZip);
        }
        Ok(self.held.take())
    }

    fn remember(&mut self, chunk: Bytes) {
        self.recent_len += chunk.len();
        self.recent.push_back(chunk);
        while self
            .recent
            .front()
            .is_some_and(|f| self.recent_len - f.len() >= WINDOW)
        {
            if let Some(f) = self.recent.pop_front() {
                self.recent_len -= f.len();
            }
        }
    }

    /// Whether `bytes` (at offset `at`, all before `accepted`) agree with the
    /// window where they overlap it; older bytes cannot be checked.
    fn matches(&self, at: u64, bytes: &[u8]) -> bool {
        let window_start = self.accepted - self.recent_len as u64;
        let mut pos = window_start;
        for chunk in &self.recent {
            let (c_start, c_end) = (pos, pos + chunk.len() as u64);
            pos = c_end;
            let (from, to) = (c_start.max(at), c_end.min(at + bytes.len() as u64));
            if from >= to {
                continue;
            }
            let mine = &chunk[(from - c_start) as usize..(to - c_start) as usize];
            let theirs = &bytes[(from - at) as usize..(to - at) as usize];
            if mine != theirs {
                return false;
            }
        }
        true
    }
}

/// A local file header, or the end record of an empty zip (or a prefix of
/// one when the first chunk is tiny).
fn starts_like_zip(first: &[u8]) -> bool {
    let n = first.len().min(4);
    [b"PK\x03\x04", b"PK\x05\x06"]
        .iter()
        .any(|sig| first[..n] == sig[..n])
}

/// An EOCD signature whose comment length reaches exactly to the end.
fn ends_like_zip(tail: &[u8]) -> bool {
    let n = tail.len();
    (0..n.saturating_sub(21)).rev().take(WINDOW).any(|p| {
        tail[p..].starts_with(b"PK\x05\x06")
            && usize::from(u16::from_le_bytes([tail[p + 20], tail[p + 21]])) == n - p - 22
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eocd(comment: &[u8]) -> Vec<u8> {
        let mut r = b"PK\x05\x06".to_vec();
        r.extend_from_slice(&[0; 16]);
        r.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        r.extend_from_slice(comment);
        r
    }

    fn zip_of(len: usize) -> Vec<u8> {
        let mut z = b"PK\x03\x04".to_vec();
        z.extend((0..len).map(|i| (i * 7 % 251) as u8));
        z.extend(eocd(b"c"));
        z
    }

    #[test]
    fn recognises_whole_and_truncated_zips() {
        let whole = zip_of(1000);
        assert!(ends_like_zip(&whole));
        assert!(!ends_like_zip(&whole[..whole.len() - 1]));
        assert!(!ends_like_zip(b"<html>captive portal</html>"));
        assert!(!ends_like_zip(b""));
    }

    #[test]
    fn holds_back_a_zips_last_chunk_until_it_ends_like_one() {
        let z = zip_of(100);
        let mut s = Splice::new(true);
        assert_eq!(s.offer(0, Bytes::copy_from_slice(&z[..50])), Ok(None));
        let first = s.offer(50, Bytes::copy_from_slice(&z[50..])).unwrap();
        assert_eq!(first.as_deref(), Some(&z[..50]));
        assert_eq!(s.finish().unwrap().as_deref(), Some(&z[50..]));
    }

    #[test]
    fn a_truncated_zip_is_completed_by_a_second_copy() {
        let z = zip_of(200_000);
        let mut s = Splice::new(true);
        let mut sent = Vec::new();
        for c in z[..100_000].chunks(16_384) {
            let at = s.accepted;
            sent.extend(
                s.offer(at, Bytes::copy_from_slice(c))
                    .unwrap()
                    .unwrap_or_default(),
            );
        }
        assert_eq!(
            s.finish(),
            Err(ErrorClass::BadZip),
            "half a zip is not complete"
        );
        // A second upstream without Range support sends the whole body again.
        for (k, c) in z.chunks(10_000).enumerate() {
            if let Some(b) = s
                .offer((k * 10_000) as u64, Bytes::copy_from_slice(c))
                .unwrap()
            {
                sent.extend(b);
            }
        }
        sent.extend(s.finish().unwrap().unwrap_or_default());
        assert!(sent == z, "the spliced body is the zip");
    }

    #[test]
    fn a_different_copy_is_refused_and_a_non_zip_never_starts() {
        let mut s = Splice::new(false);
        s.offer(0, Bytes::from_static(b"module a\n")).unwrap();
        assert_eq!(
            s.offer(0, Bytes::from_static(b"module b\n")),
            Err(ErrorClass::Mismatch)
        );
        let mut z = Splice::new(true);
        assert_eq!(
            z.offer(0, Bytes::from_static(b"<html>portal</html>")),
            Err(ErrorClass::BadZip)
        );
        assert_eq!(z.accepted, 0);
    }

    #[test]
    fn keeps_a_bounded_window_over_a_long_body() {
        let mut s = Splice::new(true);
        s.offer(0, Bytes::from_static(b"PK\x03\x04")).unwrap();
        for _ in 0..40 {
            let at = s.accepted;
            s.offer(at, Bytes::from(vec![1u8; 10_000])).unwrap();
        }
        let record = eocd(&[b'c'; 300]);
        let at = s.accepted;
        s.offer(at, Bytes::copy_from_slice(&record)).unwrap();
        assert!(s.recent_len < 2 * WINDOW, "{}", s.recent_len);
        assert!(s.finish().is_ok());
    }
}

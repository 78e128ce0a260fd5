//! Perceptual hashes of JPEG frames, and the cross-contributor replay index.
//!
//! The hash needs only brightness: the JPEG is decoded straight to luma (zune-jpeg
//! skips the chroma upsampling and colour conversion), then hashed with
//! [`crate::phash_luma`].
//!
//! [`ReplayIndex`] finds, among frames already stored from other contributors, one
//! whose hash is within a few bits of a new frame's. It is a multi-index hash: the 64
//! bits are cut into `max_bits + 1` bands, and two hashes within `max_bits` of each
//! other agree exactly on at least one band (pigeonhole), so a lookup only compares
//! the few hashes that share a band instead of the whole store.

use std::collections::HashMap;

use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Decodes a JPEG's luma plane: `(width, height, pixels)`.
pub fn decode_luma(jpeg: &[u8]) -> Option<(usize, usize, Vec<u8>)> {
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut dec = JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(jpeg), opts);
    let pixels = dec.decode().ok()?;
    let (w, h) = dec.dimensions()?;
    (pixels.len() == w * h).then_some((w, h, pixels))
}

/// The pHash of a JPEG, `None` when it does not decode.
pub fn jpeg_phash(jpeg: &[u8]) -> Option<u64> {
    let (w, h, luma) = decode_luma(jpeg)?;
    crate::phash_luma(w, h, &luma)
}

/// A frame another contributor already uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFrame {
    pub contributor: String,
    /// Its frame id.
    pub frame: String,
}

/// Hashes of stored frames, searchable by hamming distance.
#[derive(Debug, Clone)]
pub struct ReplayIndex {
    max_bits: u32,
    max_matches: usize,
    bands: Vec<(u32, u32)>,
    tables: Vec<HashMap<u64, Vec<usize>>>,
    entries: Vec<(u64, KnownFrame)>,
}

/// A replayed frame matches its original and its near-identical neighbours in that drive;
/// a hash that matches more stored frames than this is generic imagery (a blank wall,
/// fog, one backdrop shared by many frames) and proves nothing.
pub const DEFAULT_MAX_MATCHES: usize = 8;

/// A match found in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMatch {
    pub frame: KnownFrame,
    pub distance: u32,
}

impl ReplayIndex {
    /// An empty index that finds hashes within `max_bits` differing bits.
    pub fn new(max_bits: u32) -> Self {
        let n = (max_bits.min(31) + 1) as usize;
        let bands = (0..n)
            .map(|i| {
                let start = (i * 64 / n) as u32;
                let end = ((i + 1) * 64 / n) as u32;
                (start, end - start)
            })
            .collect();
        Self {
            max_bits,
            max_matches: DEFAULT_MAX_MATCHES,
            bands,
            tables: vec![HashMap::new(); n],
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn band(hash: u64, (start, len): (u32, u32)) -> u64 {
        (hash >> start) & ((1u64 << len) - 1)
    }

    pub fn insert(&mut self, hash: u64, frame: KnownFrame) {
        let id = self.entries.len();
        for (t, &b) in self.tables.iter_mut().zip(&self.bands) {
            t.entry(Self::band(hash, b)).or_default().push(id);
        }
        self.entries.push((hash, frame));
    }

    /// The same index, calling a hash generic when it matches more than `n` frames.
    pub fn with_max_matches(mut self, n: usize) -> Self {
        self.max_matches = n;
        self
    }

    /// The closest frame of a contributor other than `contributor` within the
    /// index's distance (ties: the first inserted); `None` when there is none, or when
    /// the hash matches more than the index's `max_matches` frames (generic imagery).
    pub fn find_other(&self, hash: u64, contributor: &str) -> Option<ReplayMatch> {
        let mut best: Option<(u32, usize)> = None;
        let mut matched: Vec<usize> = Vec::new();
        for (t, &b) in self.tables.iter().zip(&self.bands) {
            for &id in t.get(&Self::band(hash, b)).into_iter().flatten() {
                let (h, f) = &self.entries[id];
                if f.contributor == contributor {
                    continue;
                }
                let d = crate::hamming(hash, *h);
                if d > self.max_bits {
                    continue;
                }
                if !matched.contains(&id) {
                    matched.push(id);
                    if matched.len() > self.max_matches {
                        return None;
                    }
                }
                if best.is_none_or(|(bd, bi)| (d, id) < (bd, bi)) {
                    best = Some((d, id));
                }
            }
        }
        best.map(|(distance, id)| ReplayMatch {
            frame: self.entries[id].1.clone(),
            distance,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn known(c: &str, f: &str) -> KnownFrame {
        KnownFrame {
            contributor: c.into(),
            frame: f.into(),
        }
    }

    #[test]
    fn a_hash_matching_many_stored_frames_is_generic_and_not_a_replay() {
        let mut index = ReplayIndex::new(4);
        let known = |k: usize| KnownFrame {
            contributor: "alice".into(),
            frame: format!("f{k}"),
        };
        index.insert(0x0F0F_0F0F_0F0F_0F0F, known(0));
        assert!(index.find_other(0x0F0F_0F0F_0F0F_0F0F, "bob").is_some());
        for k in 1..=DEFAULT_MAX_MATCHES {
            index.insert(0x0F0F_0F0F_0F0F_0F0F ^ (1 << k), known(k));
        }
        assert!(index.find_other(0x0F0F_0F0F_0F0F_0F0F, "bob").is_none());
        let strict = index.clone().with_max_matches(10);
        assert!(strict.find_other(0x0F0F_0F0F_0F0F_0F0F, "bob").is_some());
    }

    proptest! {
        #[test]
        fn the_index_finds_exactly_what_a_linear_scan_finds(
            hashes in proptest::collection::vec(any::<u64>(), 1..40),
            flips in proptest::collection::vec(0u32..64, 0..6),
            pick in any::<prop::sample::Index>(),
        ) {
            let mut idx = ReplayIndex::new(4);
            for (i, h) in hashes.iter().enumerate() {
                idx.insert(*h, known("alice", &i.to_string()));
            }
            let mut q = hashes[pick.index(hashes.len())];
            for f in flips { q ^= 1 << f; }
            let scan = hashes.iter().enumerate()
                .map(|(i, h)| (crate::hamming(q, *h), i))
                .filter(|(d, _)| *d <= 4)
                .min();
            let found = idx.find_other(q, "bob").map(|m| (m.distance, m.frame.frame.parse::<usize>().unwrap()));
            prop_assert_eq!(found, scan);
            prop_assert!(idx.find_other(q, "alice").is_none());
        }
    }
}

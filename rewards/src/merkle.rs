//! A verifiable Merkle root over an epoch's per-contributor totals.
//!
//! Anyone holding the published root of an epoch can check one contributor's total with
//! a short [`Proof`], without seeing the other totals.
//!
//! Encoding (version `streetcomb-rewards-v1`):
//! - leaf bytes: the UTF-8 string `"streetcomb-rewards-v1\n{epoch}\n{contributor}\n{total}"`
//!   (epoch as `2026-W47`, total in decimal without padding);
//! - leaf hash: `sha256(0x00 || leaf_bytes)`;
//! - internal node: `sha256(0x01 || left || right)`; the distinct prefixes keep a leaf
//!   from ever being taken for an internal node (second-preimage protection);
//! - leaves are in contributor-id order, the order of [`EpochRewards::totals`];
//! - an odd node at the end of a level is promoted unchanged to the next level (it is
//!   not hashed with itself, so a proof simply has no sibling for that level);
//! - every contributor in the totals gets a leaf, including those whose total is 0
//!   (e.g. contributors with only excluded frames);
//! - the root of an empty list is `sha256(0x00 || "streetcomb-rewards-v1\n{epoch}\nempty")`.
//!
//! Integer and byte operations only: the root is deterministic.
//!
//! [`EpochRewards::totals`]: crate::EpochRewards::totals

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streetcomb_core::{ContributorId, Epoch};

/// The version tag at the start of every leaf.
pub const DOMAIN: &str = "streetcomb-rewards-v1";

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Which side of the running hash a sibling sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

/// Proof that `contributor` earned `total` in `epoch`, checkable against a root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub epoch: Epoch,
    pub contributor: ContributorId,
    pub total: u64,
    /// The leaf's position in contributor order (informational).
    pub index: usize,
    /// From the leaf up: each sibling hash (lowercase hex) and its side.
    pub siblings: Vec<(Side, String)>,
}

/// The canonical leaf bytes of one contributor's total.
pub fn leaf_bytes(epoch: Epoch, contributor: &ContributorId, total: u64) -> Vec<u8> {
    format!("{DOMAIN}\n{epoch}\n{contributor}\n{total}").into_bytes()
}

/// The leaf hash of one contributor's total, lowercase hex (the `leaf` column of the
/// epoch summary).
pub fn leaf_hash_hex(epoch: Epoch, contributor: &ContributorId, total: u64) -> String {
    hex::encode(hash_leaf(&leaf_bytes(epoch, contributor, total)))
}

fn hash_leaf(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(bytes);
    h.finalize().into()
}

fn hash_node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn leaves(epoch: Epoch, totals: &[(ContributorId, u64)]) -> Vec<[u8; 32]> {
    totals
        .iter()
        .map(|(c, t)| hash_leaf(&leaf_bytes(epoch, c, *t)))
        .collect()
}

fn next_level(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => hash_node(l, r),
            [odd] => *odd,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `totals`, which must be sorted by contributor (as in
/// [`crate::EpochRewards::totals`]).
pub fn merkle_root(epoch: Epoch, totals: &[(ContributorId, u64)]) -> [u8; 32] {
    if totals.is_empty() {
        return hash_leaf(format!("{DOMAIN}\n{epoch}\nempty").as_bytes());
    }
    let mut level = leaves(epoch, totals);
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// The root as lowercase hex.
pub fn merkle_root_hex(epoch: Epoch, totals: &[(ContributorId, u64)]) -> String {
    hex::encode(merkle_root(epoch, totals))
}

/// A proof for `contributor`'s total, or `None` if it has no leaf.
pub fn prove(
    epoch: Epoch,
    totals: &[(ContributorId, u64)],
    contributor: &ContributorId,
) -> Option<Proof> {
    let index = totals.iter().position(|(c, _)| c == contributor)?;
    let total = totals[index].1;
    let mut level = leaves(epoch, totals);
    let mut pos = index;
    let mut siblings = Vec::new();
    while level.len() > 1 {
        if pos % 2 == 1 {
            siblings.push((Side::Left, hex::encode(level[pos - 1])));
        } else if pos + 1 < level.len() {
            siblings.push((Side::Right, hex::encode(level[pos + 1])));
        } // else: the odd last node is promoted unchanged, no sibling at this level.
        level = next_level(&level);
        pos /= 2;
    }
    Some(Proof {
        epoch,
        contributor: contributor.clone(),
        total,
        index,
        siblings,
    })
}

/// Whether `proof` leads from its leaf to `root_hex` (hex, either case).
pub fn verify(proof: &Proof, root_hex: &str) -> bool {
    let Ok(root) = <[u8; 32]>::try_from(hex::decode(root_hex.trim()).unwrap_or_default()) else {
        return false;
    };
    let mut acc = hash_leaf(&leaf_bytes(proof.epoch, &proof.contributor, proof.total));
    for (side, sib) in &proof.siblings {
        let Ok(sib) = <[u8; 32]>::try_from(hex::decode(sib).unwrap_or_default()) else {
            return false;
        };
        acc = match side {
            Side::Left => hash_node(&sib, &acc),
            Side::Right => hash_node(&acc, &sib),
        };
    }
    acc == root
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn epoch() -> Epoch {
        "2026-W47".parse().unwrap()
    }

    #[test]
    fn a_single_leaf_is_its_own_root_and_the_empty_root_is_fixed() {
        let a = ContributorId::new("a").unwrap();
        let totals = vec![(a.clone(), 5)];
        assert_eq!(
            merkle_root(epoch(), &totals),
            hash_leaf(b"streetcomb-rewards-v1\n2026-W47\na\n5")
        );
        assert_eq!(
            merkle_root(epoch(), &[]),
            hash_leaf(b"streetcomb-rewards-v1\n2026-W47\nempty")
        );
        assert!(prove(epoch(), &totals, &a).unwrap().siblings.is_empty());
    }
}

//! Epoch scoring rules, checked against hand-computed expectations.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use streetcomb_core::{
    Camera, CellId, ContributorId, DriveId, Epoch, Frame, FrameFlags, FrameId, LatLon,
};
use streetcomb_rewards::{
    Proof, Rules, Side, merkle_root, merkle_root_hex, prove, score_epoch, verify,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap()
}

fn frame(who: &str, n: usize, lat: f64, at: DateTime<Utc>) -> Frame {
    let pos = LatLon::new(lat, 24.94).unwrap();
    let d = DriveId::new(format!("{who}-d")).unwrap();
    Frame {
        id: FrameId::of(&d, &format!("{n}")).unwrap(),
        drive_id: d,
        contributor: ContributorId::new(who).unwrap(),
        captured_at: at,
        pos,
        heading_deg: 0.0,
        cell: CellId::from_latlon(pos, 11).unwrap(),
        image_key: String::new(),
        content_sha256: String::new(),
        phash: None,
        camera: Camera::default(),
        flags: FrameFlags::default(),
    }
}

fn epoch() -> Epoch {
    "2026-W47".parse().unwrap()
}

fn rules(emission: u64) -> Rules {
    Rules {
        emission,
        ..Rules::default()
    }
}

#[test]
fn two_fresh_cells_split_the_emission_evenly() {
    let frames = vec![
        frame("alice", 0, 60.170, t0()),
        frame("bob", 1, 60.175, t0()),
    ];
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(1000));
    let totals: Vec<(String, u64)> = r.totals.iter().map(|(c, v)| (c.to_string(), *v)).collect();
    assert_eq!(totals, [("alice".to_owned(), 500), ("bob".to_owned(), 500)]);
}

#[test]
fn a_second_pass_one_day_later_earns_a_seventh_of_the_first() {
    // Alice maps a fresh cell; Bob maps it again one day later: weights 1 and 1/7.
    let frames = vec![
        frame("alice", 0, 60.17, t0()),
        frame("bob", 1, 60.17, t0() + Duration::days(1)),
    ];
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(8000));
    let get = |w: &str| r.totals.iter().find(|(c, _)| c.as_str() == w).unwrap().1;
    assert_eq!(get("alice"), 7000);
    assert_eq!(get("bob"), 1000);
}

#[test]
fn a_cell_mapped_just_before_the_epoch_earns_only_what_has_refilled() {
    let f = frame("alice", 0, 60.17, t0());
    let other = frame("bob", 1, 60.20, t0());
    let last: HashMap<CellId, DateTime<Utc>> = [(f.cell, t0() - Duration::hours(84))].into();
    let r = score_epoch(epoch(), &[f, other], &last, &rules(1500));
    // Both cells get 750; each holds a single contribution, so each takes its cell's share
    // whatever its freshness as long as it is positive.
    assert_eq!(r.totals.iter().map(|t| t.1).sum::<u64>(), 1500);
    // A cell mapped at this very moment has zero freshness and earns nothing.
    let g = frame("carol", 2, 60.17, t0());
    let now: HashMap<CellId, DateTime<Utc>> = [(g.cell, t0())].into();
    let r = score_epoch(epoch(), &[g], &now, &rules(1500));
    assert_eq!(r.totals.iter().map(|t| t.1).sum::<u64>(), 0);
}

#[test]
fn flagged_frames_earn_nothing_and_are_listed_with_the_reason() {
    let mut cheat = frame("mallory", 0, 60.17, t0());
    cheat.flags.replay = true;
    let honest = frame("alice", 1, 60.18, t0());
    let r = score_epoch(epoch(), &[cheat, honest], &HashMap::new(), &rules(1000));
    let m: Vec<_> = r
        .ledger
        .iter()
        .filter(|e| e.contributor.as_str() == "mallory")
        .collect();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].amount, m[0].reason.as_str()), (0, "excluded: replay"));
    assert_eq!(
        r.totals.iter().find(|t| t.0.as_str() == "alice").unwrap().1,
        1000
    );
}

#[test]
fn frames_outside_the_epoch_are_ignored_and_reruns_are_identical() {
    let frames = vec![
        frame("alice", 0, 60.17, t0()),
        frame("bob", 1, 60.18, t0() - Duration::days(10)),
    ];
    let a = score_epoch(epoch(), &frames, &HashMap::new(), &rules(999));
    let mut rev = frames.clone();
    rev.reverse();
    let b = score_epoch(epoch(), &rev, &HashMap::new(), &rules(999));
    assert_eq!(a, b);
    assert_eq!(a.totals.len(), 1);
    assert_eq!(a.totals[0].1, 999);
}

fn totals_of(list: &[u64]) -> Vec<(ContributorId, u64)> {
    list.iter()
        .enumerate()
        .map(|(i, t)| (ContributorId::new(format!("c{i:03}")).unwrap(), *t))
        .collect()
}

fn proof_of(totals: &[(ContributorId, u64)], i: usize) -> Proof {
    prove(epoch(), totals, &totals[i].0).unwrap()
}

fn flip_hex_digit(h: &str) -> String {
    let mut b = hex::decode(h).unwrap();
    b[0] ^= 1;
    hex::encode(b)
}

#[test]
fn every_contributors_proof_verifies_against_the_root_for_one_to_nine_contributors() {
    for n in 1..=9u64 {
        let totals = totals_of(&(0..n).map(|i| i * 1000 + 7).collect::<Vec<_>>());
        let root = merkle_root_hex(epoch(), &totals);
        for i in 0..totals.len() {
            let p = proof_of(&totals, i);
            assert_eq!((p.index, p.total), (i, totals[i].1));
            assert!(verify(&p, &root), "n = {n}, i = {i}");
        }
        // A proof is not valid against another epoch's root.
        let other = merkle_root_hex("2026-W48".parse().unwrap(), &totals);
        assert!(!verify(&proof_of(&totals, 0), &other));
    }
}

#[test]
fn a_proof_with_its_total_changed_by_one_does_not_verify() {
    let totals = totals_of(&[10, 20, 30, 40, 50]);
    let root = merkle_root_hex(epoch(), &totals);
    for i in 0..totals.len() {
        let mut up = proof_of(&totals, i);
        up.total += 1;
        assert!(!verify(&up, &root));
        let mut down = proof_of(&totals, i);
        down.total -= 1;
        assert!(!verify(&down, &root));
    }
}

#[test]
fn a_proof_with_another_contributor_does_not_verify() {
    let totals = totals_of(&[10, 10, 10, 10]);
    let root = merkle_root_hex(epoch(), &totals);
    let mut p = proof_of(&totals, 1);
    p.contributor = totals[2].0.clone();
    assert!(!verify(&p, &root));
    p.contributor = ContributorId::new("mallory").unwrap();
    assert!(!verify(&p, &root));
    assert!(prove(epoch(), &totals, &ContributorId::new("mallory").unwrap()).is_none());
}

#[test]
fn a_proof_with_a_sibling_flipped_does_not_verify() {
    let totals = totals_of(&[1, 2, 3, 4, 5, 6, 7]);
    let root = merkle_root_hex(epoch(), &totals);
    for i in 0..totals.len() {
        let p = proof_of(&totals, i);
        assert!(!p.siblings.is_empty());
        for k in 0..p.siblings.len() {
            let mut bits = p.clone();
            bits.siblings[k].1 = flip_hex_digit(&bits.siblings[k].1);
            assert!(!verify(&bits, &root), "hash flip i = {i}, k = {k}");
            let mut side = p.clone();
            side.siblings[k].0 = match side.siblings[k].0 {
                Side::Left => Side::Right,
                Side::Right => Side::Left,
            };
            assert!(!verify(&side, &root), "side flip i = {i}, k = {k}");
        }
        let mut dropped = p.clone();
        dropped.siblings.pop();
        assert!(!verify(&dropped, &root));
    }
    assert!(!verify(&proof_of(&totals, 0), "not hex"));
}

#[test]
fn the_root_changes_when_any_total_changes() {
    let base = [0, 5, 500, 5, 123_456_789, 1, 9];
    let totals = totals_of(&base);
    let root = merkle_root(epoch(), &totals);
    for i in 0..base.len() {
        let mut changed = base;
        changed[i] += 1;
        assert_ne!(merkle_root(epoch(), &totals_of(&changed)), root, "i = {i}");
    }
    // Dropping a zero-total contributor changes it too: every contributor has a leaf.
    assert_ne!(merkle_root(epoch(), &totals[1..]), root);
    assert_ne!(merkle_root(epoch(), &[]), root);
}

#[test]
fn the_root_is_independent_of_the_input_order_of_frames() {
    let mut cheat = frame("mallory", 9, 60.19, t0());
    cheat.flags.replay = true;
    let frames = vec![
        frame("alice", 0, 60.17, t0()),
        frame("bob", 1, 60.17, t0() + Duration::days(1)),
        frame("carol", 2, 60.18, t0() + Duration::hours(3)),
        frame("dave", 3, 60.20, t0() + Duration::hours(5)),
        cheat,
    ];
    let a = score_epoch(epoch(), &frames, &HashMap::new(), &rules(10_000));
    let mut rev = frames.clone();
    rev.reverse();
    let b = score_epoch(epoch(), &rev, &HashMap::new(), &rules(10_000));
    assert_eq!(a.root_hex(), b.root_hex());
    assert_eq!(a.root(), merkle_root(epoch(), &a.totals));
    // The zero-total, excluded contributor has a leaf and a valid proof.
    let m = ContributorId::new("mallory").unwrap();
    let p = a.prove(&m).unwrap();
    assert_eq!(p.total, 0);
    assert!(verify(&p, &a.root_hex()));
}

proptest! {
    #[test]
    fn for_random_totals_all_proofs_verify_and_a_tampered_total_never_does(
        list in proptest::collection::vec(0u64..u64::MAX, 1..40),
        delta in 1u64..1000,
    ) {
        let totals = totals_of(&list);
        let root = merkle_root_hex(epoch(), &totals);
        for i in 0..totals.len() {
            let p = proof_of(&totals, i);
            prop_assert!(verify(&p, &root));
            let mut bad = p.clone();
            bad.total = bad.total.wrapping_add(delta);
            prop_assert!(!verify(&bad, &root));
        }
    }
}

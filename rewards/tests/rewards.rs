//! Epoch scoring rules, checked against hand-computed expectations.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use streetcomb_core::testing::{FrameBuilder, default_time};
use streetcomb_core::{CellId, ContributorId, Epoch, Frame, FrameFlags, LatLon};
use streetcomb_rewards::{
    Proof, Rules, Side, merkle_root, merkle_root_hex, prove, score_epoch, verify,
};

fn t0() -> DateTime<Utc> {
    default_time()
}

fn frame(who: &str, n: usize, lat: f64, at: DateTime<Utc>) -> Frame {
    FrameBuilder::new()
        .drive(format!("{who}-d"))
        .stem(n)
        .contributor(who)
        .at(at)
        .pos(LatLon::new(lat, 24.94).unwrap())
        .build()
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
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(1000)).unwrap();
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
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(8000)).unwrap();
    let get = |w: &str| r.totals.iter().find(|(c, _)| c.as_str() == w).unwrap().1;
    assert_eq!(get("alice"), 7000);
    assert_eq!(get("bob"), 1000);
}

#[test]
fn a_cell_mapped_just_before_the_epoch_earns_only_what_has_refilled() {
    let f = frame("alice", 0, 60.17, t0());
    let other = frame("bob", 1, 60.20, t0());
    let last: HashMap<CellId, DateTime<Utc>> = [(f.cell, t0() - Duration::hours(84))].into();
    let r = score_epoch(epoch(), &[f, other], &last, &rules(1500)).unwrap();
    // Alice's cell has refilled half way (84 h of 7 days): worth 0.5 against Bob's 1.
    assert_eq!(r.total_of("alice"), 500);
    assert_eq!(r.total_of("bob"), 1000);
    // A cell mapped at this very moment has zero freshness and earns nothing.
    let g = frame("carol", 2, 60.17, t0());
    let now: HashMap<CellId, DateTime<Utc>> = [(g.cell, t0())].into();
    let r = score_epoch(epoch(), &[g], &now, &rules(1500)).unwrap();
    assert_eq!(r.totals.iter().map(|t| t.1).sum::<u64>(), 0);
    assert_eq!(r.unallocated, 1500);
}

#[test]
fn flagged_frames_earn_nothing_and_are_listed_with_the_reason() {
    let mut cheat = frame("mallory", 0, 60.17, t0());
    cheat.flags.replay = true;
    let honest = frame("alice", 1, 60.18, t0());
    let r = score_epoch(epoch(), &[cheat, honest], &HashMap::new(), &rules(1000)).unwrap();
    let m: Vec<_> = r
        .ledger
        .iter()
        .filter(|e| e.contributor.as_str() == "mallory")
        .collect();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].amount, m[0].reason.as_str()), (0, "fraud:replay"));
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
    let a = score_epoch(epoch(), &frames, &HashMap::new(), &rules(999)).unwrap();
    let mut rev = frames.clone();
    rev.reverse();
    let b = score_epoch(epoch(), &rev, &HashMap::new(), &rules(999)).unwrap();
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
    let a = score_epoch(epoch(), &frames, &HashMap::new(), &rules(10_000)).unwrap();
    let mut rev = frames.clone();
    rev.reverse();
    let b = score_epoch(epoch(), &rev, &HashMap::new(), &rules(10_000)).unwrap();
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

// ---- the rules, one by one ---------------------------------------------------------

use std::collections::BTreeMap;
use streetcomb_rewards::{Bounty, Fleet, Region, score_frames};

fn id(s: &str) -> ContributorId {
    ContributorId::new(s).unwrap()
}

#[test]
fn captures_within_the_share_window_split_the_cell_and_a_later_one_finds_it_empty() {
    let frames = vec![
        frame("alice", 0, 60.17, t0()),
        frame("bob", 1, 60.17, t0() + Duration::seconds(30)),
        frame("carol", 2, 60.17, t0() + Duration::minutes(2)),
    ];
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(1000)).unwrap();
    assert_eq!(r.total_of("alice"), 500);
    assert_eq!(r.total_of("bob"), 500);
    // Two minutes of refill out of seven days is worth 0.2 units: rounds to nothing,
    // but Carol's capture is listed.
    assert_eq!(r.total_of("carol"), 0);
    assert!(
        r.ledger
            .iter()
            .any(|e| e.contributor.as_str() == "carol" && e.reason == "earned")
    );
    assert_eq!(r.unallocated, 0);
}

#[test]
fn a_contributor_returning_after_the_visit_gap_earns_the_refilled_freshness_again() {
    let frames = vec![
        frame("alice", 0, 60.17, t0()),
        // Same visit: five minutes later, within the 10-minute visit gap.
        frame("alice", 1, 60.17, t0() + Duration::minutes(5)),
        // A new visit a day later: the cell has refilled 1/7.
        frame("alice", 2, 60.17, t0() + Duration::days(1)),
        frame("bob", 3, 60.18, t0()),
    ];
    // Points: Alice 1_000_000 + 142_857, Bob 1_000_000: one base unit per point.
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(2_142_857)).unwrap();
    assert_eq!(r.total_of("alice"), 1_142_857);
    assert_eq!(r.total_of("bob"), 1_000_000);
}

#[test]
fn low_quality_frames_earn_nothing_are_listed_and_do_not_use_up_the_cell() {
    let mut far = frame("alice", 0, 60.17, t0());
    far.flags.interpolated_far = true;
    let unpublished = frame("carol", 1, 60.17, t0() + Duration::seconds(1));
    let bob = frame("bob", 2, 60.17, t0() + Duration::hours(1));
    let r = score_frames(
        epoch(),
        [(&far, true), (&unpublished, false), (&bob, true)],
        &HashMap::new(),
        &BTreeMap::new(),
        &rules(1000),
    )
    .unwrap();
    let reason_of = |w: &str| {
        r.ledger
            .iter()
            .find(|e| e.contributor.as_str() == w)
            .map(|e| (e.amount, e.reason.clone()))
            .unwrap()
    };
    assert_eq!(
        reason_of("alice"),
        (0, "quality:interpolated_far".to_owned())
    );
    assert_eq!(reason_of("carol"), (0, "quality:unpublished".to_owned()));
    // Bob finds the cell fully fresh: the gated captures did not map it.
    assert_eq!(r.total_of("bob"), 1000);
    // Quality problems are not fraud: reputation still rises.
    let alice = r
        .summary
        .iter()
        .find(|s| s.contributor.as_str() == "alice")
        .unwrap();
    assert_eq!((alice.reputation, alice.status), (600, "paid"));
}

fn square(lat0: f64, lat1: f64) -> Vec<[f64; 2]> {
    vec![[24.9, lat0], [25.0, lat0], [25.0, lat1], [24.9, lat1]]
}

fn region(name: &str, road_m: u64, lat0: f64, lat1: f64) -> Region {
    Region {
        name: name.into(),
        road_m: Some(road_m),
        polygon: square(lat0, lat1),
        cells: vec![],
    }
}

#[test]
fn regions_that_earned_share_the_emission_by_road_length() {
    let mut rules = rules(4000);
    rules.regions = vec![
        region("north", 3000, 60.18, 60.19),
        region("south", 1000, 60.16, 60.179),
        // Nobody drove here: it takes no share.
        region("east", 1_000_000, 61.0, 61.1),
    ];
    let frames = vec![
        frame("alice", 0, 60.185, t0()),
        frame("bob", 1, 60.170, t0()),
        frame("carol", 2, 60.175, t0()),
        frame("dave", 3, 60.250, t0()),
    ];
    let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules).unwrap();
    assert_eq!(r.total_of("alice"), 3000);
    assert_eq!(r.total_of("bob"), 500);
    assert_eq!(r.total_of("carol"), 500);
    let dave: Vec<_> = r
        .ledger
        .iter()
        .filter(|e| e.contributor.as_str() == "dave")
        .collect();
    assert_eq!(
        (dave[0].amount, dave[0].reason.as_str()),
        (0, "outside_regions")
    );
    // A region without a road length is an error naming it.
    let mut bad = rules.clone();
    bad.regions[1].road_m = None;
    let e = score_epoch(epoch(), &frames, &HashMap::new(), &bad).unwrap_err();
    assert!(e.to_string().contains("south"), "{e}");
}

#[test]
fn a_fleet_owner_takes_its_percentage_rounded_down_and_no_unit_is_lost() {
    let mut rules = rules(1001);
    rules.fleets = vec![Fleet {
        owner: id("acme"),
        owner_percent: 30,
        drivers: vec![id("alice")],
    }];
    let r = score_epoch(
        epoch(),
        &[frame("alice", 0, 60.17, t0())],
        &HashMap::new(),
        &rules,
    )
    .unwrap();
    assert_eq!(r.total_of("acme"), 300);
    assert_eq!(r.total_of("alice"), 701);
    let owner_row = r
        .ledger
        .iter()
        .find(|e| e.contributor.as_str() == "acme")
        .unwrap();
    assert_eq!(owner_row.reason, "fleet_share");
}

fn bounty(cells: Vec<CellId>, start: DateTime<Utc>, end: DateTime<Utc>) -> Bounty {
    Bounty {
        id: "b1".into(),
        sponsor: id("city"),
        amount: 777,
        start,
        end,
        cells,
    }
}

#[test]
fn a_bounty_pays_the_first_valid_capture_in_its_area_and_window() {
    let alice = frame("alice", 0, 60.17, t0() + Duration::hours(2));
    let bob = frame("bob", 1, 60.17, t0() + Duration::hours(3));
    let mut mallory = frame("mallory", 2, 60.17, t0() + Duration::hours(1));
    mallory.flags.jump = true;
    // The area is the resolution-9 parent of their cell.
    let area = alice.cell.parent(9).unwrap();
    let mut rules = rules(1000);
    rules.bounties = vec![bounty(vec![area], t0(), t0() + Duration::days(2))];
    let r = score_epoch(epoch(), &[alice, bob, mallory], &HashMap::new(), &rules).unwrap();
    let b: Vec<_> = r
        .ledger
        .iter()
        .filter(|e| e.reason.starts_with("bounty"))
        .collect();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].contributor.as_str(), b[0].amount, b[0].reason.as_str()),
        ("alice", 777, "bounty:b1")
    );
    // Coverage: Alice took the fresh cell (weight 1); Bob came an hour later, when
    // 1/168 had refilled: 1000 * 168/169 = 994.08 -> 994, Bob 5.92 -> 6.
    assert_eq!(r.total_of("alice"), 994 + 777);
    assert_eq!(r.total_of("bob"), 6);
    assert_eq!(r.total_of("mallory"), 0);
}

#[test]
fn an_unclaimed_bounty_is_refunded_in_the_epoch_where_its_window_ends() {
    let alice = frame("alice", 0, 60.17, t0());
    let elsewhere = CellId::from_latlon(LatLon::new(60.30, 24.94).unwrap(), 11).unwrap();
    let mut rules = rules(1000);
    rules.bounties = vec![bounty(vec![elsewhere], t0(), t0() + Duration::days(3))];
    let r = score_epoch(
        epoch(),
        std::slice::from_ref(&alice),
        &HashMap::new(),
        &rules,
    )
    .unwrap();
    let refund = r
        .ledger
        .iter()
        .find(|e| e.contributor.as_str() == "city")
        .unwrap();
    assert_eq!(
        (refund.amount, refund.reason.as_str(), refund.cell),
        (777, "bounty_refund:b1", elsewhere)
    );
    // A window ending next week is not settled now.
    rules.bounties[0].end = t0() + Duration::days(10);
    let r = score_epoch(epoch(), &[alice], &HashMap::new(), &rules).unwrap();
    assert!(r.ledger.iter().all(|e| !e.reason.starts_with("bounty")));
}

#[test]
fn reputation_rises_with_clean_epochs_and_a_flagged_contributor_is_held() {
    let mut m1 = frame("mallory", 0, 60.19, t0());
    m1.flags.replay = true;
    let m2 = frame("mallory", 1, 60.20, t0());
    let frames = [
        frame("alice", 2, 60.17, t0()),
        frame("bob", 3, 60.18, t0()),
        m1,
        m2,
    ];
    let prev: BTreeMap<ContributorId, u32> = [(id("alice"), 950)].into();
    let r = score_frames(
        epoch(),
        frames.iter().map(|f| (f, true)),
        &HashMap::new(),
        &prev,
        &rules(3000),
    )
    .unwrap();
    let s = |w: &str| {
        let row = r
            .summary
            .iter()
            .find(|s| s.contributor.as_str() == w)
            .unwrap();
        (row.reputation, row.status)
    };
    assert_eq!(s("alice"), (1000, "paid"));
    assert_eq!(s("bob"), (600, "paid"));
    // Half of Mallory's frames flagged: 500 - (200 + 800 / 2) = 0, held.
    assert_eq!(s("mallory"), (0, "held"));
    // Held amounts stay in the ledger and the tree: the emission is accounted for.
    assert_eq!(r.totals.iter().map(|t| t.1).sum::<u64>(), 3000);
    let leaf = &r.summary[0].leaf;
    assert_eq!(leaf.len(), 64);
}

#[test]
fn the_example_rules_file_parses_and_validates() {
    let r = Rules::from_toml(
        include_str!("../../config/rewards.toml"),
        "config/rewards.toml",
    )
    .unwrap();
    assert_eq!(r.regions.len(), 2);
    assert_eq!(r.fleets[0].owner_percent, 30);
    assert_eq!(r.bounties[0].cells[0].resolution(), 9);
}

// ---- properties --------------------------------------------------------------------

fn arb_frames() -> impl Strategy<Value = Vec<Frame>> {
    proptest::collection::vec((0usize..6, 0u32..8, 0i64..7 * 86_400, 0u8..12), 1..40).prop_map(
        |v| {
            v.into_iter()
                .enumerate()
                .map(|(n, (who, cell, secs, flag))| {
                    let mut f = frame(
                        &format!("c{who}"),
                        n,
                        60.10 + f64::from(cell) * 0.01,
                        t0() - Duration::hours(8) + Duration::seconds(secs),
                    );
                    f.flags.replay = flag == 0;
                    f.flags.jump = flag == 1;
                    f.flags.interpolated_far = flag == 2;
                    f
                })
                .collect()
        },
    )
}

fn fleet_rules(emission: u64) -> Rules {
    let mut r = rules(emission);
    r.fleets = vec![Fleet {
        owner: id("owner"),
        owner_percent: 37,
        drivers: vec![id("c1"), id("c2")],
    }];
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_emission_is_conserved_exactly(frames in arb_frames(), emission in 0u64..u64::MAX / 2) {
        let r = score_epoch(epoch(), &frames, &HashMap::new(), &fleet_rules(emission)).unwrap();
        let paid: u128 = r.ledger.iter().map(|e| u128::from(e.amount)).sum();
        prop_assert_eq!(paid + u128::from(r.unallocated), u128::from(emission));
        let any_valid = frames.iter().any(|f| epoch().contains(f.captured_at) && !f.flags.is_fraud() && !f.flags.interpolated_far);
        prop_assert_eq!(r.unallocated == 0, any_valid || emission == 0);
    }

    #[test]
    fn the_input_order_does_not_matter_and_a_rerun_is_identical(frames in arb_frames(), rot in 0usize..40) {
        let a = score_epoch(epoch(), &frames, &HashMap::new(), &fleet_rules(1_000_003)).unwrap();
        let again = score_epoch(epoch(), &frames, &HashMap::new(), &fleet_rules(1_000_003)).unwrap();
        prop_assert_eq!(&a, &again);
        let mut shuffled = frames.clone();
        shuffled.reverse();
        let k = rot % shuffled.len();
        shuffled.rotate_left(k);
        let b = score_epoch(epoch(), &shuffled, &HashMap::new(), &fleet_rules(1_000_003)).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn adding_a_flagged_contribution_never_raises_anyones_share(
        frames in arb_frames(), who in 0usize..7, cell in 0u32..8, secs in 0i64..7 * 86_400, kind in 0u8..5,
    ) {
        let before = score_epoch(epoch(), &frames, &HashMap::new(), &fleet_rules(999_999)).unwrap();
        let mut more = frames.clone();
        let mut f = frame(&format!("c{who}"), 999, 60.10 + f64::from(cell) * 0.01, t0() + Duration::seconds(secs));
        match kind {
            0 => f.flags.replay = true,
            1 => f.flags.jump = true,
            2 => f.flags.impossible_speed = true,
            3 => f.flags.motion_mismatch = true,
            _ => f.flags.duplicate_device = true,
        }
        more.push(f);
        let after = score_epoch(epoch(), &more, &HashMap::new(), &fleet_rules(999_999)).unwrap();
        for (c, t) in &after.totals {
            prop_assert!(*t <= before.total_of(c.as_str()), "{} rose from {} to {}", c, before.total_of(c.as_str()), t);
        }
    }
}

// ---- a simulated week: 50 honest contributors and 10 cheaters ------------------------

mod week {
    use super::*;
    use std::collections::BTreeSet;
    use streetcomb_ingest::fraud::{FraudParams, check_frames, flag_replays};
    use streetcomb_ingest::phash_luma;
    use streetcomb_sim::cheat::{Cheat, WeekConfig, simulate_week};

    /// Ingests the drives in upload order: each one checked against all stored before.
    fn ingest_week() -> (Vec<Frame>, streetcomb_sim::cheat::Week) {
        let week = simulate_week(&WeekConfig::default(), &|w, h, l| phash_luma(w, h, l)).unwrap();
        let params = FraudParams::default();
        let mut stored: Vec<Frame> = Vec::new();
        for upload in &week.uploads {
            let mut new = upload.clone();
            flag_replays(&mut new, &stored, &params);
            check_frames(&mut new, &stored, &params);
            stored.extend(new);
        }
        (stored, week)
    }

    #[test]
    fn every_cheat_is_caught_no_honest_frame_is_flagged_and_honest_pay_matches_the_rules() {
        let (frames, week) = ingest_week();
        assert_eq!(week.honest.len(), 50);
        assert_eq!(week.cheaters.len(), 10);
        // Every cheater's every frame carries the flag of its cheat.
        for (who, cheat) in &week.cheaters {
            let mine: Vec<&Frame> = frames.iter().filter(|f| &f.contributor == who).collect();
            assert!(!mine.is_empty());
            for f in mine {
                let caught = match cheat {
                    Cheat::Replay => f.flags.replay,
                    Cheat::Teleport => f.flags.jump,
                    Cheat::Speeding => f.flags.impossible_speed,
                    Cheat::StaticGps => f.flags.motion_mismatch,
                    Cheat::DuplicateDevice => f.flags.duplicate_device,
                };
                assert!(
                    caught,
                    "{who} ({cheat:?}) frame {} not caught: {:?}",
                    f.id, f.flags
                );
            }
        }
        let honest: BTreeSet<&ContributorId> = week.honest.iter().collect();
        let flagged: Vec<_> = frames
            .iter()
            .filter(|f| honest.contains(&f.contributor) && f.flags != FrameFlags::default())
            .map(|f| (f.id.to_string(), f.flags))
            .collect();
        assert!(flagged.is_empty(), "honest frames flagged: {flagged:?}");

        // Rewards: every honest contributor drives cells nobody else validly covers,
        // each fresh (weight 1), so each cell is worth emission / cells, the remainder
        // going one unit each to the smallest cell ids. Computed here from the rules'
        // text, independently of the scorer.
        let emission = 1_000_000_007u64;
        let r = score_epoch(epoch(), &frames, &HashMap::new(), &rules(emission)).unwrap();
        let mut cells_of: BTreeMap<&ContributorId, BTreeSet<u64>> = BTreeMap::new();
        for f in frames.iter().filter(|f| honest.contains(&f.contributor)) {
            cells_of
                .entry(&f.contributor)
                .or_default()
                .insert(f.cell.as_u64());
        }
        let all: BTreeSet<u64> = cells_of.values().flatten().copied().collect();
        assert_eq!(
            all.len(),
            cells_of.values().map(BTreeSet::len).sum::<usize>(),
            "lanes overlap"
        );
        let (n, base, extra) = (
            all.len() as u64,
            emission / all.len() as u64,
            emission % all.len() as u64,
        );
        let bonus: BTreeSet<u64> = all.iter().copied().take(extra as usize).collect();
        for (who, cells) in &cells_of {
            let expected: u64 = cells
                .iter()
                .map(|c| base + u64::from(bonus.contains(c)))
                .sum();
            assert_eq!(r.total_of(who.as_str()), expected, "{who}");
        }
        for who in week.cheaters.keys() {
            assert_eq!(r.total_of(who.as_str()), 0, "{who}");
            let s = r.summary.iter().find(|s| &s.contributor == who).unwrap();
            assert_eq!(s.status, "held", "{who}");
            assert!(
                r.ledger
                    .iter()
                    .filter(|e| &e.contributor == who)
                    .all(|e| e.reason.starts_with("fraud:"))
            );
        }
        assert_eq!(r.unallocated, 0);
        let honest_total: u64 = week.honest.iter().map(|c| r.total_of(c.as_str())).sum();
        assert_eq!(honest_total, emission);
        println!(
            "week: {} frames, {} honest cells, {base} units per cell (+1 on {extra}), honest-00 earned {}",
            frames.len(),
            n,
            r.total_of("honest-00")
        );
    }
}

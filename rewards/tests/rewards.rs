//! Epoch scoring rules, checked against hand-computed expectations.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use streetcomb_core::{
    Camera, CellId, ContributorId, DriveId, Epoch, Frame, FrameFlags, FrameId, LatLon,
};
use streetcomb_rewards::{Rules, score_epoch};

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

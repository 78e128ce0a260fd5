//! GPS cleaning: drop fixes a frame must not be placed by, and count each by reason.
//!
//! In order: fixes the receiver marked as no fix (`no_fix`), DOP or accuracy over the
//! limits (`hdop`, `pdop`, `accuracy`), fewer than the minimum satellites when the
//! count is known (`satellites`); then, in file order, times that do not increase
//! (`time_backwards`, `duplicate_time`); then out-and-back spikes (`spike`: a point
//! whose two legs are both long while its neighbours are close together — the path
//! through it is several times the direct one, a zig-zag no vehicle drives); then
//! speeds no road vehicle reaches (`impossible_speed`), judged with an allowance for
//! GPS noise so that close fixes are not condemned by a few metres of jitter.

use std::collections::BTreeMap;

use streetcomb_core::TrackPoint;

use crate::IngestParams;
use crate::track::Fix;

/// Points dropped while cleaning, by reason.
pub type PointDrops = BTreeMap<String, usize>;

/// Cleans `fixes` (file order) into a time-ordered track.
pub fn clean_fixes(fixes: &[Fix], p: &IngestParams) -> (Vec<TrackPoint>, PointDrops) {
    let mut drops = PointDrops::new();
    let mut count = |reason: &str| *drops.entry(reason.to_owned()).or_default() += 1;
    let mut kept: Vec<TrackPoint> = Vec::with_capacity(fixes.len());
    for f in fixes {
        let reason = if f.has_fix == Some(false) {
            Some("no_fix")
        } else if f.point.hdop.is_some_and(|h| over(h, p.max_hdop)) {
            Some("hdop")
        } else if f.pdop.is_some_and(|d| over(d, p.max_pdop)) {
            Some("pdop")
        } else if f.accuracy_m.is_some_and(|a| over(a, p.max_accuracy_m)) {
            Some("accuracy")
        } else if f.satellites.is_some_and(|s| s < p.min_satellites) {
            Some("satellites")
        } else if let Some(last) = kept.last() {
            if f.point.time < last.time {
                Some("time_backwards")
            } else if f.point.time == last.time {
                Some("duplicate_time")
            } else {
                None
            }
        } else {
            None
        };
        match reason {
            Some(r) => count(r),
            None => kept.push(f.point),
        }
    }
    let mut out: Vec<TrackPoint> = Vec::with_capacity(kept.len());
    for pt in kept {
        out.push(pt);
        // A new point may reveal the one before it as a spike; removing it may reveal
        // the one before that.
        while out.len() >= 3 {
            let n = out.len();
            if is_spike(&out[n - 3], &out[n - 2], &out[n - 1], p) {
                out.remove(n - 2);
                count("spike");
            } else {
                break;
            }
        }
    }
    let mut fast: Vec<TrackPoint> = Vec::with_capacity(out.len());
    for (i, pt) in out.iter().enumerate() {
        let Some(last) = fast.last() else {
            fast.push(*pt);
            continue;
        };
        if !too_fast(last, pt, p) {
            fast.push(*pt);
        } else if fast.len() == 1 && out.get(i + 1).is_some_and(|next| !too_fast(pt, next, p)) {
            // The very first point was the outlier: the rest agrees with this one.
            fast[0] = *pt;
            count("impossible_speed");
        } else {
            count("impossible_speed");
        }
    }
    (fast, drops)
}

/// `v` over `limit`, or not a number (a NaN DOP is no evidence of a good fix).
fn over(v: f64, limit: f64) -> bool {
    !matches!(
        v.partial_cmp(&limit),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

fn is_spike(a: &TrackPoint, m: &TrackPoint, b: &TrackPoint, p: &IngestParams) -> bool {
    let (d1, d2) = (a.pos.distance_m(m.pos), m.pos.distance_m(b.pos));
    let base = a.pos.distance_m(b.pos).max(1.0);
    d1 > p.spike_min_m && d2 > p.spike_min_m && d1 + d2 > p.spike_ratio * base
}

fn too_fast(a: &TrackPoint, b: &TrackPoint, p: &IngestParams) -> bool {
    let dt = (b.time - a.time).num_milliseconds() as f64 / 1000.0;
    let d = (a.pos.distance_m(b.pos) - p.gps_noise_m).max(0.0);
    dt > 0.0 && d / dt > p.max_speed_mps
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use streetcomb_core::LatLon;

    fn fix(sec: i64, north_m: f64) -> Fix {
        Fix::plain(TrackPoint {
            time: Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap() + Duration::seconds(sec),
            pos: LatLon::new(60.0 + north_m / 111_195.0, 25.0).unwrap(),
            alt_m: None,
            hdop: Some(1.0),
            speed_mps: None,
        })
    }

    #[test]
    fn a_single_point_thrown_far_off_the_road_is_a_spike() {
        let mut fixes: Vec<Fix> = (0..10).map(|s| fix(s, s as f64 * 10.0)).collect();
        fixes[5].point.pos = LatLon::new(60.0 + 45.0 / 111_195.0, 25.002).unwrap();
        let (track, drops) = clean_fixes(&fixes, &IngestParams::default());
        assert_eq!(track.len(), 9);
        assert_eq!(drops.get("spike"), Some(&1));
    }

    #[test]
    fn a_teleport_and_a_bad_first_point_are_impossible_speeds() {
        let mut fixes: Vec<Fix> = (0..10).map(|s| fix(s, s as f64 * 10.0)).collect();
        // The first point is 5 km away from a drive at 10 m/s: it goes, not the rest.
        fixes[0].point.pos = LatLon::new(60.05, 25.0).unwrap();
        let (track, drops) = clean_fixes(&fixes, &IngestParams::default());
        assert_eq!(drops.get("impossible_speed"), Some(&1));
        assert_eq!(track.len(), 9);
        assert_eq!(track[0].time, fixes[1].point.time);
    }

    #[test]
    fn quality_limits_and_time_order_each_count_their_drops() {
        let mut f = vec![fix(0, 0.0), fix(1, 10.0), fix(2, 20.0), fix(3, 30.0)];
        f[1].has_fix = Some(false);
        f[2].point.hdop = Some(9.0);
        f[3].satellites = Some(3);
        let mut more = vec![fix(4, 40.0), fix(4, 40.0), fix(2, 20.0), fix(5, 50.0)];
        more[0].pdop = Some(2.0);
        more[3].accuracy_m = Some(80.0);
        f.extend(more);
        let (track, drops) = clean_fixes(&f, &IngestParams::default());
        assert_eq!(track.len(), 2);
        let want: PointDrops = [
            ("accuracy", 1),
            ("duplicate_time", 1),
            ("hdop", 1),
            ("no_fix", 1),
            ("satellites", 1),
            ("time_backwards", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(drops, want);
    }
}

//! What the map shows: drive sequences, per-cell coverage and frame points, plus the
//! helpers that derive them from the core records.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streetcomb_core::{CellId, CoverageCell, DriveId, Frame, LatLon};

use crate::FRESHNESS_DAYS;

/// One drive as a line: its positions in capture order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub drive_id: String,
    pub contributor: String,
    pub points: Vec<LatLon>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Coverage of one H3 cell, merged over contributors and days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageSummary {
    pub cell: CellId,
    pub last_covered_at: DateTime<Utc>,
    pub n_contributors: u32,
    pub n_frames: u32,
}

/// One frame as a clickable point on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FramePoint {
    pub frame_id: String,
    pub pos: LatLon,
    pub heading_deg: f64,
    pub captured_at: DateTime<Utc>,
    pub image_url: String,
}

impl FramePoint {
    /// The map point of `frame`, whose (blurred) image is served at `image_url`.
    pub fn from_frame(frame: &Frame, image_url: impl Into<String>) -> Self {
        Self {
            frame_id: frame.id.to_string(),
            pos: frame.pos,
            heading_deg: frame.heading_deg,
            captured_at: frame.captured_at,
            image_url: image_url.into(),
        }
    }
}

/// Groups frames by drive into sequences, each sorted by capture time (then frame id,
/// so that equal times still give a stable line). Sequences come out sorted by drive id.
pub fn sequences_from_frames(frames: &[Frame]) -> Vec<Sequence> {
    let mut by_drive: BTreeMap<&DriveId, Vec<&Frame>> = BTreeMap::new();
    for f in frames {
        by_drive.entry(&f.drive_id).or_default().push(f);
    }
    by_drive
        .into_iter()
        .filter_map(|(drive, mut fs)| {
            fs.sort_by(|a, b| {
                a.captured_at
                    .cmp(&b.captured_at)
                    .then_with(|| a.id.cmp(&b.id))
            });
            let (first, last) = (fs.first()?, fs.last()?);
            Some(Sequence {
                drive_id: drive.to_string(),
                contributor: first.contributor.to_string(),
                points: fs.iter().map(|f| f.pos).collect(),
                start: first.captured_at,
                end: last.captured_at,
            })
        })
        .collect()
}

/// Merges per-contributor, per-day coverage into one summary per cell: the latest
/// time, the number of distinct contributors and the total frame count. Sorted by cell.
pub fn coverage_summary(cells: &[CoverageCell]) -> Vec<CoverageSummary> {
    struct Acc<'a> {
        last: DateTime<Utc>,
        contributors: BTreeSet<&'a str>,
        frames: u32,
    }
    let mut by_cell: BTreeMap<CellId, Acc<'_>> = BTreeMap::new();
    for c in cells {
        let acc = by_cell.entry(c.cell).or_insert_with(|| Acc {
            last: c.last_covered_at,
            contributors: BTreeSet::new(),
            frames: 0,
        });
        acc.last = acc.last.max(c.last_covered_at);
        acc.contributors.insert(c.contributor.as_str());
        acc.frames = acc.frames.saturating_add(c.n_frames);
    }
    by_cell
        .into_iter()
        .map(|(cell, acc)| CoverageSummary {
            cell,
            last_covered_at: acc.last,
            n_contributors: u32::try_from(acc.contributors.len()).unwrap_or(u32::MAX),
            n_frames: acc.frames,
        })
        .collect()
}

/// Age of `t` at `now` in days; never negative (a clock running ahead counts as fresh).
pub(crate) fn age_days(t: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((now - t).num_milliseconds() as f64 / 86_400_000.0).max(0.0)
}

/// 1 for coverage from `now`, falling linearly to 0 at [`FRESHNESS_DAYS`] days old.
pub fn freshness(last_covered_at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (1.0 - age_days(last_covered_at, now) / FRESHNESS_DAYS).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use streetcomb_core::ContributorId;
    use streetcomb_core::testing::FrameBuilder;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, m, 0).unwrap()
    }

    fn frame(drive: &str, stem: &str, at: DateTime<Utc>, lon: f64) -> Frame {
        FrameBuilder::new()
            .drive(drive)
            .stem(stem)
            .contributor(format!("c-{drive}"))
            .at(at)
            .pos(LatLon::new(60.17, lon).unwrap())
            .heading(90.0)
            .image_key(format!("{stem}.jpg"))
            .build()
    }

    #[test]
    fn frames_group_into_one_time_ordered_sequence_per_drive() {
        let frames = vec![
            frame("d2", "a", t(9, 0), 24.90),
            frame("d1", "b", t(8, 2), 24.92),
            frame("d1", "a", t(8, 1), 24.91),
        ];
        let seqs = sequences_from_frames(&frames);
        assert_eq!(seqs.len(), 2);
        assert_eq!(seqs[0].drive_id, "d1");
        assert_eq!(seqs[0].contributor, "c-d1");
        assert_eq!((seqs[0].start, seqs[0].end), (t(8, 1), t(8, 2)));
        let lons: Vec<f64> = seqs[0].points.iter().map(|p| p.lon()).collect();
        assert_eq!(lons, vec![24.91, 24.92]);
        assert_eq!(seqs[1].points.len(), 1);
    }

    #[test]
    fn coverage_merges_contributors_and_days_per_cell() {
        let cell = CellId::from_latlon(LatLon::new(60.17, 24.94).unwrap(), 11).unwrap();
        let other = CellId::from_latlon(LatLon::new(60.18, 24.94).unwrap(), 11).unwrap();
        let row = |who: &str, day: u32, at: DateTime<Utc>, n: u32, c: CellId| CoverageCell {
            cell: c,
            contributor: ContributorId::new(who).unwrap(),
            day: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            last_covered_at: at,
            n_frames: n,
            heading_deg: 0.0,
        };
        let rows = vec![
            row("alice", 19, t(7, 0), 3, cell),
            row("alice", 20, t(9, 0), 2, cell),
            row("bob", 20, t(8, 0), 4, cell),
            row("bob", 20, t(8, 0), 1, other),
        ];
        let sums = coverage_summary(&rows);
        assert_eq!(sums.len(), 2);
        let s = sums.iter().find(|s| s.cell == cell).unwrap();
        assert_eq!(s.n_contributors, 2);
        assert_eq!(s.n_frames, 9);
        assert_eq!(s.last_covered_at, t(9, 0));
    }

    #[test]
    fn freshness_falls_linearly_over_a_week_and_stays_within_zero_and_one() {
        let now = t(12, 0);
        assert_eq!(freshness(now, now), 1.0);
        let half = now - chrono::Duration::hours(84);
        assert!((freshness(half, now) - 0.5).abs() < 1e-12);
        assert_eq!(freshness(now - chrono::Duration::days(30), now), 0.0);
        assert_eq!(freshness(now + chrono::Duration::days(1), now), 1.0);
    }
}

//! Weekly reward epochs: ISO weeks, Monday 00:00 to Sunday 24:00 UTC.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// An ISO week, written `2026-W47`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Epoch {
    year: i32,
    week: u32,
}

impl Epoch {
    pub fn new(year: i32, week: u32) -> Result<Self, CoreError> {
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|_| Self { year, week })
            .ok_or_else(|| CoreError::Epoch(format!("{year}-W{week:02}")))
    }

    /// The epoch containing instant `t`.
    pub fn of(t: DateTime<Utc>) -> Self {
        let w = t.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn week(self) -> u32 {
        self.week
    }

    /// Monday 00:00:00 UTC, inclusive.
    pub fn start(self) -> DateTime<Utc> {
        let d = NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon)
            .expect("validated on construction");
        Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
    }

    /// The next Monday 00:00:00 UTC, exclusive.
    pub fn end(self) -> DateTime<Utc> {
        self.start() + chrono::Duration::days(7)
    }

    pub fn contains(self, t: DateTime<Utc>) -> bool {
        t >= self.start() && t < self.end()
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

impl std::str::FromStr for Epoch {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = || CoreError::Epoch(s.to_owned());
        let (y, w) = s.split_once("-W").ok_or_else(bad)?;
        let year = y.parse().map_err(|_| bad())?;
        let week = w.parse().map_err(|_| bad())?;
        Self::new(year, week).map_err(|_| bad())
    }
}

impl TryFrom<String> for Epoch {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, CoreError> {
        s.parse()
    }
}

impl From<Epoch> for String {
    fn from(e: Epoch) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_2026_w47_runs_from_monday_to_monday() {
        let e: Epoch = "2026-W47".parse().unwrap();
        assert_eq!(e.start().to_rfc3339(), "2026-11-16T00:00:00+00:00");
        assert_eq!(e.end().to_rfc3339(), "2026-11-23T00:00:00+00:00");
        let sat = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        assert_eq!(Epoch::of(sat), e);
        assert!(e.contains(sat));
        assert!(!e.contains(e.end()));
    }

    #[test]
    fn iso_years_differ_from_calendar_years_at_new_year() {
        // 2027-01-01 is a Friday, still in ISO week 2026-W53.
        let t = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(Epoch::of(t).to_string(), "2026-W53");
    }

    #[test]
    fn malformed_epochs_are_rejected() {
        for s in ["2026-47", "2026-W", "2026-W54", "x-W01", "2025-W53"] {
            assert!(s.parse::<Epoch>().is_err(), "{s}");
        }
    }
}

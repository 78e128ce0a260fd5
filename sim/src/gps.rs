//! The simulated GPS receiver: true positions plus realistic error, written as GPX 1.1.
//!
//! Consumer GPS error is dominated by a slowly wandering bias (multipath, atmosphere,
//! satellite geometry) that stays put for tens of seconds, with only a little
//! independent jitter per fix. White noise alone would average away along a drive and
//! flatter the pipeline, so the bias is a first-order Gauss-Markov (AR(1)) process per
//! axis with correlation time [`BIAS_TAU_S`], started from its stationary distribution.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand_distr::StandardNormal;
use streetcomb_core::{LatLon, LocalFrame};

/// Correlation time of the GPS bias, seconds.
pub(crate) const BIAS_TAU_S: f64 = 60.0;
/// Share of `sigma` (per axis) in the bias and in the white noise: together about
/// `sigma` per axis, since 0.95² + 0.3² ≈ 1.
const BIAS_SHARE: f64 = 0.95;
const WHITE_SHARE: f64 = 0.3;
/// User equivalent range error that turns sigma into a plausible HDOP, metres.
const UERE_M: f64 = 3.0;

/// True positions (local metres) at the times GPS fixes are taken.
pub(crate) type Truth = [(DateTime<Utc>, [f64; 2])];

/// One simulated GPS fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fix {
    pub(crate) time: DateTime<Utc>,
    pub(crate) pos: LatLon,
    pub(crate) hdop: f64,
}

/// Noisy fixes for true positions `truth` (local metres) sampled every `interval_s`.
pub(crate) fn noisy_fixes(
    truth: &Truth,
    frame: &LocalFrame,
    sigma_m: f64,
    interval_s: f64,
    rng: &mut impl Rng,
) -> Vec<Fix> {
    let phi = (-interval_s / BIAS_TAU_S).exp();
    let innovation = (1.0 - phi * phi).sqrt();
    let sigma_b = BIAS_SHARE * sigma_m;
    let sigma_w = WHITE_SHARE * sigma_m;
    let mut normal = || -> f64 { rng.sample(StandardNormal) };
    let mut bias = [sigma_b * normal(), sigma_b * normal()];
    let mut out = Vec::with_capacity(truth.len());
    for (i, (time, p)) in truth.iter().enumerate() {
        if i > 0 {
            for b in &mut bias {
                *b = phi * *b + innovation * sigma_b * normal();
            }
        }
        let e = p[0] + bias[0] + sigma_w * normal();
        let n = p[1] + bias[1] + sigma_w * normal();
        let hdop = (sigma_m / UERE_M * (1.0 + 0.1 * normal())).max(0.5);
        out.push(Fix {
            time: *time,
            pos: frame.to_latlon(e, n),
            hdop,
        });
    }
    out
}

/// The fixes as a GPX 1.1 document with one track (`name` must be XML-safe: ids are).
pub(crate) fn to_gpx(name: &str, fixes: &[Fix]) -> String {
    let mut s = String::with_capacity(200 + fixes.len() * 110);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(
        "<gpx version=\"1.1\" creator=\"streetcomb-sim\" \
         xmlns=\"http://www.topografix.com/GPX/1/1\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 \
         http://www.topografix.com/GPX/1/1/gpx.xsd\">\n",
    );
    s.push_str("  <metadata>\n");
    let _ = writeln!(s, "    <name>{name}</name>");
    if let Some(first) = fixes.first() {
        let _ = writeln!(s, "    <time>{}</time>", gpx_time(first.time));
    }
    s.push_str("  </metadata>\n  <trk>\n");
    let _ = writeln!(s, "    <name>{name}</name>");
    s.push_str("    <trkseg>\n");
    for f in fixes {
        let _ = writeln!(
            s,
            "      <trkpt lat=\"{:.7}\" lon=\"{:.7}\"><time>{}</time><hdop>{:.1}</hdop></trkpt>",
            f.pos.lat(),
            f.pos.lon(),
            gpx_time(f.time),
            f.hdop
        );
    }
    s.push_str("    </trkseg>\n  </trk>\n</gpx>\n");
    s
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-16T08:00:00.500Z`.
fn gpx_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn track(n: usize) -> (LocalFrame, Box<Truth>) {
        let frame = LocalFrame::new(LatLon::new(60.17, 24.94).unwrap());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap();
        let truth = (0..n)
            .map(|i| {
                (
                    t0 + chrono::Duration::seconds(i as i64),
                    [8.0 * i as f64, 0.0],
                )
            })
            .collect();
        (frame, truth)
    }

    #[test]
    fn gps_error_is_about_sigma_and_slowly_varying() {
        let (frame, truth) = track(3000);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let fixes = noisy_fixes(&truth, &frame, 3.0, 1.0, &mut rng);
        let err: Vec<[f64; 2]> = fixes
            .iter()
            .zip(&truth)
            .map(|(f, (_, p))| {
                let (e, n) = frame.to_local(f.pos);
                [e - p[0], n - p[1]]
            })
            .collect();
        let rms_east = (err.iter().map(|e| e[0] * e[0]).sum::<f64>() / err.len() as f64).sqrt();
        assert!((1.5..4.5).contains(&rms_east), "rms east {rms_east}");
        // Consecutive errors are correlated (mostly bias): white noise of the same size
        // would change by about 1.13 * rms between fixes.
        let step: f64 = err
            .windows(2)
            .map(|w| (w[1][0] - w[0][0]).abs())
            .sum::<f64>()
            / (err.len() - 1) as f64;
        assert!(step < 0.6 * rms_east, "step {step} vs rms {rms_east}");
    }

    #[test]
    fn gpx_has_seven_decimal_coordinates_millisecond_times_and_hdop() {
        let (frame, truth) = track(2);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let fixes = noisy_fixes(&truth, &frame, 3.0, 1.0, &mut rng);
        let gpx = to_gpx("sim-c01-d01", &fixes);
        assert!(gpx.starts_with("<?xml"));
        assert!(gpx.contains("<gpx version=\"1.1\""));
        assert_eq!(gpx.matches("<trkpt ").count(), 2);
        assert!(
            gpx.contains("<time>2026-11-16T08:00:01.000Z</time>"),
            "{gpx}"
        );
        let lat = gpx
            .split("lat=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(lat.split('.').nth(1).unwrap().len(), 7, "{lat}");
        assert_eq!(gpx.matches("<hdop>").count(), 2);
    }
}

//! `streetcomb eval`: built features against the simulator's ground truth.
//!
//! Per class: precision, recall (of true features in view at least `min_views`
//! times), median and 90th-percentile position error, and for classes that show a
//! number (speed limits) how many matched features carry the true one. Features marked `removed` are
//! off the map and left out. When the truth folder holds a `changes.json` (a list of
//! `streetcomb_sim::weeks::TruthChange`, as multi-week scenarios produce), the
//! report adds how many additions, removals and moves the map reported.
//!
//! `streetcomb eval --weeks N` runs a multi-week scenario instead
//! ([`streetcomb_sim::weeks`]): contributors drive the same routes every week while
//! signs are added, removed and moved; the map is built week by week over everything
//! driven so far, exactly as `streetcomb build` builds the store, and each week is
//! scored against that week's truth and changes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use streetcomb_core::matching::greedy_closest_pairs;

use crate::error::{Context, Result};
use serde::Serialize;
use streetcomb_core::{FeatureClass, FeatureStatus, MapFeature};
use streetcomb_sim::TruthFeature;
use streetcomb_sim::weeks::{ChangeScore, TruthChange, score_changes};

/// A reported change counts when a feature with the right status lies this close.
pub const CHANGE_RADIUS_M: f64 = MATCH_RADIUS_M;

/// A built feature matches a true one of its class within this distance.
pub const MATCH_RADIUS_M: f64 = 10.0;

#[derive(Debug, Clone, Serialize)]
pub struct ClassScore {
    pub class: String,
    /// True features in view in at least `min_views` frames.
    pub truth: usize,
    pub built: usize,
    pub matched: usize,
    pub precision: f64,
    pub recall: f64,
    pub median_error_m: Option<f64>,
    pub p90_error_m: Option<f64>,
    /// Matched features whose truth shows a number (a speed limit's km/h).
    pub values: usize,
    /// Of those, the ones whose built number is the true one.
    pub values_correct: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub min_views: usize,
    pub match_radius_m: f64,
    pub classes: Vec<ClassScore>,
    /// Built features per status (new, confirmed, moved, removed).
    pub statuses: BTreeMap<String, usize>,
    /// Change detection against the truth's `changes.json`, when there is one.
    pub changes: Option<ChangeScore>,
}

/// The changes listed in `dir/changes.json`, if that file exists.
pub fn read_changes(dir: &Path) -> Result<Option<Vec<TruthChange>>> {
    let p = dir.join("changes.json");
    match std::fs::read(&p) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{}: invalid changes (a list of {{feature_id, class, kind, from, to}})",
                p.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// [`evaluate`] plus change detection when `changes` are known.
pub fn evaluate_with_changes(
    built: &[MapFeature],
    truth: &[TruthFeature],
    views: &HashMap<String, usize>,
    min_views: usize,
    changes: Option<&[TruthChange]>,
) -> EvalReport {
    let mut r = evaluate(built, truth, views, min_views);
    r.changes = changes.map(|c| score_changes(built, c, CHANGE_RADIUS_M));
    r
}

/// One week of a scenario: what was driven and how the map built so far scores.
#[derive(Debug, Clone, Serialize)]
pub struct WeekReport {
    pub week: usize,
    pub epoch: String,
    pub frames: usize,
    pub detections: usize,
    pub report: EvalReport,
}

/// [`evaluate_weeks`]' result: the scenario and every week's score.
#[derive(Debug, Clone, Serialize)]
pub struct WeeksReport {
    pub scenario: streetcomb_sim::weeks::WeeksConfig,
    pub weeks: Vec<WeekReport>,
    /// Changes of all weeks together (found, total).
    pub changes: ChangeScore,
}

/// Simulates `cfg` over `net`, builds the map after each week from all weeks so far,
/// and scores it against that week's truth and changes.
pub fn evaluate_weeks(
    net: &streetcomb_sim::RoadNetwork,
    cfg: &streetcomb_sim::weeks::WeeksConfig,
    min_views: usize,
) -> Result<WeeksReport> {
    let weeks = streetcomb_sim::weeks::simulate_weeks(net, cfg)?;
    // The extract is the map's basemap: drives are aligned to its roads, as `build`
    // aligns them to the store's.
    let roads = streetcomb_mapbuild::Roads::new(&net.road_segments());
    let (mut frames, mut dets) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    let mut all = ChangeScore::default();
    for (i, w) in weeks.into_iter().enumerate() {
        let (n_frames, n_dets) = (w.frames.len(), w.detections.len());
        frames.extend(w.frames);
        dets.extend(w.detections);
        let aligned = match &roads {
            Some(r) => streetcomb_mapbuild::align_to_roads(
                &frames,
                r,
                &streetcomb_mapbuild::AlignParams::default(),
            ),
            None => frames.clone(),
        };
        let steered = streetcomb_mapbuild::steer_detections(&dets, &frames, &aligned);
        let built = streetcomb_mapbuild::build_history(
            &aligned,
            &steered,
            &streetcomb_mapbuild::FuseParams::default(),
            &streetcomb_mapbuild::ChangeParams::default(),
        );
        let views: HashMap<String, usize> = w.views.into_iter().collect();
        let r = evaluate_with_changes(&built, &w.truth, &views, min_views, Some(&w.changes));
        if let Some(c) = &r.changes {
            for (total, part) in [
                (&mut all.added, c.added),
                (&mut all.removed, c.removed),
                (&mut all.moved, c.moved),
            ] {
                total.0 += part.0;
                total.1 += part.1;
            }
        }
        out.push(WeekReport {
            week: i + 1,
            epoch: w.epoch.to_string(),
            frames: n_frames,
            detections: n_dets,
            report: r,
        });
    }
    let (found, total) = [all.added, all.removed, all.moved]
        .iter()
        .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
    all.accuracy = (total > 0).then(|| found as f64 / total as f64);
    Ok(WeeksReport {
        scenario: cfg.clone(),
        weeks: out,
        changes: all,
    })
}

/// Prints every week's table, then the change detection of all weeks.
pub fn print_weeks(r: &WeeksReport) {
    let s = &r.scenario;
    println!(
        "{} weeks, {} routes x {} drives a week, GPS sigma {} m, seed {}",
        s.weeks, s.routes, s.drives_per_route, s.drive.gps_sigma_m, s.seed
    );
    for w in &r.weeks {
        println!(
            "\nweek {} ({}): {} frames, {} detections; map built from all weeks so far",
            w.week, w.epoch, w.frames, w.detections
        );
        print_table(&w.report);
    }
    let c = &r.changes;
    println!(
        "\nall weeks: changes reported: added {}/{}, removed {}/{}, moved {}/{}; accuracy {}",
        c.added.0,
        c.added.1,
        c.removed.0,
        c.removed.1,
        c.moved.0,
        c.moved.1,
        c.accuracy
            .map(|a| format!("{:.0} %", a * 100.0))
            .unwrap_or_else(|| "-".into())
    );
}

/// Ground truth of all simulated drives under `dir`: features and how many frames saw each.
pub fn read_truth(dir: &Path) -> Result<(Vec<TruthFeature>, HashMap<String, usize>)> {
    let mut feats: BTreeMap<String, TruthFeature> = BTreeMap::new();
    let mut views: HashMap<String, usize> = HashMap::new();
    for d in crate::drive_dir::list_drives(dir)? {
        let p = d.join("truth.json");
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let t: streetcomb_sim::DriveTruth = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: invalid truth", p.display()))?;
        for f in t.features {
            feats.entry(f.id.clone()).or_insert(f);
        }
        if let Ok(b) = std::fs::read(d.join("views.json")) {
            let v: HashMap<String, usize> = serde_json::from_slice(&b)
                .with_context(|| format!("{}: invalid views.json", d.display()))?;
            for (k, n) in v {
                *views.entry(k).or_default() += n;
            }
        }
    }
    Ok((feats.into_values().collect(), views))
}

pub fn evaluate(
    built: &[MapFeature],
    truth: &[TruthFeature],
    views: &HashMap<String, usize>,
    min_views: usize,
) -> EvalReport {
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for f in built {
        *statuses.entry(f.status.as_str().to_owned()).or_default() += 1;
    }
    // A removed feature is off the map.
    let built: Vec<MapFeature> = built
        .iter()
        .filter(|f| f.status != FeatureStatus::Removed)
        .cloned()
        .collect();
    let mut classes = Vec::new();
    for class in FeatureClass::ALL {
        let t: Vec<&TruthFeature> = truth
            .iter()
            .filter(|f| f.class == class && views.get(&f.id).copied().unwrap_or(0) >= min_views)
            .collect();
        let all_t: Vec<&TruthFeature> = truth.iter().filter(|f| f.class == class).collect();
        let b: Vec<&MapFeature> = built.iter().filter(|f| f.class == class).collect();
        if t.is_empty() && b.is_empty() {
            continue;
        }
        // Greedy nearest pairs, closest first (ties: lower built, then truth index).
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (i, bf) in b.iter().enumerate() {
            for (j, tf) in all_t.iter().enumerate() {
                let d = bf.pos.distance_m(tf.pos);
                if d <= MATCH_RADIUS_M {
                    pairs.push((d, i, j));
                }
            }
        }
        let (mut used_b, mut used_t) = (vec![false; b.len()], vec![false; all_t.len()]);
        let mut errors = Vec::new();
        let mut matched_eligible = 0;
        let mut matched_any = 0;
        let (mut values, mut values_correct) = (0, 0);
        for (d, i, j) in greedy_closest_pairs(pairs, &mut used_b, &mut used_t) {
            matched_any += 1;
            if t.iter().any(|x| x.id == all_t[j].id) {
                matched_eligible += 1;
                errors.push(d);
                if let Some(v) = all_t[j].value {
                    values += 1;
                    values_correct += usize::from(b[i].value == Some(v));
                }
            }
        }
        errors.sort_by(f64::total_cmp);
        let q = |p: f64| {
            (!errors.is_empty()).then(|| errors[((errors.len() - 1) as f64 * p).round() as usize])
        };
        classes.push(ClassScore {
            class: class.to_string(),
            truth: t.len(),
            built: b.len(),
            matched: matched_eligible,
            precision: ratio(matched_any, b.len()),
            recall: ratio(matched_eligible, t.len()),
            median_error_m: q(0.5),
            p90_error_m: q(0.9),
            values,
            values_correct,
        });
    }
    EvalReport {
        min_views,
        match_radius_m: MATCH_RADIUS_M,
        classes,
        statuses,
        changes: None,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn print_table(r: &EvalReport) {
    println!(
        "{:<19} {:>6} {:>6} {:>8} {:>9} {:>7} {:>10} {:>8} {:>8}",
        "class", "truth", "built", "matched", "precision", "recall", "median_m", "p90_m", "values"
    );
    for c in &r.classes {
        let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        let values = if c.values > 0 {
            format!("{}/{}", c.values_correct, c.values)
        } else {
            "-".into()
        };
        println!(
            "{:<19} {:>6} {:>6} {:>8} {:>9.2} {:>7.2} {:>10} {:>8} {:>8}",
            c.class,
            c.truth,
            c.built,
            c.matched,
            c.precision,
            c.recall,
            f(c.median_error_m),
            f(c.p90_error_m),
            values
        );
    }
    println!(
        "(truth: features in view in at least {} frames; match radius {} m)",
        r.min_views, r.match_radius_m
    );
    let statuses: Vec<String> = r.statuses.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("features by status: {}", statuses.join(", "));
    if let Some(c) = &r.changes {
        println!(
            "changes reported: added {}/{}, removed {}/{}, moved {}/{} (within {CHANGE_RADIUS_M} m)",
            c.added.0, c.added.1, c.removed.0, c.removed.1, c.moved.0, c.moved.1
        );
    }
}

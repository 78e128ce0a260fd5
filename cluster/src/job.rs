//! The jobs on the work queue: one stage of the pipeline over one piece of the
//! data, each idempotent, each naming the jobs that follow it.

use serde::{Deserialize, Serialize};
use streetcomb_core::{CellId, Epoch};

/// Subject prefix of the work queue; a job of kind `k` goes to `streetcomb.jobs.{k}`.
pub const JOBS_SUBJECT: &str = "streetcomb.jobs";
/// Subject prefix of the dead letters; `streetcomb.dead.{k}`.
pub const DEAD_SUBJECT: &str = "streetcomb.dead";

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Geotag and store one drive whose files `streetcomb submit` (or the upload
    /// server) put under `submitted/{drive}/`.
    Ingest {
        drive: String,
        /// File names under `submitted/{drive}/`.
        files: Vec<String>,
        /// Overrides `drive.json`'s contributor, as `ingest --contributor` does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contributor: Option<String>,
    },
    /// Blur and detect the frames of one drive still waiting in the incoming area:
    /// those of part `part` of `parts` ([`part_of`]), so that the parts of a long
    /// drive run on several workers at once.
    Vision {
        drive: String,
        #[serde(default)]
        part: u32,
        #[serde(default = "one")]
        parts: u32,
    },
    /// Rebuild the features and coverage of one region (an H3 cell at
    /// [`streetcomb_pipeline::REGION_RESOLUTION`], with a halo).
    Mapbuild { region: CellId },
    /// Score `epoch` and every later epoch that has published frames, in order
    /// (each epoch's reputation carries into the next).
    Rewards { epoch: Epoch },
}

fn one() -> u32 {
    1
}

/// Frames a vision job takes at most: ~30 s of work on two cores.
pub const VISION_PART_FRAMES: usize = 100;

/// Which of `parts` vision parts frame `id` belongs to: a hash of the id (FNV-1a),
/// so the split never changes while frames are withheld and leave the dataset.
pub fn part_of(id: &str, parts: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(parts.max(1))) as u32
}

/// The vision jobs for a drive of `frames` frames.
pub fn vision_jobs(drive: &str, frames: usize) -> Vec<Job> {
    let parts = frames.div_ceil(VISION_PART_FRAMES).max(1) as u32;
    (0..parts)
        .map(|part| Job::Vision {
            drive: drive.to_owned(),
            part,
            parts,
        })
        .collect()
}

/// The kinds of job, in the order a worker looks for work: the later stages first,
/// so that results flow out before more input is taken in.
pub const KINDS: [Kind; 4] = [Kind::Rewards, Kind::Mapbuild, Kind::Vision, Kind::Ingest];

/// A job's kind: its subject and its consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Ingest,
    Vision,
    Mapbuild,
    Rewards,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest",
            Kind::Vision => "vision",
            Kind::Mapbuild => "mapbuild",
            Kind::Rewards => "rewards",
        }
    }

    pub fn subject(self) -> String {
        format!("{JOBS_SUBJECT}.{}", self.as_str())
    }

    /// Whether jobs of this kind run one at a time across the cluster. Ingest checks
    /// each drive against every frame stored before it (replays, fraud), mapbuild and
    /// rewards read-modify-write whole regions and epochs: run one at a time in
    /// submission order, they give what one process gives. Vision, the expensive
    /// stage, runs on every worker at once.
    pub fn serial(self) -> bool {
        self != Kind::Vision
    }
}

impl Job {
    pub fn kind(&self) -> Kind {
        match self {
            Job::Ingest { .. } => Kind::Ingest,
            Job::Vision { .. } => Kind::Vision,
            Job::Mapbuild { .. } => Kind::Mapbuild,
            Job::Rewards { .. } => Kind::Rewards,
        }
    }

    /// What the job works on, for logs and `cluster status`.
    pub fn target(&self) -> String {
        match self {
            Job::Ingest { drive, .. } => drive.clone(),
            Job::Vision { drive, part, parts } => format!("{drive}#{part}/{parts}"),
            Job::Mapbuild { region } => region.to_string(),
            Job::Rewards { epoch } => epoch.to_string(),
        }
    }

    /// The job's id when submitted by a user: the same drive submitted twice has
    /// the same id, so JetStream drops the second copy (`Nats-Msg-Id`).
    pub fn submitted_id(&self) -> String {
        format!("{}:{}", self.kind().as_str(), self.target())
    }

    /// The id of this job when `parent` (a job id) published it: unique per parent, so
    /// a parent delivered twice publishes its followers once.
    pub fn followup_id(&self, parent: &str) -> String {
        format!("{}<{parent}", self.submitted_id())
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("jobs serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_splits_into_parts_of_at_most_a_hundred_frames_that_cover_every_frame() {
        assert_eq!(vision_jobs("d", 0).len(), 1);
        assert_eq!(vision_jobs("d", 100).len(), 1);
        assert_eq!(vision_jobs("d", 301).len(), 4);
        let ids: Vec<String> = (0..301).map(|i| format!("d-{i:05}")).collect();
        let mut sizes = [0usize; 4];
        for id in &ids {
            let p = part_of(id, 4);
            assert_eq!(p, part_of(id, 4), "stable");
            sizes[p as usize] += 1;
        }
        assert_eq!(sizes.iter().sum::<usize>(), 301);
        // Balanced enough that no part is empty or double-sized.
        assert!(sizes.iter().all(|&n| (40..=110).contains(&n)), "{sizes:?}");
        // A legacy job without parts is the whole drive.
        let j: Job = serde_json::from_str(r#"{"kind":"vision","drive":"d"}"#).unwrap();
        assert_eq!(
            j,
            Job::Vision {
                drive: "d".into(),
                part: 0,
                parts: 1
            }
        );
    }

    #[test]
    fn jobs_round_trip_through_json_with_their_kind_as_a_tag() {
        let jobs = [
            Job::Ingest {
                drive: "d1".into(),
                files: vec!["track.gpx".into(), "0001.jpg".into()],
                contributor: None,
            },
            Job::Vision {
                drive: "d1".into(),
                part: 1,
                parts: 3,
            },
            Job::Mapbuild {
                region: "85089b1bfffffff".parse().unwrap(),
            },
            Job::Rewards {
                epoch: "2026-W47".parse().unwrap(),
            },
        ];
        for j in jobs {
            let json = j.to_json();
            let text = String::from_utf8(json.clone()).unwrap();
            assert!(
                text.contains(&format!("\"kind\":\"{}\"", j.kind().as_str())),
                "{text}"
            );
            assert_eq!(serde_json::from_slice::<Job>(&json).unwrap(), j);
        }
    }

    #[test]
    fn ids_name_the_stage_and_target_and_followups_their_parent() {
        let v = Job::Vision {
            drive: "d1".into(),
            part: 0,
            parts: 2,
        };
        assert_eq!(v.submitted_id(), "vision:d1#0/2");
        assert_eq!(v.followup_id("ingest:d1"), "vision:d1#0/2<ingest:d1");
        assert_eq!(v.kind().subject(), "streetcomb.jobs.vision");
        assert!(!Kind::Vision.serial());
        assert!(Kind::Ingest.serial() && Kind::Mapbuild.serial() && Kind::Rewards.serial());
    }
}

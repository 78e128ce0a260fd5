//! Validated identifiers.
//!
//! Ids travel into object-store keys, Parquet columns and URLs, so they are limited to
//! a safe alphabet: ASCII letters, digits, `-`, `_` and `.`, at most 128 bytes, and a
//! frame id may also hold `/` between a drive id and a file stem.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::CoreError;

fn check(kind: &'static str, value: &str, allow_slash: bool) -> Result<(), CoreError> {
    let err = |reason| CoreError::Id {
        kind,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(err("empty"));
    }
    if value.len() > 128 {
        return Err(err("longer than 128 bytes"));
    }
    if value.starts_with('.') || value.contains("..") {
        return Err(err("must not start with '.' or contain '..'"));
    }
    let ok = value.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || (allow_slash && b == b'/')
    });
    if !ok {
        return Err(err(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $slash:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id.
            pub fn new(value: impl Into<String>) -> Result<Self, CoreError> {
                let value = value.into();
                check($kind, &value, $slash)?;
                Ok(Self(value))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = CoreError;
            fn try_from(value: String) -> Result<Self, CoreError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// Who contributed a drive (a person, a device owner or a fleet).
    ContributorId, "contributor", false
);
id_type!(
    /// One uploaded drive.
    DriveId, "drive", false
);
id_type!(
    /// One frame: `{drive_id}/{file stem}`.
    FrameId, "frame", true
);
id_type!(
    /// A map feature; stable across re-processing of the same input.
    FeatureId, "feature", false
);

impl FrameId {
    /// The frame id of file stem `stem` in drive `drive`.
    pub fn of(drive: &DriveId, stem: &str) -> Result<Self, CoreError> {
        Self::new(format!("{drive}/{stem}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_safe_alphabet() {
        assert_eq!(
            ContributorId::new("alice_01-x").unwrap().as_str(),
            "alice_01-x"
        );
        assert!(FrameId::new("drive-1/000123").is_ok());
    }

    #[test]
    fn ids_reject_path_tricks_and_odd_characters() {
        assert!(ContributorId::new("").is_err());
        assert!(ContributorId::new("../etc").is_err());
        assert!(ContributorId::new("a/b").is_err());
        assert!(DriveId::new("héllo").is_err());
        assert!(DriveId::new("x".repeat(129)).is_err());
    }

    #[test]
    fn ids_round_trip_through_serde_and_validate_on_the_way_in() {
        let id = DriveId::new("d1").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"d1\"");
        assert!(serde_json::from_str::<DriveId>("\"a b\"").is_err());
    }
}

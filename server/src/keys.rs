//! Contributor API keys for the upload API (`streetcomb keys ...`).
//!
//! A key is `sc_` followed by 64 hex digits (32 random bytes). Only its SHA-256 is
//! stored, with the contributor it authenticates, in the blob [`KEYS_BLOB`]; the key
//! itself is printed once when created. SHA-256 (not a slow password hash) is enough
//! because keys are 256-bit random values: there is nothing to brute-force.
//!
//! The key file is read on every authenticated request, so a revocation takes effect
//! at once, and rewritten whole with one atomic put by the `keys` subcommands (one
//! administrator at a time: concurrent `keys create` runs may lose one of the keys).

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streetcomb_core::ContributorId;
use streetcomb_datasets::Store;
use streetcomb_pipeline::{Context, Result, invalid};

/// Where key hashes live in the store.
pub const KEYS_BLOB: &str = "auth/keys.json";
/// Every key starts with this, so a leaked one is easy to recognise (and grep for).
pub const KEY_PREFIX: &str = "sc_";

/// One stored key: never the key itself, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    /// A short public handle for listing and revoking (the first 8 hex digits of the hash).
    pub id: String,
    pub contributor: String,
    /// SHA-256 of the whole key text, in hex.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyFile {
    pub keys: Vec<KeyRecord>,
}

/// A freshly created key: `key` is shown to the administrator once and never stored.
#[derive(Debug, Serialize)]
pub struct NewKey {
    pub id: String,
    pub contributor: String,
    pub key: String,
}

fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn load(store: &Store) -> Result<KeyFile> {
    match store.get_blob(KEYS_BLOB).await? {
        None => Ok(KeyFile::default()),
        Some(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{KEYS_BLOB} in {}: not a key file", store.location())),
    }
}

async fn save(store: &Store, file: &KeyFile) -> Result<()> {
    store
        .put_blob(KEYS_BLOB, serde_json::to_vec_pretty(file)?)
        .await?;
    Ok(())
}

/// Creates a key for `contributor` and stores its hash.
pub async fn create(store: &Store, contributor: &ContributorId) -> Result<NewKey> {
    let mut bytes = [0u8; 32];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let sha = hex::encode(hash_key(&key));
    let mut file = load(store).await?;
    let id = sha[..8].to_owned();
    file.keys.push(KeyRecord {
        id: id.clone(),
        contributor: contributor.to_string(),
        sha256: sha,
        created_at: Utc::now(),
        revoked_at: None,
    });
    save(store, &file).await?;
    Ok(NewKey {
        id,
        contributor: contributor.to_string(),
        key,
    })
}

/// Revokes the key with this id; revoking an already revoked key is not an error.
pub async fn revoke(store: &Store, id: &str) -> Result<KeyRecord> {
    let mut file = load(store).await?;
    let Some(rec) = file.keys.iter_mut().find(|k| k.id == id) else {
        invalid!("no key with id {id:?} (see `streetcomb keys list`)");
    };
    rec.revoked_at.get_or_insert_with(Utc::now);
    let out = rec.clone();
    save(store, &file).await?;
    Ok(out)
}

/// The contributor a presented key belongs to, if it is a live key. Every stored hash
/// is compared in constant time, so the answer's timing says nothing about the keys.
pub fn authenticate(file: &KeyFile, presented: &str) -> Option<ContributorId> {
    let want = hash_key(presented);
    let mut found = None;
    for k in &file.keys {
        let Ok(stored) = hex::decode(&k.sha256) else {
            continue;
        };
        if constant_time_eq(&stored, &want) && k.revoked_at.is_none() {
            found = ContributorId::new(k.contributor.clone()).ok();
        }
    }
    found
}

/// `streetcomb keys ...`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key for a contributor; the key is printed once and only its hash kept.
    Create { contributor: ContributorId },
    /// List keys (ids, contributors, dates; never the keys).
    List,
    /// Revoke a key by its id (from `keys list`); takes effect on the next request.
    Revoke { id: String },
}

pub async fn run(store: &Store, command: KeysCommand, json: bool) -> Result<()> {
    match command {
        KeysCommand::Create { contributor } => {
            let k = create(store, &contributor).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&k)?);
            } else {
                eprintln!(
                    "key {} for {}: shown once, store it now (uploads read it from STREETCOMB_API_KEY)",
                    k.id, k.contributor
                );
                println!("{}", k.key);
            }
        }
        KeysCommand::List => {
            let file = load(store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&file.keys)?);
            } else {
                for k in &file.keys {
                    let state = match k.revoked_at {
                        Some(t) => format!("revoked {}", t.format("%Y-%m-%d %H:%M")),
                        None => "active".to_owned(),
                    };
                    println!(
                        "{}  {:<24} created {}  {state}",
                        k.id,
                        k.contributor,
                        k.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let k = revoke(store, &id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&k)?);
            } else {
                println!("revoked key {} of {}", k.id, k.contributor);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_created_key_authenticates_its_contributor_until_revoked_and_only_its_hash_is_stored()
    {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path().to_str().unwrap()).await.unwrap();
        let alice = ContributorId::new("alice").unwrap();
        let k = create(&store, &alice).await.unwrap();
        assert!(
            k.key.starts_with(KEY_PREFIX) && k.key.len() == 67,
            "{}",
            k.key
        );
        let stored = String::from_utf8(store.get_blob(KEYS_BLOB).await.unwrap().unwrap()).unwrap();
        assert!(!stored.contains(&k.key[3..]), "the key itself was stored");

        let file = load(&store).await.unwrap();
        assert_eq!(authenticate(&file, &k.key), Some(alice));
        assert_eq!(authenticate(&file, "sc_0000"), None);
        assert_eq!(authenticate(&file, ""), None);

        revoke(&store, &k.id).await.unwrap();
        assert_eq!(authenticate(&load(&store).await.unwrap(), &k.key), None);
        assert!(revoke(&store, "nope").await.is_err());
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

//! Rewards: per-epoch, per-cell scoring of contributions into an integer ledger.

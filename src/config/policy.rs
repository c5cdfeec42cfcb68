//! Retention policies, one per partitioned table, from `rez-db.yaml`:
//!
//! ```yaml
//! partitions:
//!   orders: { premake: 3, retain: 24, archive_dir: /var/backups/rez, drop: true }
//!   audit_log: { retain: 13, drop: true }
//! ```
//!
//! The interval is the schema's (orders and audit_log monthly,
//! wallet_transactions quarterly), not a setting.

use std::path::PathBuf;

use serde::Deserialize;

/// What to keep and what to do with what ages out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Future partitions kept ready beyond the current one.
    #[serde(default = "default_premake")]
    pub premake: u32,
    /// Periods kept, the current one included; older partitions are detached.
    /// None keeps everything.
    #[serde(default)]
    pub retain: Option<u32>,
    /// Where detached partitions are archived with pg_dump before any drop.
    #[serde(default)]
    pub archive_dir: Option<PathBuf>,
    /// Drop detached partitions (after the archive, when one is configured).
    #[serde(default)]
    pub drop: bool,
}

fn default_premake() -> u32 {
    3
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            premake: default_premake(),
            retain: None,
            archive_dir: None,
            drop: false,
        }
    }
}

//! Where the reference seed files come from: the copy embedded in the binary
//! at build time (`seeds/`, like `migrations/`), or a directory the user
//! gives (tests, and users who keep their own reference data). It never
//! names a flag: a directory that lacks a file is the face's to explain.
//!
//! This module only reads bytes and names them for error messages; it never
//! interprets them (that is `crate::definitions::reference`).

use std::path::PathBuf;

use include_dir::{include_dir, Dir};

use crate::config::yaml;
use crate::error::{CommandError, Remedy};

static SEEDS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/seeds");

use crate::definitions::reference::{self, ReferenceData};
pub use crate::definitions::reference::{
    SeedFile, ALL, APP_SETTINGS, CATEGORIES, COLLEGES, LOYALTY_TIERS,
};

/// Where to read the seed files from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedSource {
    /// The files compiled into this binary.
    Embedded,
    /// A directory holding the same four file names.
    Dir(PathBuf),
}

/// Reads the four files from `source` and checks them.
pub fn load(source: &SeedSource) -> Result<ReferenceData, CommandError> {
    let [a, b, c, d] = ALL.map(|name| source.read(name));
    reference::parse([&a?, &b?, &c?, &d?])
}

impl SeedSource {
    /// Reads file `name` (one of [`ALL`]).
    pub fn read(&self, name: &str) -> Result<SeedFile, CommandError> {
        match self {
            SeedSource::Embedded => {
                let file = SEEDS_DIR
                    .get_file(name)
                    .and_then(|f| f.contents_utf8())
                    .ok_or_else(|| {
                        CommandError::bug(format!("seeds/{name} is not embedded in this binary"))
                    })?;
                Ok(SeedFile {
                    shown: format!("seeds/{name}"),
                    text: file.to_string(),
                })
            }
            SeedSource::Dir(dir) => {
                let path = dir.join(name);
                let text = yaml::read_within(&path, "seed file", yaml::MAX_SEED_BYTES)
                    .map_err(|e| e.with_remedy(Remedy::SeedsDir))?;
                Ok(SeedFile {
                    shown: path.display().to_string(),
                    text,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_file_is_embedded() {
        for name in ALL {
            let file = SeedSource::Embedded.read(name).unwrap();
            assert_eq!(file.shown, format!("seeds/{name}"));
            assert!(!file.text.trim().is_empty());
        }
    }

    #[test]
    fn a_missing_directory_is_a_usage_error_naming_the_path() {
        let err = SeedSource::Dir(PathBuf::from("/nonexistent/seeds"))
            .read(APP_SETTINGS)
            .unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Usage);
        assert!(err.message.contains("/nonexistent/seeds/app_settings.yaml"));
    }

    #[test]
    fn a_seed_file_nested_without_end_is_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(APP_SETTINGS), "[".repeat(100_000)).unwrap();
        let err = SeedSource::Dir(dir.path().to_path_buf())
            .read(APP_SETTINGS)
            .unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Usage);
        assert!(err.message.contains("nested deeper than"), "{err}");
    }

    #[test]
    fn the_shipped_seeds_parse() {
        let data = load(&SeedSource::Embedded).unwrap();
        let keys: Vec<&str> = data.settings.iter().map(|s| s.key.as_str()).collect();
        for required in [
            "coin_to_inr_rate",
            "referral_reward_coins",
            "referee_reward_coins",
            "min_app_version_android",
            "min_app_version_ios",
            "maintenance_mode",
            "promo_coin_default_validity_days",
            "max_coins_per_order_percent",
        ] {
            assert!(keys.contains(&required), "{required} missing");
        }
        assert!(data.settings.iter().all(|s| s.description.is_some()));
        assert!(data.categories.iter().any(|c| c.level == 2));
        assert_eq!(
            data.tiers
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>(),
            ["Bronze", "Silver", "Gold", "Platinum"]
        );
        assert!(data.colleges.len() >= 5);
    }
}

//! Where the reference seed files come from: the copy embedded in the binary
//! at build time (`seeds/`, like `migrations/`), or a directory given with
//! `--seeds-dir` (tests, and users who keep their own reference data).
//!
//! This module only reads bytes and names them for error messages; it never
//! interprets them (that is [`super::reference`]).

use std::path::PathBuf;

use include_dir::{include_dir, Dir};

use crate::error::CommandError;

static SEEDS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/seeds");

/// The four files, by the table they fill.
pub const APP_SETTINGS: &str = "app_settings.yaml";
pub const CATEGORIES: &str = "categories.yaml";
pub const LOYALTY_TIERS: &str = "loyalty_tiers.yaml";
pub const COLLEGES: &str = "colleges.yaml";
pub const ALL: [&str; 4] = [APP_SETTINGS, CATEGORIES, LOYALTY_TIERS, COLLEGES];

/// Where to read the seed files from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedSource {
    /// The files compiled into this binary.
    Embedded,
    /// A directory holding the same four file names.
    Dir(PathBuf),
}

/// One seed file's text and the name to show in messages.
#[derive(Debug, Clone)]
pub struct SeedFile {
    /// `seeds/app_settings.yaml` (embedded) or the path under `--seeds-dir`.
    pub shown: String,
    pub text: String,
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
                let text =
                    crate::config::yaml::read_within(&path, "seed file", crate::config::yaml::MAX_SEED_BYTES)
                        .map_err(|e| {
                            e.with_hint(format!(
                            "--seeds-dir must hold {}; copy seeds/ from the rez-db repository as a start",
                            ALL.join(", ")
                        ))
                        })?;
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
}

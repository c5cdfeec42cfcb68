//! The four datastores by name, for `--only`, `stores:` in rez-db.yaml and
//! `REZ_DB_STORES`, and for the `store` column of every report.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[serde(alias = "pg", alias = "postgresql")]
    Postgres,
    #[serde(alias = "mongo")]
    Mongodb,
    Redis,
    #[serde(alias = "es")]
    Elasticsearch,
}

impl StoreKind {
    /// Every store, in the order commands visit them.
    pub const ALL: [StoreKind; 4] = [
        StoreKind::Postgres,
        StoreKind::Mongodb,
        StoreKind::Redis,
        StoreKind::Elasticsearch,
    ];

    /// The store's name in a sentence (`PostgreSQL`, `MongoDB`).
    pub fn display_name(self) -> &'static str {
        match self {
            StoreKind::Postgres => "PostgreSQL",
            StoreKind::Mongodb => "MongoDB",
            StoreKind::Redis => "Redis",
            StoreKind::Elasticsearch => "Elasticsearch",
        }
    }

    /// The name used in reports' `store` column.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Postgres => "postgres",
            StoreKind::Mongodb => "mongodb",
            StoreKind::Redis => "redis",
            StoreKind::Elasticsearch => "elasticsearch",
        }
    }

    /// Parses a comma-separated list (`pg,mongo,redis,es`); empty items are ignored.
    pub fn parse_list(text: &str) -> Result<Vec<StoreKind>, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let kind: StoreKind = item.parse()?;
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        out.sort();
        Ok(out)
    }
}

impl FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pg" | "postgres" | "postgresql" => Ok(StoreKind::Postgres),
            "mongo" | "mongodb" => Ok(StoreKind::Mongodb),
            "redis" => Ok(StoreKind::Redis),
            "es" | "elasticsearch" => Ok(StoreKind::Elasticsearch),
            other => Err(format!(
                "unknown store `{other}`: expected pg, mongo, redis or es"
            )),
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_with_aliases_in_a_fixed_order() {
        assert_eq!(
            StoreKind::parse_list("es, pg,mongo,es").unwrap(),
            [
                StoreKind::Postgres,
                StoreKind::Mongodb,
                StoreKind::Elasticsearch
            ]
        );
        assert!(StoreKind::parse_list("pg,mysql")
            .unwrap_err()
            .contains("mysql"));
    }
}

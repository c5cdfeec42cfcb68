//! What the reference design document says the PostgreSQL schema holds,
//! read from the document itself (fixtures/reference/, a copy of
//! shared/reference/) so that the schema test cannot agree with our own
//! migrations by construction.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

#[derive(Debug, Default)]
pub struct Column {
    pub name: String,
    /// The reference's type word: UUID, VARCHAR, DECIMAL, ...
    pub ty: String,
    /// `(255)` or `(10, 2)` arguments, if any.
    pub args: Vec<i32>,
    pub not_null: bool,
    pub has_default: bool,
    pub references: Option<String>,
    pub on_delete_cascade: bool,
}

#[derive(Debug, Default)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Column sets that must be unique (inline UNIQUE, table UNIQUE(...)).
    pub uniques: Vec<Vec<String>>,
    pub checks: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Reference {
    pub tables: BTreeMap<String, Table>,
    pub indexes: BTreeSet<String>,
    pub partitioned: BTreeSet<String>,
    pub materialized_views: BTreeSet<String>,
    pub policies: Vec<(String, String)>,
    pub triggers: Vec<(String, String)>,
}

pub fn load() -> Reference {
    let text = std::fs::read_to_string(super::common::repo_path(
        "fixtures/reference/rez-database-schema-design.md",
    ))
    .expect("fixtures/reference/rez-database-schema-design.md");
    parse(&text)
}

/// The SQL code blocks of the document, outside the MongoDB/Redis/Elasticsearch parts.
fn sql_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sql") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

pub fn parse(text: &str) -> Reference {
    let mut reference = Reference::default();
    let create_table = Regex::new(r"^CREATE TABLE (\w+) \($").unwrap();
    let column = Regex::new(
        r"^\s+([a-z_][a-z0-9_]*) (UUID|VARCHAR|TEXT|INTEGER|BOOLEAN|DATE|TIMESTAMP|DECIMAL|JSONB|INET)(\(([\d, ]+)\))?(.*)$",
    )
    .unwrap();
    let references = Regex::new(r"REFERENCES (\w+)\(id\)").unwrap();
    let table_unique = Regex::new(r"^\s+UNIQUE\(([^)]+)\)").unwrap();
    let check = Regex::new(r"^\s+CONSTRAINT (\w+) CHECK").unwrap();
    let inline_index = Regex::new(r"^\s+INDEX (\w+)").unwrap();
    let create_index = Regex::new(r"CREATE (?:UNIQUE )?INDEX (\w+) ON").unwrap();
    let partition_by = Regex::new(r"^\) PARTITION BY RANGE").unwrap();
    let matview = Regex::new(r"CREATE MATERIALIZED VIEW (\w+)").unwrap();
    let policy = Regex::new(r"CREATE POLICY (\w+) ON (\w+)").unwrap();
    let trigger = Regex::new(r"CREATE TRIGGER (\w+)\s+(?:.*\s)*?.*? ON (\w+)").unwrap();

    for block in sql_blocks(text) {
        let mut table: Option<Table> = None;
        for line in block.lines() {
            if let Some(c) = create_index.captures(line) {
                reference.indexes.insert(c[1].to_string());
            }
            if let Some(c) = matview.captures(line) {
                reference.materialized_views.insert(c[1].to_string());
            }
            if let Some(c) = policy.captures(line) {
                reference
                    .policies
                    .push((c[1].to_string(), c[2].to_string()));
            }
            if let Some(c) = create_table.captures(line) {
                table = Some(Table {
                    name: c[1].to_string(),
                    ..Default::default()
                });
                continue;
            }
            let Some(t) = table.as_mut() else { continue };
            if line.starts_with(')') {
                let done = table.take().unwrap();
                if partition_by.is_match(line) {
                    reference.partitioned.insert(done.name.clone());
                }
                // The partitioning section repeats orders/wallet_transactions with
                // only two columns: keep the full definition.
                let full = reference
                    .tables
                    .get(&done.name)
                    .map_or(0, |t| t.columns.len());
                if done.columns.len() > full {
                    reference.tables.insert(done.name.clone(), done);
                }
                continue;
            }
            if let Some(c) = inline_index.captures(line) {
                reference.indexes.insert(c[1].to_string());
            } else if let Some(c) = table_unique.captures(line) {
                t.uniques
                    .push(c[1].split(',').map(|s| s.trim().to_string()).collect());
            } else if let Some(c) = check.captures(line) {
                t.checks.push(c[1].to_string());
            } else if let Some(c) = column.captures(line) {
                let rest = c.get(5).map_or("", |m| m.as_str());
                let definition = rest.split("--").next().unwrap_or("");
                let col = Column {
                    name: c[1].to_string(),
                    ty: c[2].to_string(),
                    args: c
                        .get(4)
                        .map(|m| {
                            m.as_str()
                                .split(',')
                                .map(|n| n.trim().parse().unwrap())
                                .collect()
                        })
                        .unwrap_or_default(),
                    not_null: definition.contains("NOT NULL") || definition.contains("PRIMARY KEY"),
                    has_default: definition.contains("DEFAULT"),
                    references: references.captures(definition).map(|r| r[1].to_string()),
                    on_delete_cascade: definition.contains("ON DELETE CASCADE"),
                };
                if definition.contains("UNIQUE") {
                    t.uniques.push(vec![col.name.clone()]);
                }
                t.columns.push(col);
            }
        }
    }
    // Triggers span lines: match over whole blocks.
    for block in sql_blocks(text) {
        for c in trigger.captures_iter(&block) {
            reference
                .triggers
                .push((c[1].to_string(), c[2].to_string()));
        }
    }
    reference
}

#[test]
fn the_parser_reads_the_whole_reference() {
    let r = load();
    // 32 tables in "PostgreSQL Schema" plus audit_log from "Security Considerations".
    assert_eq!(
        r.tables.len(),
        33,
        "{:?}",
        r.tables.keys().collect::<Vec<_>>()
    );
    assert_eq!(r.tables["users"].columns.len(), 22);
    assert!(r.tables["orders"].columns.len() > 30);
    assert!(
        r.indexes.contains("idx_users_phone") && r.indexes.contains("idx_merchants_location_gist")
    );
    assert!(r.indexes.contains("idx_merchant_stats_id"));
    assert_eq!(
        r.partitioned,
        ["orders", "wallet_transactions"].map(String::from).into()
    );
    assert_eq!(
        r.policies,
        [("merchant_isolation".to_string(), "merchants".to_string())]
    );
    assert_eq!(
        r.triggers,
        [("audit_merchants".to_string(), "merchants".to_string())]
    );
    let wallet = &r.tables["wallets"]
        .columns
        .iter()
        .find(|c| c.name == "user_id")
        .unwrap();
    assert!(
        wallet.on_delete_cascade
            && wallet.not_null
            && wallet.references.as_deref() == Some("users")
    );
}

//! After `create` + `migrate` on an empty database, everything the reference
//! declares exists: tables, columns (type, nullability, defaults), unique
//! sets, checks, foreign keys and cascades, indexes, partitions, policies,
//! triggers, the materialized view. Deliberate deviations are read from
//! docs/schema.md, never hard-coded here.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;

use super::common::{repo_path, TestDb};
use super::reference;

/// Rows of the markdown table under `heading` in docs/schema.md: first two
/// backticked cells of each row.
fn schema_doc_pairs(heading: &str) -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(repo_path("docs/schema.md")).unwrap();
    let section = doc
        .split(&format!("{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/schema.md has no section `{heading}`"));
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect()
}

async fn strings(conn: &mut PgConnection, sql: &str) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(sql)
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn every_reference_object_exists_after_migrate() {
    let db = TestDb::migrated("schema").await;
    let mut conn = db.conn().await;
    let r = reference::load();
    let mut missing: Vec<String> = Vec::new();

    let tables = strings(
        &mut conn,
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND relkind IN ('r', 'p') AND NOT relispartition",
    )
    .await;
    for name in r.tables.keys() {
        if !tables.contains(name) {
            missing.push(format!("table {name}"));
        }
    }

    // Columns: type, length/precision, NOT NULL, DEFAULT.
    type ColumnRow = (
        String,
        String,
        String,
        Option<i32>,
        Option<i32>,
        Option<i32>,
        bool,
        bool,
    );
    let rows: Vec<ColumnRow> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, character_maximum_length::int, \
                numeric_precision::int, numeric_scale::int, is_nullable = 'YES', column_default IS NOT NULL \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let retyped = schema_doc_pairs("### Column types that differ from the reference");
    let live: BTreeMap<(String, String), ColumnRow> = rows
        .into_iter()
        .map(|row| ((row.0.clone(), row.1.clone()), row))
        .collect();
    for table in r.tables.values() {
        for col in &table.columns {
            let Some(row) = live.get(&(table.name.clone(), col.name.clone())) else {
                missing.push(format!("column {}.{}", table.name, col.name));
                continue;
            };
            let (_, _, ty, len, precision, scale, nullable, has_default) = row;
            let what = format!("{}.{}", table.name, col.name);
            // TIMESTAMP becomes timestamptz (docs/schema.md, "Types"); other
            // changed types are listed in docs/schema.md.
            let documented = retyped
                .iter()
                .find(|(c, _)| c == &what)
                .map(|(_, t)| t.as_str());
            let expected = documented.unwrap_or(match col.ty.as_str() {
                "UUID" => "uuid",
                "VARCHAR" => "character varying",
                "TEXT" => "text",
                "INTEGER" => "integer",
                "BOOLEAN" => "boolean",
                "DATE" => "date",
                "TIMESTAMP" => "timestamp with time zone",
                "DECIMAL" => "numeric",
                "JSONB" => "jsonb",
                "INET" => "inet",
                other => panic!("unmapped reference type {other}"),
            });
            if ty != expected {
                missing.push(format!("{what} has type {ty}, expected {expected}"));
            }
            match (
                if documented.is_some() {
                    ""
                } else {
                    col.ty.as_str()
                },
                col.args.as_slice(),
            ) {
                ("VARCHAR", [n]) if *len != Some(*n) => {
                    missing.push(format!("{what} length {len:?}, reference {n}"))
                }
                ("DECIMAL", [p, s]) if (*precision, *scale) != (Some(*p), Some(*s)) => missing
                    .push(format!(
                        "{what} numeric({precision:?},{scale:?}), reference ({p},{s})"
                    )),
                _ => {}
            }
            if col.not_null && *nullable {
                missing.push(format!("{what} should be NOT NULL"));
            }
            if col.has_default && !has_default {
                missing.push(format!("{what} lost its DEFAULT"));
            }
        }
    }

    // Unique column sets; a partitioned table's must add the partition key.
    let uniques: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attname) \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
         WHERE i.indisunique AND NOT c.relispartition GROUP BY i.indexrelid, c.relname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in r.tables.values() {
        for cols in &table.uniques {
            let mut want: Vec<String> = cols.clone();
            if r.partitioned.contains(&table.name) {
                want.push("created_at".into());
            }
            want.sort();
            if !uniques.iter().any(|(t, c)| t == &table.name && c == &want) {
                missing.push(format!("UNIQUE {}({})", table.name, want.join(", ")));
            }
        }
    }

    let checks = strings(
        &mut conn,
        "SELECT conname::text FROM pg_constraint WHERE contype = 'c'",
    )
    .await;
    for table in r.tables.values() {
        for check in &table.checks {
            if !checks.contains(check) {
                missing.push(format!("CHECK {check} on {}", table.name));
            }
        }
    }

    // Foreign keys, except the references docs/schema.md says `validate` checks instead.
    let checked: BTreeSet<String> = schema_doc_pairs("## Checked references")
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert!(
        !checked.is_empty(),
        "docs/schema.md lists no checked references"
    );
    let fks: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text, c.confdeltype::text \
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND c.conparentid = 0",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in r.tables.values() {
        for col in table.columns.iter().filter(|c| c.references.is_some()) {
            let key = format!("{}.{}", table.name, col.name);
            let target = col.references.clone().unwrap();
            if checked.contains(&key) {
                continue;
            }
            match fks
                .iter()
                .find(|(t, c, _, _)| t == &table.name && c == &col.name)
            {
                None => missing.push(format!("FOREIGN KEY {key} -> {target}")),
                Some((_, _, to, _)) if to != &target => {
                    missing.push(format!("{key} references {to}, not {target}"))
                }
                Some((_, _, _, del)) if col.on_delete_cascade && del != "c" => {
                    missing.push(format!("{key} must cascade on delete"))
                }
                _ => {}
            }
        }
    }

    // Indexes: every name the reference gives, or the documented index serving it.
    let indexes = strings(
        &mut conn,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('i', 'I')",
    )
    .await;
    let served: BTreeMap<String, String> =
        schema_doc_pairs("## Reference indexes served by another index")
            .into_iter()
            .collect();
    for name in &r.indexes {
        let actual = served.get(name).unwrap_or(name);
        if !indexes.contains(actual) {
            missing.push(format!("index {name}"));
        }
    }

    // Partitioned tables: partitioned, with a DEFAULT partition and the current period's.
    for table in &r.partitioned {
        let (default_partition, current): (Option<String>, Option<String>) = sqlx::query_as(&format!(
            "SELECT (SELECT partdefid::regclass::text FROM pg_partitioned_table WHERE partrelid = '{table}'::regclass AND partdefid <> 0), \
                    (SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     WHERE i.inhparent = '{table}'::regclass AND c.relname <> '{table}_default' \
                       AND pg_get_expr(c.relpartbound, c.oid) LIKE '%' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-') || '%' LIMIT 1)"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{table} is not partitioned: {e}"));
        if default_partition.is_none() {
            missing.push(format!("DEFAULT partition of {table}"));
        }
        if current.is_none() {
            missing.push(format!("a partition of {table} for the current year"));
        }
    }

    for (policy, table) in &r.policies {
        let ok: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_policies WHERE policyname = $1 AND tablename = $2) \
             AND (SELECT relrowsecurity FROM pg_class WHERE relname = $2 AND relkind IN ('r','p'))",
        )
        .bind(policy)
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if !ok {
            missing.push(format!("policy {policy} with RLS enabled on {table}"));
        }
    }
    for (trigger, table) in &r.triggers {
        let ok: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = $1 AND tgrelid = $2::regclass)",
        )
        .bind(trigger)
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if !ok {
            missing.push(format!("trigger {trigger} on {table}"));
        }
    }
    let matviews = strings(&mut conn, "SELECT matviewname::text FROM pg_matviews").await;
    for view in &r.materialized_views {
        if !matviews.contains(view) {
            missing.push(format!("materialized view {view}"));
        }
    }
    let grants: (bool, bool) = sqlx::query_as(
        "SELECT has_table_privilege('app_admin', 'orders', 'DELETE'), has_table_privilege('app_user', 'users', 'UPDATE')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    if grants != (true, true) {
        missing.push(format!("grants to app_admin/app_user: {grants:?}"));
    }

    assert!(
        missing.is_empty(),
        "missing after migrate:\n  {}",
        missing.join("\n  ")
    );
}

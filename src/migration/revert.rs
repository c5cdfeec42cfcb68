//! What `migrate revert --to VERSION` would run, and whether it may: the down
//! files of every applied migration above VERSION, newest first. Refused,
//! before anything runs, when the history diverges from the files, when a
//! migration in the range has no down file, or when a down file would
//! destroy the rows of a ledger table (`crate::domain::ledger::LEDGER_TABLES`)
//! that holds rows, unless forced.
//!
//! Pure: the operation reads the history and which ledger tables hold rows.

use super::plan::{verify, Applied, Divergence};
use super::source::Migration;
use super::split::statements;
use crate::domain::ledger::LEDGER_TABLES;

/// Why a revert is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertError {
    Diverged(Vec<Divergence>),
    /// VERSION is neither 0 nor a migration of the set.
    UnknownTarget(i64),
    /// These migrations (file names) have no down file.
    NoDown(Vec<String>),
    /// These down files would destroy rows of these ledger tables: `(file, table)`.
    DestroysLedger(Vec<(String, String)>),
}

/// The migrations to revert, newest first.
pub fn plan_revert<'a>(
    local: &'a [Migration],
    applied: &[Applied],
    target: i64,
    ledger_has_rows: &dyn Fn(&str) -> bool,
    force: bool,
) -> Result<Vec<&'a Migration>, RevertError> {
    let divergences = verify(local, applied);
    if !divergences.is_empty() {
        return Err(RevertError::Diverged(divergences));
    }
    if target != 0 && !local.iter().any(|m| m.version == target) {
        return Err(RevertError::UnknownTarget(target));
    }
    let mut range: Vec<&Migration> = local
        .iter()
        .filter(|m| m.version > target && applied.iter().any(|a| a.version == m.version))
        .collect();
    range.sort_by_key(|m| std::cmp::Reverse(m.version));
    let no_down: Vec<String> = range
        .iter()
        .filter(|m| m.down.is_none())
        .map(|m| m.file_name.clone())
        .collect();
    if !no_down.is_empty() {
        return Err(RevertError::NoDown(no_down));
    }
    if !force {
        let destroyed: Vec<(String, String)> = range
            .iter()
            .filter_map(|m| m.down.as_ref())
            .flat_map(|d| {
                destroyed_tables(&d.sql)
                    .into_iter()
                    .filter(|t| ledger_has_rows(t))
                    .map(|t| (d.file_name.clone(), t))
            })
            .collect();
        if !destroyed.is_empty() {
            return Err(RevertError::DestroysLedger(destroyed));
        }
    }
    Ok(range)
}

/// The ledger tables whose rows `sql` would destroy: `DROP TABLE`,
/// `TRUNCATE` or `DELETE FROM` naming them (comments and quotes as the
/// statement splitter reads them).
pub fn destroyed_tables(sql: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in statements(sql) {
        let words = words(statement.sql);
        let destroys = match words.as_slice() {
            [first, second, ..] if first == "drop" && second == "table" => true,
            [first, ..] if first == "truncate" => true,
            [first, second, ..] if first == "delete" && second == "from" => true,
            _ => false,
        };
        if !destroys {
            continue;
        }
        for table in LEDGER_TABLES {
            if words
                .iter()
                .any(|w| w == table || w == &format!("public.{table}"))
                && !found.iter().any(|f| f == table)
            {
                found.push(table.to_string());
            }
        }
    }
    found
}

/// The lowercase words of a statement without its `--` comment lines,
/// split on blanks, commas, semicolons and parentheses, quotes removed.
fn words(sql: &str) -> Vec<String> {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || ",;()".contains(c)))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('"', "").to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::plan::tests::applied_from as applied;
    use super::super::source::parse_set;
    use super::*;

    fn set(files: &[(&str, &str)]) -> Vec<Migration> {
        parse_set(
            "m",
            files.iter().map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .unwrap()
        .versioned
    }

    #[test]
    fn reverts_the_applied_ones_above_the_target_newest_first() {
        let local = set(&[
            ("0001_a.sql", "CREATE TABLE a();"),
            ("0001_a.down.sql", "DROP TABLE a;"),
            ("0002_b.sql", "CREATE TABLE b();"),
            ("0002_b.down.sql", "DROP TABLE b;"),
            ("0003_c.sql", "CREATE TABLE c();"),
            ("0003_c.down.sql", "DROP TABLE c;"),
        ]);
        let history = applied(&local, &[1, 2]);
        let none = |_: &str| false;
        let range = plan_revert(&local, &history, 0, &none, false).unwrap();
        assert_eq!(range.iter().map(|m| m.version).collect::<Vec<_>>(), [2, 1]);
        let range = plan_revert(&local, &history, 1, &none, false).unwrap();
        assert_eq!(range.iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
        assert!(plan_revert(&local, &history, 2, &none, false)
            .unwrap()
            .is_empty());
        assert_eq!(
            plan_revert(&local, &history, 7, &none, false),
            Err(RevertError::UnknownTarget(7))
        );
    }

    #[test]
    fn refuses_a_missing_down_and_a_ledger_with_rows_unless_forced() {
        let local = set(&[
            ("0001_a.sql", "CREATE TABLE wallets();"),
            ("0001_a.down.sql", "-- drop table orders is only a comment\nDROP TABLE IF EXISTS public.\"wallets\" CASCADE;"),
            ("0002_b.sql", "SELECT 1;"),
            ("0003_c.sql", "SELECT 1;"),
        ]);
        let history = applied(&local, &[1, 2, 3]);
        let none = |_: &str| false;
        assert_eq!(
            plan_revert(&local, &history, 0, &none, false),
            Err(RevertError::NoDown(vec![
                "0003_c.sql".into(),
                "0002_b.sql".into()
            ]))
        );
        let history = applied(&local, &[1]);
        let rows = |t: &str| t == "wallets";
        assert_eq!(
            plan_revert(&local, &history, 0, &rows, false),
            Err(RevertError::DestroysLedger(vec![(
                "0001_a.down.sql".into(),
                "wallets".into()
            )]))
        );
        assert_eq!(
            plan_revert(&local, &history, 0, &rows, true).unwrap().len(),
            1
        );
        // An empty ledger table loses nothing.
        assert_eq!(
            plan_revert(&local, &history, 0, &none, false)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn finds_drop_truncate_and_delete_of_ledger_tables_only() {
        assert_eq!(
            destroyed_tables(
                "TRUNCATE orders, payments; DELETE FROM audit_log WHERE true; DROP TABLE users;"
            ),
            ["payments", "orders", "audit_log"]
        );
        assert!(destroyed_tables("DROP INDEX idx_orders_user; ALTER TABLE orders DROP COLUMN x; SELECT 'drop table orders';").is_empty());
    }
}

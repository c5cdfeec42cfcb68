//! The catalogue of lint rules: for each, an id (what `lint-ignore` names),
//! a severity, why the statement is dangerous and the safe way to write it.
//! The checks themselves are in `check.rs`; docs/lint.md lists the same rules.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Exit 1: the migration locks, rewrites, breaks the application or loses money precision.
    Error,
    /// Reported, exit 0.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what the rule finds.
    pub title: &'static str,
    /// Why it is dangerous.
    pub why: &'static str,
    /// The safe way to write it.
    pub fix: &'static str,
}

use Severity::{Error, Warning};

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:expr, $title:literal, $why:literal, $fix:literal;)*) => {
        $(pub const $name: Rule = Rule { id: $id, severity: $sev, title: $title, why: $why, fix: $fix };)*
        /// Every rule, in the order docs/lint.md lists them.
        pub const ALL: &[Rule] = &[$($name),*];
    };
}

rules! {
    PARSE_ERROR = "parse-error", Error,
        "a statement PostgreSQL's parser rejects",
        "the migration fails at run time, and nothing after the error was linted",
        "fix the syntax; `rez-db lint` parses with PostgreSQL's own grammar";
    CREATE_INDEX_BLOCKING = "create-index-blocking", Error,
        "CREATE INDEX without CONCURRENTLY on a table an earlier file created",
        "a plain CREATE INDEX holds a SHARE lock for the whole build: every INSERT, UPDATE and DELETE on the table waits",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS in a file whose first line is `-- rez-db:no-transaction` (on a partitioned table: CREATE INDEX ON ONLY the parent, CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION)";
    CONCURRENTLY_IN_TRANSACTION = "concurrently-in-transaction", Error,
        "CONCURRENTLY inside a transaction",
        "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and DETACH PARTITION CONCURRENTLY refuse to run inside a transaction block: the migration fails at run time",
        "move the statement to its own file whose first line is `-- rez-db:no-transaction` (and outside any BEGIN ... COMMIT)";
    NOT_IDEMPOTENT = "not-idempotent", Error,
        "a statement of a no-transaction file that fails when run twice",
        "a no-transaction file is re-run whole after a failure, so a statement that already succeeded (CREATE without IF NOT EXISTS, DROP without IF EXISTS, ADD CONSTRAINT) fails the rerun forever",
        "add IF NOT EXISTS / IF EXISTS; guard an ADD CONSTRAINT in a DO block (or move it to a transactional file), so that every statement of the file can run again";
    ADD_COLUMN_NOT_NULL = "add-column-not-null", Error,
        "ADD COLUMN ... NOT NULL without a DEFAULT on an existing table",
        "the ALTER fails as soon as the table has a row, and holds an ACCESS EXCLUSIVE lock while it checks",
        "add the column nullable (or with a constant DEFAULT), backfill in batches, then add a CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL";
    ADD_COLUMN_REWRITE = "add-column-rewrite", Error,
        "ADD COLUMN with a volatile default, a serial type or a stored generated column on an existing table",
        "PostgreSQL must compute the value for every row: the whole table is rewritten under an ACCESS EXCLUSIVE lock, blocking reads and writes",
        "add the column without the default (or with a constant one), then SET DEFAULT for new rows and backfill old rows in batches";
    ALTER_COLUMN_TYPE = "alter-column-type", Error,
        "ALTER COLUMN ... TYPE that rewrites the table",
        "changing a column's type rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock (only varchar(n) to varchar(m > n) or text, and numeric(p,s) to numeric(q > p,s), are catalog-only)",
        "add a new column of the new type, backfill it in batches, switch the application, then drop the old column in a later release";
    CONSTRAINT_NOT_VALID = "constraint-not-valid", Error,
        "FOREIGN KEY or CHECK added to an existing table without NOT VALID",
        "validating the constraint scans the whole table (and, for a foreign key, locks the referenced table too) while holding a lock that blocks writes",
        "ADD CONSTRAINT ... NOT VALID in one migration, then ALTER TABLE ... VALIDATE CONSTRAINT in a later one (it takes only a SHARE UPDATE EXCLUSIVE lock)";
    VALIDATE_IN_SAME_TRANSACTION = "validate-in-same-transaction", Error,
        "a constraint added NOT VALID and validated in the same transaction",
        "the validation scan then runs while the transaction still holds the ACCESS EXCLUSIVE lock the ADD took, so NOT VALID gained nothing",
        "VALIDATE CONSTRAINT in a later migration (another transaction)";
    SET_NOT_NULL = "set-not-null", Error,
        "SET NOT NULL without a validated CHECK (col IS NOT NULL) first",
        "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock, unless a valid CHECK constraint already proves the column has no NULL",
        "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT c in a later transaction, then SET NOT NULL (no scan) and DROP CONSTRAINT c";
    ADD_UNIQUE_BLOCKING = "add-unique-blocking", Error,
        "ADD UNIQUE / PRIMARY KEY / EXCLUDE without USING INDEX of an index built concurrently",
        "the constraint builds its index under an ACCESS EXCLUSIVE lock: the table can be neither read nor written for the whole build",
        "CREATE UNIQUE INDEX CONCURRENTLY in a no-transaction file, then ALTER TABLE ... ADD CONSTRAINT c UNIQUE USING INDEX that_index";
    DROP_TABLE = "drop-table", Error,
        "DROP TABLE of a table an earlier migration created",
        "the running application still reads and writes it: every query on it fails from the moment of the drop",
        "stop using the table in a release first, then drop it in a later migration (with a lint-ignore saying so)";
    DROP_COLUMN = "drop-column", Error,
        "DROP COLUMN of an existing table",
        "the running application still names the column: its queries fail (and a SELECT * changes shape)",
        "stop reading and writing the column in a release first, then drop it in a later migration";
    RENAME = "rename", Error,
        "RENAME of a table or a column",
        "the running application still uses the old name: every query using it fails until the new release is deployed",
        "add the new column (or a view with the new name), write both, switch the readers, and drop the old one later";
    TRUNCATE = "truncate", Error,
        "TRUNCATE",
        "deletes every row at once under an ACCESS EXCLUSIVE lock (and with CASCADE, the rows of every referencing table): not recoverable without a backup",
        "delete the rows you mean with a WHERE, in batches, or drop the table in a planned release";
    DETACH_PARTITION_BLOCKING = "detach-partition-blocking", Error,
        "DETACH PARTITION without CONCURRENTLY",
        "a plain DETACH takes an ACCESS EXCLUSIVE lock on the partitioned parent: every query on the whole table waits",
        "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY in a no-transaction file (PostgreSQL 14+; not possible while the parent has a DEFAULT partition)";
    UPDATE_WITHOUT_WHERE = "update-without-where", Error,
        "UPDATE without WHERE",
        "rewrites every row of the table in one transaction: row locks on all of it, bloat, and a long-running statement",
        "update in batches with a WHERE on a key range, or write WHERE true if every row is really meant";
    DELETE_WITHOUT_WHERE = "delete-without-where", Error,
        "DELETE without WHERE",
        "deletes every row of the table",
        "delete in batches with a WHERE, or write WHERE true if every row is really meant";
    BACKFILL_WITH_DDL = "backfill-with-ddl", Error,
        "a data backfill (UPDATE, DELETE, INSERT ... SELECT) in the same transaction as DDL on the same table",
        "the DDL's ACCESS EXCLUSIVE lock is held until the transaction commits, so the table is blocked for the whole backfill",
        "put the backfill in its own migration (another transaction), in batches";
    DROP_INDEX_BLOCKING = "drop-index-blocking", Error,
        "DROP INDEX without CONCURRENTLY on an existing table",
        "a plain DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table: reads and writes wait",
        "DROP INDEX CONCURRENTLY IF EXISTS in a no-transaction file";
    TRANSACTION_CONTROL = "transaction-control", Error,
        "BEGIN, COMMIT or ROLLBACK where rez-db controls the transaction",
        "a transactional file already runs as one transaction together with its history row: a COMMIT inside ends it early (the history row is then written alone), and a BEGIN left open in a no-transaction file keeps its locks until the session ends",
        "leave transaction control to rez-db; in a `-- rez-db:no-transaction` file, close every BEGIN with a COMMIT";
    DROP_DATABASE = "drop-database", Error,
        "DROP DATABASE",
        "destroys every table and row of a database",
        "never drop a database from a migration";
    DOMAIN_CONSTRAINT = "domain-constraint", Error,
        "ALTER DOMAIN ... ADD CONSTRAINT without NOT VALID",
        "the new constraint is checked against every column of every table that uses the domain, under locks that block writes",
        "ADD CONSTRAINT ... NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT in a later migration";
    DROP_NOT_NULL = "drop-not-null", Warning,
        "DROP NOT NULL on an existing column",
        "the running application may rely on the column never being NULL",
        "make sure every reader handles NULL before the release that drops the constraint";
    MONEY_FLOAT = "money-float", Error,
        "money in a floating-point or `money` type",
        "real, double precision and float are binary approximations (0.1 + 0.2 <> 0.3): sums of money drift by fractions of a paisa; `money` depends on lc_monetary",
        "NUMERIC(p,2) for rupees, or an integer count of paise";
    MONEY_SCALE = "money-scale", Error,
        "a money column (amount, price, total, subtotal, fee, discount, balance, value, spend) in NUMERIC without scale 2",
        "a NUMERIC without scale 2 stores fractions of a paisa (or rounds to whole rupees), so ledger sums stop matching to the paisa",
        "NUMERIC(p,2), as every money column of the platform (docs/schema.md)";
    COIN_NOT_INTEGER = "coin-not-integer", Error,
        "a coin column in a fractional type",
        "coins are whole units: a fractional type lets balances and ledger rows hold fractions of a coin that no rule of the platform can spend",
        "INTEGER (or BIGINT) for coins; their rupee value goes in a separate NUMERIC(p,2) `..._value` column";
    LEDGER_DROP = "ledger-drop", Error,
        "a drop or truncate of a ledger table (wallet_transactions, wallets, payments, orders, promo_coins, audit_log)",
        "these tables are the platform's financial record and its audit trail: their rows are money and evidence",
        "never from a migration; old partitions leave through `rez-db partition-rotate`, which archives before it drops";
    LOCK_TIMEOUT_MISSING = "lock-timeout-missing", Error,
        "a statement that takes a lock on an existing table, in a file run by another tool, with no lock_timeout set before it",
        "a DDL statement waiting for its lock queues every later query on the table behind it: with no lock_timeout, one long transaction stops the application",
        "SET lock_timeout = '5s' (and statement_timeout) at the top of the file; `rez-db migrate` sets both itself";
    IGNORE_WITHOUT_REASON = "ignore-without-reason", Error,
        "a lint-ignore comment without a reason",
        "an ignore says that a hazard is intended; without the reason, nobody can tell whether it still is",
        "write `-- rez-db:lint-ignore RULE_ID: why this is safe here`";
    IGNORE_UNKNOWN_RULE = "ignore-unknown-rule", Error,
        "a lint-ignore naming no rule of rez-db",
        "a misspelt rule id silences nothing",
        "use a rule id of the catalogue (docs/lint.md)";
    IGNORE_UNUSED = "ignore-unused", Warning,
        "a lint-ignore that silences nothing",
        "the hazard it was written for is gone, or the comment is not on the line right before the statement",
        "remove it, or move it to the line before the statement";
}

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        for id in ids {
            assert!(
                id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{id}"
            );
        }
    }
}

/// The rules a down file (`NNNN_name.down.sql`, what `migrate revert` runs) is
/// not held to, because what they find is the down's purpose: undoing a
/// migration drops the tables and columns it added and renames back what it
/// renamed, and the application that used them has been rolled back first (a
/// revert is run for that). Dropping a ledger table is guarded where the
/// danger is known, at run time: `migrate revert` refuses a down that would
/// destroy ledger rows unless `--force`, while the same down on an empty
/// staging database is fine. Every other rule holds: a down runs against the
/// live tables under the same locks (a blocking index build or a rewrite is
/// as dangerous backwards), and a down must not truncate or lose money
/// precision either.
pub const NOT_FOR_DOWNS: &[&str] = &[DROP_TABLE.id, DROP_COLUMN.id, RENAME.id, LEDGER_DROP.id];

//! Loading into empty tables the way `pg_restore` does: the tables' indexes,
//! and the constraints that own indexes, are set aside for the load and built
//! again from their catalog definitions afterwards, in the same transaction.
//! Building a B-tree from sorted input once is several times cheaper than
//! inserting millions of keys into it one row at a time (measured in
//! docs/benchmarks.md), and nothing outside the transaction ever sees the
//! table without them: the drops hold an ACCESS EXCLUSIVE lock until commit,
//! and a rollback brings every index back.
//!
//! The caller must check the rows the set-aside constraints would have
//! checked (unique values, references): a violation surfaces only when the
//! rebuild fails, as an error that rolls everything back.
//!
//! [`take_if_empty`] is the way in for a load that shares the database with
//! readers (import-csv): it takes a table only if it is empty, and only the
//! locks it is granted at once. Which scopes to try is the caller's
//! decision; this module does the locking and the DDL, and never decides
//! what a load may lock.

use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::{code, quote_ident, set_local, sqlstate};

/// What to set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Plain indexes and the unique constraints no foreign key depends on.
    /// Foreign keys stay, so other connections can go on reading the
    /// referenced tables (DROP of a foreign key locks its parent).
    Indexes,
    /// Also the keys foreign keys reference, and those foreign keys (they
    /// lock the referencing tables); the tables' own foreign keys stay.
    Keys,
    /// Also the primary keys, every unique constraint and every foreign key
    /// from or to the tables: only for a load that is alone on the database.
    Everything,
}

/// One definition to run again after the load.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Definition {
    /// `public.users`, quoted.
    table: String,
    name: String,
    /// `CREATE INDEX ...` or `ALTER TABLE ... ADD CONSTRAINT ...`.
    create: String,
    /// `DROP INDEX ...` or `ALTER TABLE ... DROP CONSTRAINT ...`.
    drop: String,
}

/// The definitions set aside, in the order they are built again: primary and
/// unique constraints, then plain indexes, then foreign keys (which need the
/// keys they reference).
#[derive(Debug, Default)]
pub struct SetAside {
    rebuild: Vec<Definition>,
}

/// `maintenance_work_mem` for the rebuild: sorts of millions of keys in
/// memory instead of on disk (PostgreSQL's default is 64MB).
const REBUILD_MEMORY: &str = "512MB";

/// Drops the indexes and constraints of `tables` (names in `public`) that
/// `scope` covers and remembers how to build them again. Partitioned tables
/// are handled at the parent: its indexes and constraints cover the
/// partitions.
pub async fn set_aside(
    conn: &mut PgConnection,
    tables: &[&str],
    scope: Scope,
) -> Result<SetAside, sqlx::Error> {
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    // Foreign keys to the tables (Keys) or from or to them (Everything).
    // conparentid = 0: the partitions' clones go with their parent's.
    let foreign: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
           FROM pg_constraint c
          WHERE c.contype = 'f' AND c.conparentid = 0 AND $2
            AND (c.confrelid = ANY (SELECT format('public.%I', t)::regclass FROM unnest($1::text[]) t)
              OR ($3 AND c.conrelid = ANY (SELECT format('public.%I', t)::regclass FROM unnest($1::text[]) t)))
          ORDER BY 1, 2",
    )
    .bind(&names)
    .bind(scope != Scope::Indexes)
    .bind(scope == Scope::Everything)
    .fetch_all(&mut *conn)
    .await?;
    // Constraints that own an index. With Indexes, the ones a foreign key
    // references stay (dropping them would drop the foreign key).
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
           FROM pg_constraint c
          WHERE c.contype IN ('p', 'u', 'x') AND c.conparentid = 0
            AND c.conrelid = ANY (SELECT format('public.%I', t)::regclass FROM unnest($1::text[]) t)
            AND ($2 OR NOT EXISTS (SELECT 1 FROM pg_constraint f
                                    WHERE f.contype = 'f' AND f.conindid = c.conindid))
          ORDER BY 1, 2",
    )
    .bind(&names)
    .bind(scope != Scope::Indexes)
    .fetch_all(&mut *conn)
    .await?;
    // Indexes that no constraint owns (pg_get_indexdef gives the whole
    // CREATE INDEX, name and method and options included).
    // A partitioned table's index reads `ON ONLY parent`, which would build
    // it for the parent alone: without ONLY, every partition gets its own.
    let indexes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT i.indrelid::regclass::text, c.relname,
                regexp_replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ')
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = ANY (SELECT format('public.%I', t)::regclass FROM unnest($1::text[]) t)
            AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                             WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                               AND k.contype IN ('p', 'u', 'x'))
          ORDER BY 1, 2",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;

    let constraint = |(table, name, def): (String, String, String)| Definition {
        create: format!(
            "ALTER TABLE {table} ADD CONSTRAINT {} {def}",
            quote_ident(&name)
        ),
        drop: format!("ALTER TABLE {table} DROP CONSTRAINT {}", quote_ident(&name)),
        table,
        name,
    };
    let index = |(table, name, def): (String, String, String)| Definition {
        drop: format!("DROP INDEX public.{}", quote_ident(&name)),
        create: def,
        table,
        name,
    };
    let foreign: Vec<Definition> = foreign.into_iter().map(constraint).collect();
    let keys: Vec<Definition> = keys.into_iter().map(constraint).collect();
    let indexes: Vec<Definition> = indexes.into_iter().map(index).collect();

    // Drop in reverse dependency order: foreign keys before the keys they
    // reference.
    for d in foreign.iter().chain(&keys).chain(&indexes) {
        tracing::debug!("setting aside {} on {}", d.name, d.table);
        sqlx::raw_sql(&d.drop).execute(&mut *conn).await?;
    }
    let mut rebuild = keys;
    rebuild.extend(indexes);
    rebuild.extend(foreign);
    Ok(SetAside { rebuild })
}

/// Takes `table` (in `public`) for a load if it is empty: writers are
/// locked out first (SHARE ROW EXCLUSIVE) so that it stays empty, then the
/// first of the scopes `choose` picks that can be set aside is
/// ([`set_aside`]). `choose` gets the tables whose foreign keys reference
/// `table` (a wider scope locks them). None: the table holds rows, or no
/// lock was granted in time.
///
/// Each lock is waited for at most `lock_timeout`: a DROP waiting behind a
/// reader would queue every later query on the table behind it. A lock not
/// granted in time only costs speed (each step runs in a savepoint that
/// such a refusal rolls back): the keys stay, or all of the indexes, and
/// the rows go into the indexed table as into one with rows. The session's
/// own `lock_timeout` comes back after.
pub async fn take_if_empty(
    conn: &mut PgConnection,
    table: &str,
    lock_timeout: Duration,
    choose: impl FnOnce(&[String]) -> &'static [Scope],
) -> Result<Option<SetAside>, sqlx::Error> {
    let wait = format!("{}ms", lock_timeout.as_millis());
    let previous = set_local(conn, "lock_timeout", &wait).await?;
    let taken = take_empty(conn, table, choose).await?;
    // The COPY's foreign-key checks lock parent rows: they wait as before.
    set_local(conn, "lock_timeout", &previous).await?;
    Ok(taken)
}

fn lock_not_granted(e: &sqlx::Error) -> bool {
    code(e).as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE)
}

/// [`take_if_empty`]'s work, each step in a savepoint that a lock not
/// granted in time rolls back.
async fn take_empty(
    conn: &mut PgConnection,
    table: &str,
    choose: impl FnOnce(&[String]) -> &'static [Scope],
) -> Result<Option<SetAside>, sqlx::Error> {
    let quoted = format!("public.{}", quote_ident(table));
    let mut step = Connection::begin(&mut *conn).await?;
    let lock = format!("LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE");
    match sqlx::raw_sql(&lock).execute(&mut *step).await {
        Err(e) if lock_not_granted(&e) => {
            step.rollback().await?;
            return Ok(None);
        }
        other => other.map(|_| ())?,
    }
    let empty: bool = sqlx::query_scalar(&format!("SELECT NOT EXISTS (SELECT 1 FROM {quoted})"))
        .fetch_one(&mut *step)
        .await?;
    if !empty {
        step.commit().await?;
        return Ok(None);
    }
    let children: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint
          WHERE contype = 'f' AND confrelid = format('public.%I', $1::text)::regclass",
    )
    .bind(table)
    .fetch_all(&mut *step)
    .await?;
    for &scope in choose(&children) {
        let mut attempt = Connection::begin(&mut *step).await?;
        match set_aside(&mut attempt, &[table], scope).await {
            Ok(set_aside) => {
                attempt.commit().await?;
                step.commit().await?;
                return Ok(Some(set_aside));
            }
            Err(e) if lock_not_granted(&e) => {
                tracing::info!("{quoted}: {scope:?} not set aside: {e}");
                attempt.rollback().await?;
            }
            Err(e) => return Err(e),
        }
    }
    step.commit().await?;
    Ok(None)
}

impl SetAside {
    /// The names of the indexes and constraints set aside.
    pub fn names(&self) -> Vec<String> {
        self.rebuild.iter().map(|d| d.name.clone()).collect()
    }

    /// Builds everything again, with memory for in-memory sorts and without
    /// the statement timeout (a rebuild's time grows with the rows loaded;
    /// the previous timeout comes back after).
    pub async fn rebuild(self, conn: &mut PgConnection) -> Result<Duration, sqlx::Error> {
        let started = std::time::Instant::now();
        if self.rebuild.is_empty() {
            return Ok(started.elapsed());
        }
        // Never less than the session has.
        let memory: String = sqlx::query_scalar(
            "SELECT greatest(pg_size_bytes($1), pg_size_bytes(current_setting('maintenance_work_mem'))) / 1024 || 'kB'",
        )
        .bind(REBUILD_MEMORY)
        .fetch_one(&mut *conn)
        .await?;
        let timeout = set_local(conn, "statement_timeout", "0").await?;
        let memory = set_local(conn, "maintenance_work_mem", &memory).await?;
        for d in &self.rebuild {
            let one = std::time::Instant::now();
            sqlx::raw_sql(&d.create).execute(&mut *conn).await?;
            tracing::debug!("built {} on {} in {:?}", d.name, d.table, one.elapsed());
        }
        set_local(conn, "statement_timeout", &timeout).await?;
        set_local(conn, "maintenance_work_mem", &memory).await?;
        Ok(started.elapsed())
    }
}

//! Applies planned migrations, one at a time, and says how far it got; runs
//! down files ([`revert`]) and repeatable migrations ([`apply_repeatables`])
//! the same way, each with its history row in its transaction.
//!
//! A normal migration runs in one transaction together with its history row,
//! so it is applied whole or not at all. A no-transaction migration runs
//! statement by statement; if one fails, any index it left INVALID (a failed
//! `CREATE INDEX CONCURRENTLY` always does) is dropped, so the next run, which
//! re-runs the whole idempotent file, starts clean.
//!
//! A [`Failure`] says which statement failed, the file's or rez-db's own (the
//! history row, the clean-up of INVALID indexes), and the SQLSTATE: what that
//! means for the run is the `migrate` operation's to decide, never this
//! adapter's.

use std::time::Instant;

use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::history;
use crate::migration::split::{line_at, statements};
use crate::migration::{Migration, Repeatable};

/// A migration applied by this run.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedNow {
    pub version: i64,
    pub name: String,
    pub execution_ms: i64,
}

/// The migration that failed, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub version: i64,
    pub file: String,
    /// 1-based line in the file where PostgreSQL located the error, when it did.
    pub line: Option<usize>,
    pub message: String,
    /// The server's SQLSTATE; None when it gave none (the connection broke).
    pub sqlstate: Option<String>,
    /// INVALID indexes left by the failure and dropped again.
    pub dropped_invalid_indexes: Vec<String>,
    /// The statement that failed was rez-db's own (the history row, the
    /// clean-up of INVALID indexes), not one of the file's.
    #[serde(skip)]
    pub own_statement: bool,
}

/// Applies `pending` in order and stops at the first failure.
/// `on_start` is told about each migration before it runs (progress display).
pub async fn apply(
    conn: &mut PgConnection,
    pending: &[&Migration],
    mut on_start: impl FnMut(&Migration),
) -> Result<Vec<AppliedNow>, (Vec<AppliedNow>, Failure)> {
    let mut done = Vec::new();
    for migration in pending {
        on_start(migration);
        let started = Instant::now();
        let result = if migration.no_transaction {
            apply_outside_transaction(conn, migration).await
        } else {
            in_transaction(conn, migration, Row::Applied).await
        };
        match result {
            Ok(()) => done.push(AppliedNow {
                version: migration.version,
                name: migration.name.clone(),
                execution_ms: started.elapsed().as_millis() as i64,
            }),
            Err(failure) => return Err((done, failure)),
        }
    }
    Ok(done)
}

/// The history row that goes with a file run in one transaction.
enum Row<'a> {
    /// A versioned migration applied: its row is written.
    Applied,
    /// A down run: its migration's row is removed.
    Reverted,
    /// A repeatable migration applied: a row of its history is written.
    Repeatable(&'a Repeatable),
}

/// Runs `m`'s SQL and writes its `row` in one transaction.
async fn in_transaction(
    conn: &mut PgConnection,
    m: &Migration,
    row: Row<'_>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut tx = conn.begin().await.map_err(|e| own_failure(m, &e))?;
    if let Err(e) = sqlx::raw_sql(&m.sql).execute(&mut *tx).await {
        // Dropping `tx` rolls back; say so explicitly to keep the connection usable.
        let _ = tx.rollback().await;
        return Err(failure(m, None, &e));
    }
    let ms = started.elapsed().as_millis() as i64;
    let written = match row {
        Row::Applied => history::record(&mut tx, m, ms).await,
        Row::Reverted => history::remove(&mut tx, m.version).await.map(|_| ()),
        Row::Repeatable(r) => history::record_repeatable(&mut tx, r, ms).await,
    };
    if let Err(e) = written {
        let _ = tx.rollback().await;
        return Err(own_failure(m, &e));
    }
    // A deferred constraint of the file is checked here: the file's statement.
    tx.commit().await.map_err(|e| failure(m, None, &e))
}

async fn apply_outside_transaction(conn: &mut PgConnection, m: &Migration) -> Result<(), Failure> {
    let started = Instant::now();
    // An earlier interrupted run of this file may have left its indexes INVALID;
    // `IF NOT EXISTS` would then skip them forever, so rebuild them.
    let leftovers = invalid_indexes(conn)
        .await
        .map_err(|e| own_failure(m, &e))?;
    for index in leftovers.iter().filter(|name| mentions(&m.sql, name)) {
        drop_index(conn, index)
            .await
            .map_err(|e| own_failure(m, &e))?;
    }
    for statement in statements(&m.sql) {
        let before = invalid_indexes(conn)
            .await
            .map_err(|e| own_failure(m, &e))?;
        if let Err(e) = sqlx::raw_sql(statement.sql).execute(&mut *conn).await {
            let mut failed = failure(m, Some(statement.offset), &e);
            if let Ok(after) = invalid_indexes(conn).await {
                for index in after.into_iter().filter(|i| !before.contains(i)) {
                    if drop_index(conn, &index).await.is_ok() {
                        failed.dropped_invalid_indexes.push(index);
                    }
                }
            }
            return Err(failed);
        }
    }
    let ms = started.elapsed().as_millis() as i64;
    history::record(conn, m, ms)
        .await
        .map_err(|e| own_failure(m, &e))
}

/// Runs the down files of `migrations` in the order given (newest first),
/// each removing its history row: in one transaction with it, or, for a
/// no-transaction down, statement by statement and the row last. Stops at
/// the first failure, whose `file` is the down file.
pub async fn revert(
    conn: &mut PgConnection,
    migrations: &[&Migration],
    mut on_start: impl FnMut(&Migration),
) -> Result<Vec<AppliedNow>, (Vec<AppliedNow>, Failure)> {
    let mut done = Vec::new();
    for m in migrations {
        let Some(down) = &m.down else { continue };
        on_start(m);
        // The down as a migration of its own, so failures point into its file.
        let as_migration = Migration {
            file_name: down.file_name.clone(),
            sql: down.sql.clone(),
            no_transaction: down.no_transaction,
            down: None,
            ..(*m).clone()
        };
        let started = Instant::now();
        let outcome = if down.no_transaction {
            revert_outside_transaction(conn, &as_migration).await
        } else {
            in_transaction(conn, &as_migration, Row::Reverted).await
        };
        match outcome {
            Ok(()) => done.push(AppliedNow {
                version: m.version,
                name: m.name.clone(),
                execution_ms: started.elapsed().as_millis() as i64,
            }),
            Err(f) => return Err((done, f)),
        }
    }
    Ok(done)
}

async fn revert_outside_transaction(
    conn: &mut PgConnection,
    down: &Migration,
) -> Result<(), Failure> {
    for statement in statements(&down.sql) {
        if let Err(e) = sqlx::raw_sql(statement.sql).execute(&mut *conn).await {
            return Err(failure(down, Some(statement.offset), &e));
        }
    }
    history::remove(conn, down.version)
        .await
        .map(|_| ())
        .map_err(|e| own_failure(down, &e))
}

/// Applies `repeatables` in order, each in its own transaction with its
/// history row, and stops at the first failure (its `version` is 0).
pub async fn apply_repeatables(
    conn: &mut PgConnection,
    repeatables: &[&Repeatable],
    mut on_start: impl FnMut(&Repeatable),
) -> Result<Vec<String>, (Vec<String>, Failure)> {
    let mut done = Vec::new();
    for r in repeatables {
        on_start(r);
        // The same transaction as a versioned migration's, under the file's name.
        let as_migration = Migration {
            version: 0,
            name: r.name.clone(),
            file_name: r.file_name.clone(),
            sql: r.sql.clone(),
            checksum: r.checksum.clone(),
            raw_checksum: r.checksum.clone(),
            no_transaction: false,
            down: None,
        };
        let outcome = in_transaction(conn, &as_migration, Row::Repeatable(r)).await;
        match outcome {
            Ok(()) => done.push(r.name.clone()),
            Err(f) => return Err((done, f)),
        }
    }
    Ok(done)
}

/// Qualified names of the INVALID indexes in the database.
async fn invalid_indexes(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid ORDER BY 1",
    )
    .fetch_all(conn)
    .await
}

/// Whether the migration text names `qualified` (schema.index) or its bare name.
fn mentions(sql: &str, qualified: &str) -> bool {
    let bare = qualified
        .rsplit('.')
        .next()
        .unwrap_or(qualified)
        .trim_matches('"');
    sql.contains(qualified) || sql.contains(bare)
}

async fn drop_index(conn: &mut PgConnection, qualified: &str) -> Result<(), sqlx::Error> {
    tracing::warn!("dropping INVALID index {qualified} left by a failed concurrent build");
    // `qualified` comes from format('%I.%I'), so it is already quoted.
    sqlx::raw_sql(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Byte offset of the first line of `text` that is not a `--` comment.
fn first_code_byte(text: &str) -> usize {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim_start().starts_with("--") {
            break;
        }
        at += line.len();
    }
    at
}

/// Error `e` of one of rez-db's own statements while it applied `m`.
fn own_failure(m: &Migration, e: &sqlx::Error) -> Failure {
    Failure {
        own_statement: true,
        ..failure(m, None, e)
    }
}

/// Describes error `e` of migration `m`; `statement` is the byte offset of the
/// failing statement when the file runs statement by statement.
fn failure(m: &Migration, statement: Option<usize>, e: &sqlx::Error) -> Failure {
    let (message, position) = match e.as_database_error() {
        Some(db) => {
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            let position = pg.and_then(|pg| match pg.position() {
                Some(sqlx::postgres::PgErrorPosition::Original(p)) => Some(p),
                _ => None,
            });
            let mut message = format!(
                "{} (SQLSTATE {})",
                db.message(),
                db.code().unwrap_or_default()
            );
            if let Some(detail) = pg.and_then(|pg| pg.detail()) {
                message.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = pg.and_then(|pg| pg.hint()) {
                message.push_str(&format!("; hint: {hint}"));
            }
            (message, position)
        }
        None => (e.to_string(), None),
    };
    // PostgreSQL's position is 1-based and counts characters, not bytes.
    // Without one (e.g. a unique build that meets duplicates), a single
    // statement's first line of code is the best we know.
    let base = statement.unwrap_or(0);
    let line = match (position, statement) {
        (Some(p), _) => {
            let text = &m.sql[base..];
            let byte = text
                .char_indices()
                .nth(p.saturating_sub(1))
                .map_or(text.len(), |(b, _)| b);
            Some(line_at(&m.sql, base + byte))
        }
        (None, Some(offset)) => Some(line_at(&m.sql, offset + first_code_byte(&m.sql[offset..]))),
        (None, None) => None,
    };
    Failure {
        version: m.version,
        file: m.file_name.clone(),
        line,
        message,
        sqlstate: e
            .as_database_error()
            .and_then(|db| db.code())
            .map(|c| c.into_owned()),
        dropped_invalid_indexes: Vec::new(),
        own_statement: false,
    }
}

//! Records mutating runs in `rez_meta.operations` (see `store::pg::oplog`):
//! the start before the command runs, the end after. A run whose database
//! does not exist yet (`create`) is recorded at the end. Never fails the
//! command: a log that cannot be written is a warning on stderr.
//! The stored error goes through [`crate::secret::redact`], like the printed one.

use sqlx::postgres::PgConnection;

use crate::error::CommandError;
use crate::secret::redact;
use crate::store::pg::{oplog, Pg};

pub use crate::store::pg::oplog::Operation;

/// The record of one run, begun or not.
pub struct OpLog {
    op: Option<Operation>,
    open: Option<(PgConnection, i64)>,
}

impl OpLog {
    /// Starts the record of `op` in `pg` (None: a read-only run, nothing to record).
    pub async fn begin(pg: &Pg, op: Option<Operation>) -> OpLog {
        let open = match &op {
            Some(op) => open(pg, op).await.ok(),
            None => None,
        };
        OpLog { op, open }
    }

    /// Records how the run ended. The error is stored redacted, as it is
    /// printed; a connection the command left unusable is replaced once, so
    /// that only a killed run keeps a row without an end.
    pub async fn finish(self, pg: &Pg, outcome: &Result<u8, CommandError>) {
        let Some(op) = self.op else { return };
        let (code, message) = match outcome {
            Ok(code) => (*code, None),
            Err(e) => (e.kind.exit_code(), Some(redact(&e.message))),
        };
        let message = message.as_deref();
        let result = match self.open {
            Some((mut conn, id)) => match oplog::finish(&mut conn, id, code, message).await {
                Ok(()) => Ok(()),
                Err(_) => match pg.connect().await {
                    Ok(mut fresh) => oplog::finish(&mut fresh, id, code, message)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.message),
                },
            },
            None => match open(pg, &op).await {
                Ok((mut conn, id)) => oplog::finish(&mut conn, id, code, message)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::warn!(
                "could not record this run in rez_meta.operations: {}",
                pg.url.scrub(&e)
            );
        }
    }
}

async fn open(pg: &Pg, op: &Operation) -> Result<(PgConnection, i64), String> {
    let mut conn = pg.connect().await.map_err(|e| e.message)?;
    let id = oplog::start(&mut conn, op)
        .await
        .map_err(|e| e.to_string())?;
    Ok((conn, id))
}

//! Records mutating runs in `rez_meta.operations` (see `store::pg::oplog`):
//! the start before the command runs, the end after. A run whose database
//! does not exist yet (`create`) is recorded at the end. Never fails the
//! command: a log that cannot be written is a warning on stderr.
//! The stored error goes through [`crate::redact`], like the printed one.

use chrono::Utc;
use sqlx::postgres::PgConnection;

use crate::error::CommandError;
use crate::secret::redact;
use crate::secret::redact_args;
use crate::store::pg::{self, oplog};
use crate::Ctx;

pub struct OpLog {
    op: Option<oplog::Operation>,
    open: Option<(PgConnection, i64)>,
}

impl OpLog {
    /// Starts the record of `command` (None: a read-only run, nothing to record).
    pub async fn begin(ctx: &Ctx, command: Option<&str>) -> OpLog {
        let Some(command) = command else {
            return OpLog {
                op: None,
                open: None,
            };
        };
        let op = oplog::Operation {
            command: command.to_string(),
            arguments: redact_args(std::env::args()),
            actor: ctx.config.actor.clone(),
            started_at: Utc::now(),
        };
        let open = open(ctx, &op).await.ok();
        OpLog { op: Some(op), open }
    }

    /// Records how the run ended. The error is stored redacted, as it is
    /// printed; a connection the command left unusable is replaced once, so
    /// that only a killed run keeps a row without an end.
    pub async fn finish(self, ctx: &Ctx, outcome: &Result<u8, CommandError>) {
        let Some(op) = self.op else { return };
        let (code, message) = match outcome {
            Ok(code) => (*code, None),
            Err(e) => (e.kind.exit_code(), Some(redact(&e.message))),
        };
        let message = message.as_deref();
        let result = match self.open {
            Some((mut conn, id)) => match oplog::finish(&mut conn, id, code, message).await {
                Ok(()) => Ok(()),
                Err(_) => {
                    match pg::connect(&ctx.config.database_url, ctx.config.connect_timeout).await {
                        Ok(mut fresh) => oplog::finish(&mut fresh, id, code, message)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.message),
                    }
                }
            },
            None => match open(ctx, &op).await {
                Ok((mut conn, id)) => oplog::finish(&mut conn, id, code, message)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::warn!(
                "could not record this run in rez_meta.operations: {}",
                ctx.config.database_url.scrub(&e)
            );
        }
    }
}

async fn open(ctx: &Ctx, op: &oplog::Operation) -> Result<(PgConnection, i64), String> {
    let mut conn = pg::connect(&ctx.config.database_url, ctx.config.connect_timeout)
        .await
        .map_err(|e| e.message)?;
    let id = oplog::start(&mut conn, op)
        .await
        .map_err(|e| e.to_string())?;
    Ok((conn, id))
}

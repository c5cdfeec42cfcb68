//! One planned action on the database, retried while its table lock is not
//! granted within lock_timeout; an archive that cannot be written and
//! verified is a refusal (the drop is skipped), not a failure.

use std::path::Path;
use std::time::Duration;

use sqlx::PgConnection;

use super::ATTEMPTS;
use crate::error::ErrorKind;
use crate::partition::archive::Identity;
use crate::partition::naming::{partition_named, Period};
use crate::partition::plan::Action;
use crate::store::pg::{self, archive, rotate, sqlstate, Pg};

/// The table an action is about, and whose database's archives it writes.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub pg: &'a Pg,
    pub parent: &'static str,
    pub period: Period,
    pub identity: Option<&'a Identity>,
}

/// How an action ended when it did not fail.
pub(super) enum Step {
    Done {
        /// Rows moved out of DEFAULT.
        moved: Option<u64>,
        /// Rows in the archive written and verified.
        archived_rows: Option<i64>,
    },
    /// Not archived or not dropped, and why: the table stays.
    Refused(String),
}

impl Step {
    fn moved(rows: Option<u64>) -> Step {
        Step::Done {
            moved: rows,
            archived_rows: None,
        }
    }
}

/// Writes and verifies the archive of `partition` at `path`: refused (not
/// failed) when it cannot be, so that its drop is skipped and the run goes on.
async fn archive_one(
    conn: &mut PgConnection,
    target: Target<'_>,
    partition: &str,
    path: &Path,
) -> Step {
    let bounds = partition_named(target.parent, target.period, partition);
    let (Some(identity), Some(bounds)) = (target.identity, bounds) else {
        return Step::Refused(format!(
            "not archived, so not dropped: no bounds or database identity for {partition}"
        ));
    };
    let pg = target.pg;
    match archive::write(conn, &pg.url, pg.lock_timeout, identity, &bounds, path).await {
        Ok(sidecar) => Step::Done {
            moved: None,
            archived_rows: Some(sidecar.rows),
        },
        Err(e) => Step::Refused(format!("not archived, so not dropped: {e}")),
    }
}

/// Runs one action, retrying lock timeouts with backoff. A failure is the
/// kind of error it is (`store::pg::error`) and what the server said.
pub(super) async fn execute(
    conn: &mut PgConnection,
    target: Target<'_>,
    action: &Action,
) -> Result<Step, (ErrorKind, String)> {
    let url = &target.pg.url;
    let parent = target.parent;
    let mut attempt = 0;
    loop {
        let result = match action {
            Action::Create {
                partition,
                from,
                to,
            } => pg::partitions::ensure_range_partition(conn, parent, *from, *to, partition)
                .await
                .map(|_| Step::moved(None)),
            Action::MoveAndCreate {
                partition,
                from,
                to,
                ..
            } => rotate::move_and_create(conn, parent, partition, *from, *to)
                .await
                .map(|rows| Step::moved(Some(rows))),
            Action::Detach { partition } => rotate::detach(conn, parent, partition)
                .await
                .map(|_| Step::moved(None)),
            Action::Archive {
                partition, path, ..
            } => return Ok(archive_one(conn, target, partition, path).await),
            Action::Drop { partition, archive } => {
                let archived_rows = match archive.as_deref().map(archive::recorded_rows) {
                    None => None,
                    Some(Ok(rows)) => Some(rows),
                    Some(Err(e)) => return Ok(Step::Refused(format!("not dropped: {e}"))),
                };
                rotate::drop_table(conn, partition, archived_rows)
                    .await
                    .map(|refusal| refusal.map_or(Step::moved(None), Step::Refused))
            }
            Action::Refused { reason, .. } => return Ok(Step::Refused(reason.clone())),
            Action::LeftInDefault { .. } => Ok(Step::moved(None)),
        };
        match result {
            Err(e)
                if pg::code(&e).as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE)
                    && attempt + 1 < ATTEMPTS =>
            {
                attempt += 1;
                let pause = Duration::from_millis(250 << attempt);
                tracing::warn!(
                    "{parent}: lock not granted for {}; retrying in {pause:?}",
                    action.partition()
                );
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                let message = url.scrub(&e.to_string());
                return Err((pg::error(url, e).kind, message));
            }
            Ok(step) => return Ok(step),
        }
    }
}

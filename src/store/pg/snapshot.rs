//! One consistent view of the database across several connections.
//!
//! `validate` reads inside a REPEATABLE READ, READ ONLY transaction and
//! exports its snapshot; a pass that splits its work over several connections
//! (to use every core of the server) opens them here, each importing that
//! snapshot, so all of them see exactly the same rows.

use std::time::Duration;

use sqlx::postgres::PgConnection;

use crate::secret::RedactedUrl;

#[derive(Debug, Clone)]
pub struct Snapshot {
    url: RedactedUrl,
    timeout: Duration,
    /// pg_export_snapshot() of the main transaction, which must stay open;
    /// None for [`Snapshot::within`]: no other session can share it.
    id: Option<String>,
}

impl Snapshot {
    /// Starts the snapshot transaction on `conn` and exports it.
    pub async fn begin(
        conn: &mut PgConnection,
        url: &RedactedUrl,
        timeout: Duration,
    ) -> Result<Snapshot, sqlx::Error> {
        sqlx::raw_sql(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL TIME ZONE 'UTC'; \
             SET LOCAL work_mem = '64MB'",
        )
        .execute(&mut *conn)
        .await?;
        let id = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(conn)
            .await?;
        Ok(Snapshot {
            url: url.clone(),
            timeout,
            id: Some(id),
        })
    }

    /// The view of a transaction already open on the caller's connection,
    /// which may hold rows it has not committed (an import checked before
    /// its commit): no other connection can see them, so everything must
    /// run on that one ([`Snapshot::shared`] is false).
    pub fn within(url: &RedactedUrl, timeout: Duration) -> Snapshot {
        Snapshot {
            url: url.clone(),
            timeout,
            id: None,
        }
    }

    /// Other connections can join it.
    pub fn shared(&self) -> bool {
        self.id.is_some()
    }

    /// Another connection that sees the same snapshot.
    pub async fn join(&self) -> Result<PgConnection, sqlx::Error> {
        let Some(id) = &self.id else {
            return Err(sqlx::Error::Protocol(
                "a snapshot within an open transaction cannot be joined".into(),
            ));
        };
        let mut conn = super::connect(&self.url, self.timeout)
            .await
            .map_err(|e| sqlx::Error::Protocol(e.message))?;
        // The id comes from pg_export_snapshot() (hex digits and dashes); quoted anyway.
        let sql = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}'; \
             SET LOCAL TIME ZONE 'UTC'; SET LOCAL work_mem = '64MB'",
            id.replace('\'', "''")
        );
        sqlx::raw_sql(&sql).execute(&mut conn).await?;
        Ok(conn)
    }
}

//! What a synthetic dataset does not write itself. Redis's derived
//! structures are written by `seed::derived` and MongoDB's collections by
//! `seed::mongo` (the seed drops the MongoDB row below once it filled them;
//! it stays when MongoDB is not among the stores); the search indices are
//! built by `rez-db reindex-es`. For these this hook only SAYS what would be
//! sent where, and sends nothing. It is deliberately not a fake: nothing pretends
//! to have been written, and the report shows `sent: 0` for each target.

use serde::Serialize;

/// What one target would receive from the dataset just loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// `mongodb`, `redis` or `elasticsearch`.
    pub store: &'static str,
    /// Collection, key pattern or index.
    pub target: &'static str,
    /// The PostgreSQL table the documents would be built from.
    pub from_table: &'static str,
    /// How many documents, members or entries it would send.
    pub would_send: u64,
    /// Always 0: what is listed here is not sent by seed.
    pub sent: u64,
}

/// What the other stores would receive, given the rows loaded per table.
pub fn not_yet_sent(rows: impl Fn(&str) -> u64) -> Vec<Pending> {
    // Redis (geo sets, leaderboard) is filled for real by `seed::derived`;
    // Elasticsearch is `rez-db reindex-es`'s job.
    const PLAN: [(&str, &str, &str); 4] = [
        ("mongodb", "user_activity_logs", "orders"),
        (
            "elasticsearch",
            "merchants (run `rez-db reindex-es`)",
            "merchants",
        ),
        (
            "elasticsearch",
            "products (run `rez-db reindex-es`)",
            "products",
        ),
        (
            "elasticsearch",
            "offers (run `rez-db reindex-es`)",
            "offers",
        ),
    ];
    PLAN.iter()
        .map(|&(store, target, from_table)| Pending {
            store,
            target,
            from_table,
            would_send: rows(from_table),
            sent: 0,
        })
        .collect()
}

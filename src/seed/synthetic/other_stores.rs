//! The hook for the other datastores. A full synthetic dataset also fills
//! MongoDB (activity logs), Redis (leaderboards, merchant geo sets) and
//! Elasticsearch (merchant, product and offer search). Writing them from
//! `seed` is later work (the stores issue); until then this hook only SAYS
//! what it would send where, and sends nothing. It is deliberately not a fake: nothing pretends
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
    /// Always 0 until the stores issue implements the writers.
    pub sent: u64,
}

/// What the other stores would receive, given the rows loaded per table.
pub fn not_yet_sent(rows: impl Fn(&str) -> u64) -> Vec<Pending> {
    const PLAN: [(&str, &str, &str); 6] = [
        ("mongodb", "activity_logs", "orders"),
        (
            "redis",
            "leaderboard:coins:lifetime (sorted set)",
            "wallets",
        ),
        (
            "redis",
            "geo:merchant_outlets (geo set)",
            "merchant_outlets",
        ),
        ("elasticsearch", "merchants", "merchants"),
        ("elasticsearch", "products", "products"),
        ("elasticsearch", "offers", "offers"),
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

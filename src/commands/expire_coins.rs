//! `rez-db expire-coins`: the promo-coin expiry (`crate::expire`), on its
//! own schedule and under its own lock. The command builds the options,
//! hands over PostgreSQL and (when Redis is among the stores) Redis, whose
//! wallet locks the expiry honours, and renders the report.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::Args;

use crate::cli::{LockArgs, PgArgs, TargetArgs};
use crate::config::StoreKind;
use crate::error::Result;
use crate::expire;
use crate::output::metrics::Sample;
use crate::output::{table, Render};
use crate::Ctx;

/// Expire promo coins past their expiry: per wallet, one `expire` ledger row,
/// the lots zeroed and marked expired, and the promo balance lowered.
///
/// Idempotent: a second run finds nothing to do. Safe to run while the
/// application spends: each wallet is locked (FOR UPDATE) while it is expired.
#[derive(Debug, Args)]
pub struct ExpireCoinsArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Expire what is due at this instant instead of the current time: RFC 3339
    /// (2026-01-15T10:00:00Z) or a date (2026-01-15, midnight UTC)
    #[arg(long, value_name = "TIMESTAMP", value_parser = crate::cli::parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Wallets per transaction
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_size: i64,

    /// Report what would expire and change nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Render for expire::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let verb = if self.dry_run {
            "would expire"
        } else {
            "expired"
        };
        writeln!(
            out,
            "{verb} {} promo coins in {} lots of {} wallets (due at {}), {} batches",
            self.coins, self.lots, self.wallets, self.now, self.batches
        )?;
        if !self.busy.is_empty() {
            writeln!(
                out,
                "{} wallets busy (their Redis wallet lock was held): left for the next run",
                self.busy.len()
            )?;
        }
        if !self.skipped.is_empty() {
            let mut t = table(["skipped wallet", "reason"]);
            for s in &self.skipped {
                t.add_row([s.wallet_id.to_string(), s.reason.clone()]);
            }
            writeln!(out, "{t}")?;
        }
        Ok(())
    }

    fn has_problems(&self) -> bool {
        !self.skipped.is_empty()
    }

    fn metrics(&self) -> Vec<Sample> {
        let skipped = "Wallets the last run left alone, per reason: inconsistent promo data, \
                       or busy (a spend in flight held the wallet's lock).";
        vec![
            Sample::count(
                "coins_expired",
                "Promo coins the last run expired.",
                self.coins,
            ),
            Sample::count(
                "wallets_expired",
                "Wallets whose promo coins the last run expired.",
                self.wallets as i64,
            ),
            Sample::count(
                "lots_expired",
                "Promo lots the last run marked expired.",
                self.lots as i64,
            ),
            Sample::count("wallets_skipped", skipped, self.skipped.len() as i64)
                .with("reason", "inconsistent"),
            Sample::count("wallets_skipped", skipped, self.busy.len() as i64)
                .with("reason", "busy"),
        ]
    }
}

pub async fn run(ctx: &Ctx, args: &ExpireCoinsArgs) -> Result<expire::Report> {
    let options = expire::Options {
        now: args.now,
        batch_size: args.batch_size,
        dry_run: args.dry_run,
        lock_wait: ctx.config.lock_wait,
    };
    // The application's Redis wallet lock, honoured when Redis is among the stores.
    let redis = match ctx.wants(StoreKind::Redis) {
        true => Some(ctx.redis().await?),
        false => None,
    };
    expire::run(&options, &ctx.pg(), redis).await
}

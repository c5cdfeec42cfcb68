//! `rez-db validate`: run the integrity catalogue (docs/invariants.md) and
//! report every violation exactly. Read-only: all checks see one snapshot
//! (a REPEATABLE READ, READ ONLY transaction), so a busy database cannot make
//! two checks disagree. The checks are `crate::validate::run`'s; this file
//! selects them, connects the stores they read and renders the report.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::cli::{self, PgArgs, StoreArgs, TargetArgs};
use crate::config::StoreKind;
use crate::error::{CommandError, Result};
use crate::output::metrics::Sample;
use crate::output::progress::Bars;
use crate::output::{table, Render};
use crate::validate::{self, Check, Connections, Severity};
use crate::Ctx;

/// Check the database against the platform's integrity rules; exit 1 on any error.
///
/// Every check has an id (see --list and docs/invariants.md). Each violation
/// names the table, the entity, and the expected and actual values exactly.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    /// Print the catalogue of checks and exit
    #[arg(long)]
    pub list: bool,

    /// Run only this check (repeatable)
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// Skip this check (repeatable)
    #[arg(long = "skip", value_name = "ID")]
    pub skips: Vec<String>,

    /// Violations shown per check; all of them are counted
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,

    /// Ledger rows of one wallet held in memory for its replay; a wallet with more is read again, ordered by the server
    #[arg(long, value_name = "N", default_value_t = validate::WALLET_ROWS)]
    pub wallet_rows: usize,

    /// Redis keys sampled (SCAN) per server; on a Redis Cluster, per master, so every node is checked
    #[arg(long, value_name = "N", default_value_t = validate::REDIS_SAMPLE)]
    pub redis_sample: usize,

    /// Milliseconds to wait between SCAN calls on each Redis server: a throttle for a busy production server (default: none)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub redis_scan_pause: u64,
    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Render for validate::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["check", "severity", "violations", "ms"]);
        for c in &self.checks {
            t.add_row([
                c.id.to_string(),
                severity(c.severity).to_string(),
                c.violations.to_string(),
                c.elapsed_ms.to_string(),
            ]);
        }
        writeln!(out, "{t}")?;
        for c in self.checks.iter().filter(|c| c.violations > 0) {
            writeln!(
                out,
                "\n{} ({}): {}",
                c.id,
                severity(c.severity),
                c.description
            )?;
            let mut v = table(["table", "entity", "expected", "actual"]);
            for found in &c.shown {
                v.add_row([&found.table, &found.entity, &found.expected, &found.actual]);
            }
            writeln!(out, "{v}")?;
            if c.violations > c.shown.len() as u64 {
                writeln!(
                    out,
                    "... and {} more (raise --limit to see them)",
                    c.violations - c.shown.len() as u64
                )?;
            }
        }
        writeln!(
            out,
            "\n{}: {} checks, {} error(s), {} warning(s)",
            self.database,
            self.checks.len(),
            self.errors,
            self.warnings
        )
    }

    fn has_problems(&self) -> bool {
        self.errors > 0
    }

    fn metrics(&self) -> Vec<Sample> {
        self.checks
            .iter()
            .map(|c| {
                Sample::count(
                    "violations",
                    "Violations the last run found, per check and severity (0 for a check that passed).",
                    c.violations as i64,
                )
                .with("check", c.id)
                .with("severity", severity(c.severity))
            })
            .collect()
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

#[derive(Debug, Serialize)]
pub struct CatalogueReport {
    pub checks: Vec<CatalogueRow>,
}

#[derive(Debug, Serialize)]
pub struct CatalogueRow {
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    /// The query of a set-based check, in `--json` only: what a benchmark
    /// (bench/validate.sh) runs alone to time or explain one check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl Render for CatalogueReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["check", "severity", "rule"]);
        for c in &self.checks {
            t.add_row([c.id, severity(c.severity), c.description]);
        }
        writeln!(out, "{t}")
    }
}

pub fn list() -> CatalogueReport {
    CatalogueReport {
        checks: validate::catalogue()
            .into_iter()
            .map(|c| CatalogueRow {
                id: c.id,
                severity: c.severity,
                description: c.description,
                sql: match c.source {
                    validate::Source::Sql(sql) => Some(sql),
                    _ => None,
                },
            })
            .collect(),
    }
}

/// The catalogue narrowed by --check and --skip; unknown ids are usage errors.
fn select(args: &ValidateArgs) -> Result<Vec<Check>> {
    let all = validate::catalogue();
    for id in args.checks.iter().chain(&args.skips) {
        if !all.iter().any(|c| c.id == id) {
            return Err(CommandError::usage(format!("there is no check `{id}`"))
                .with_hint("`rez-db validate --list` prints the catalogue"));
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| args.checks.is_empty() || args.checks.iter().any(|id| id == c.id))
        .filter(|c| !args.skips.iter().any(|id| id == c.id))
        .collect())
}

pub async fn run(ctx: &Ctx, args: &ValidateArgs) -> Result<validate::Report> {
    // Checks of stores left out by --only (or `stores:`) do not run.
    let options = validate::Options {
        checks: select(args)?,
        stores: ctx.config.stores.clone(),
        limit: args.limit,
        wallet_rows: args.wallet_rows,
        redis_sample: args.redis_sample,
        redis_pause: std::time::Duration::from_millis(args.redis_scan_pause),
    };
    // Only the stores the checks read are contacted, and their definitions
    // read, before any check runs.
    let others = options.other_stores();
    let defs = match others.is_empty() {
        true => None,
        false => Some(ctx.definitions()?),
    };
    let mut conns = Connections::default();
    for store in others {
        match store {
            StoreKind::Mongodb => conns.mongo = Some(ctx.mongo().await?.clone()),
            StoreKind::Redis => conns.redis = Some(ctx.redis().await?),
            StoreKind::Elasticsearch => conns.es = Some(ctx.es().await?.clone()),
            StoreKind::Postgres => {}
        }
    }
    let progress = Bars::new(ctx.progress);
    let mut report = validate::run(&ctx.pg(), &conns, defs, &options, &progress).await?;
    cli::word_violation_remedies(&mut report.checks);
    Ok(report)
}

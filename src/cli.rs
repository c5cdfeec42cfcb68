//! The command line: global flags, the flag groups shared by subcommands, and
//! the list of subcommands. Each subcommand's own `Args` lives beside its code
//! in `commands/`; its doc comments are the `--help` text.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Overrides, StoreKind};
use crate::error::{CommandError, Remedy};
use crate::provision::ObjectRow;
use crate::validate::CheckResult;

use crate::commands::import_csv::ImportCsvArgs;

use crate::commands::{
    audit::AuditArgs, create::CreateArgs, expire_coins::ExpireCoinsArgs, migrate::MigrateArgs,
    partition_rotate::PartitionRotateArgs, reindex_es::ReindexEsArgs, seed::SeedArgs,
    status::StatusArgs, validate::ValidateArgs,
};
use crate::commands::{backup::BackupArgs, lint::LintArgs, restore::RestoreArgs};

/// Provision, migrate and check the ReZ platform's datastores.
///
/// Configuration: flags > environment (DATABASE_URL, REDIS_URL, MONGODB_URI,
/// ELASTICSEARCH_URL) > rez-db.yaml > the local stack's defaults.
///
/// Exit codes: 0 ok; 1 ran and found problems; 2 usage or configuration
/// error; 3 a datastore unreachable or timed out; 4 another run holds the
/// lock; 5 could not do its job (a statement refused, a file not written, a
/// child tool failed); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM);
/// 255 a bug in rez-db.
#[derive(Debug, Parser)]
#[command(name = "rez-db", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./rez-db.yaml when it exists]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Named profile from the configuration file's `profiles:` (or REZ_DB_PROFILE)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Print exactly one JSON document on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// On exit, record this run in PATH (Prometheus text format, for node_exporter's
    /// textfile collector), keeping the other commands' series [config: metrics_file]
    #[arg(long, global = true, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where PostgreSQL is.
#[derive(Debug, Args, Clone, Default)]
pub struct PgArgs {
    /// PostgreSQL URL [env: DATABASE_URL]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// Which datastores a multi-store command visits, and where the other three are.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreArgs {
    /// Only these stores, comma-separated: pg, mongo, redis, es [default: all; env: REZ_DB_STORES]
    #[arg(long, value_name = "STORES", value_parser = parse_store_list)]
    pub only: Option<StoreList>,

    /// MongoDB URI; its path names the database [env: MONGODB_URI]
    #[arg(long, value_name = "URI")]
    pub mongodb_uri: Option<String>,

    /// Redis URL [env: REDIS_URL]
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Elasticsearch URL [env: ELASTICSEARCH_URL]
    #[arg(long, value_name = "URL")]
    pub elasticsearch_url: Option<String>,

    /// Prefix every Elasticsearch index and alias name with PREFIX
    #[arg(long, value_name = "PREFIX")]
    pub es_index_prefix: Option<String>,

    /// Prefix every Redis key rez-db reads or writes with PREFIX
    #[arg(long, value_name = "PREFIX")]
    pub redis_key_prefix: Option<String>,

    /// Read mongo-indexes/, redis-layout.toml and es-mappings/ from DIR instead of the built-in copies
    #[arg(long, value_name = "DIR")]
    pub definitions: Option<PathBuf>,
}

impl StoreArgs {
    /// The settings these flags override (the rest stay `None`): the face
    /// turns its flags into `config::Overrides`; the configuration never sees clap.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            stores: self.only.as_ref().map(|l| l.0.clone()),
            mongodb_uri: self.mongodb_uri.clone(),
            redis_url: self.redis_url.clone(),
            elasticsearch_url: self.elasticsearch_url.clone(),
            redis_key_prefix: self.redis_key_prefix.clone(),
            es_index_prefix: self.es_index_prefix.clone(),
            definitions_dir: self.definitions.clone(),
            ..Overrides::default()
        }
    }
}

/// The hint for `remedy`, in the words of the flags that apply: the layers
/// below the face name a remedy, never a flag.
/// A command line clap refused: clap's own message on stderr and exit 2, as
/// always, and under `--json` also the error document every other failure
/// prints, so a script that reads stdout always gets one JSON document.
/// `--help` and `--version` print as usual.
pub fn refuse_arguments(e: clap::Error) -> std::process::ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    // clap quotes the value it refused, which may be a URL with a password.
    let rendered = crate::secret::redact(&e.to_string());
    eprint!("{rendered}");
    let first = rendered.lines().next().unwrap_or_default();
    let err = CommandError::usage(first.strip_prefix("error: ").unwrap_or(first))
        .with_hint("run with --help to see the accepted arguments");
    if json_requested(std::env::args_os()) {
        crate::output::emit_error_document(&err);
    }
    err.exit_code()
}

/// Whether `--json` is among the options (before a `--`), read from the raw
/// arguments because clap could not parse them.
fn json_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

pub fn remedy_hint(remedy: Remedy) -> String {
    match remedy {
        Remedy::LockWait => "pass --lock-wait SECONDS to wait for it".to_string(),
        Remedy::Relocate(store) => {
            let (flag, env, key) = match store {
                StoreKind::Postgres => ("--database-url", "DATABASE_URL", "database_url"),
                StoreKind::Mongodb => ("--mongodb-uri", "MONGODB_URI", "mongodb_uri"),
                StoreKind::Redis => ("--redis-url", "REDIS_URL", "redis_url"),
                StoreKind::Elasticsearch => (
                    "--elasticsearch-url",
                    "ELASTICSEARCH_URL",
                    "elasticsearch_url",
                ),
            };
            let leave_out = match store {
                StoreKind::Postgres => String::new(),
                _ => format!(", or leave {} out with --only", store.display_name()),
            };
            format!("point rez-db elsewhere with {flag}, {env} or {key} in rez-db.yaml{leave_out}")
        }
        Remedy::SeedsDir => format!(
            "--seeds-dir must hold {}; copy seeds/ from the rez-db repository as a start",
            crate::definitions::reference::ALL.join(", ")
        ),
        Remedy::SeedReferenceFirst => "add them (seeds/app_settings.yaml has them all) and run \
             `rez-db seed` before `rez-db seed --synthetic`"
            .to_string(),
        Remedy::EmptyDatabase => "start from an empty database: `rez-db create --drop --yes && \
             rez-db create && rez-db migrate`, then seed again"
            .to_string(),
        Remedy::RebuildRedis => "if an earlier seed committed this data but stopped before \
             Redis, `rez-db seed --redis-only` finishes it"
            .to_string(),
        Remedy::RebuildRedisOnceFixed => "once Redis is fixed, run `rez-db seed --redis-only` \
             (same database, Redis and prefix) to rebuild geo:stores:{<city>} and \
             leaderboard:{rez_coins}:lifetime from the committed data; `rez-db validate` \
             reports them missing until then"
            .to_string(),
        Remedy::QuoteChar => "close the quote, or pick another --quote character".to_string(),
        Remedy::Encoding => "if the file is not UTF-8, name its encoding with --encoding \
             (windows-1252 for most Western exports, iso-8859-15, utf-16le...); rez-db decodes \
             it exactly, where converting it as another encoding could corrupt its text"
            .to_string(),
        Remedy::TimeZone => "say which zone the file's times are in with --timezone ZONE \
             (an IANA name such as Asia/Kolkata, UTC, or an offset such as +05:30)"
            .to_string(),
        Remedy::ZeroDateAsNull => "--zero-date-as-null loads it as NULL".to_string(),
        Remedy::RejectsPath => "choose another path with --rejects PATH".to_string(),
        Remedy::AllowOutside => concat!(
            "a manifest's paths stay inside its folder, symbolic links and `..` resolved; ",
            "pass --allow-outside if this manifest may read files elsewhere"
        )
        .to_string(),
        Remedy::MapColumn {
            column,
            table,
            columns,
        } => {
            format!("rename it with --map {column}=COLUMN; the columns of `{table}` are: {columns}")
        }
        Remedy::MapRequired => "add the column, or --map the file's name for it".to_string(),
        Remedy::AllowPastRetention => "--allow-past-retention loads it anyway".to_string(),
        Remedy::ReplaceBackup => {
            "choose a new directory, or pass --force to replace the backup in it".to_string()
        }
        Remedy::ReplaceTarget => {
            "restore into a new database (--database-url) or prefix, or pass --force to replace it"
                .to_string()
        }
        Remedy::RestoreAgain => {
            "the database is partly restored: fix the cause and run restore again with --force"
                .to_string()
        }
        Remedy::OnlyStoresOfBackup => "pass --only with the stores the backup holds".to_string(),
        Remedy::AllowVersionChange => "restore onto a server (and pg_restore) at least as new as \
             the source, or pass --allow-version-change if you know this change is safe"
            .to_string(),
        Remedy::Identity => "pass --identity FILE: an age identity file (mode 600) holding the \
             private key of one of the recipients the manifest lists"
            .to_string(),
        Remedy::FixDrift => "fix with `rez-db migrate --fix-drift`".to_string(),
        Remedy::RebuildDerived => "run `rez-db seed --redis-only`".to_string(),
        Remedy::ForceRevert => {
            "back the rows up (`rez-db backup`) and pass --force to revert anyway, \
             or revert to a higher version"
                .to_string()
        }
        Remedy::ShadowServer => {
            "name a server where rez-db may create a database with --shadow-url URL".to_string()
        }
    }
}

/// `err` with its remedies worded as hints.
pub fn word_remedies(mut err: CommandError) -> CommandError {
    let worded: Vec<String> = err.remedies.drain(..).map(remedy_hint).collect();
    err.hints.extend(worded);
    err
}

/// An object row's detail with its remedy worded, as a report shows it.
pub fn object_detail(detail: &str, remedy: Remedy) -> String {
    match remedy {
        Remedy::FixDrift => format!("{detail} (fix with --fix-drift)"),
        other => format!("{detail} ({})", remedy_hint(other)),
    }
}

/// The rows with their remedies worded into their details, before the
/// report is printed either way (table or `--json`).
pub fn word_object_remedies(rows: &mut [ObjectRow]) {
    for row in rows {
        if let Some(remedy) = row.remedy.take() {
            row.detail = Some(object_detail(
                row.detail.as_deref().unwrap_or_default(),
                remedy,
            ));
        }
    }
}

/// The checks' violations with their remedies worded into what was found.
pub fn word_violation_remedies(checks: &mut [CheckResult]) {
    for v in checks.iter_mut().flat_map(|c| c.shown.iter_mut()) {
        if let Some(remedy) = v.remedy.take() {
            let sep = match remedy {
                Remedy::FixDrift => "; ",
                _ => ": ",
            };
            v.actual = format!("{}{sep}{}", v.actual, remedy_hint(remedy));
        }
    }
}

/// Asks on the terminal before `action` (e.g. "drop"); without one, refuses
/// (CI must pass --yes). Operations never ask: `create` and `restore` hand
/// them this question as their confirmation.
pub fn confirm(question: &str, action: &str) -> Result<(), CommandError> {
    let refuse = || {
        CommandError::usage(format!("refusing to {action} without confirmation"))
            .with_hint(format!("pass --yes to {action} without asking"))
    };
    if !io::stdin().is_terminal() {
        return Err(refuse().with_hint("stdin is not a terminal, so rez-db cannot ask"));
    }
    eprint!("{question} [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|_| refuse())?;
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(refuse()),
    }
}

/// Parses a `--now` value: an RFC 3339 time (`2026-01-15T10:00:00Z`,
/// any offset) or a date (`2026-01-15`), which means midnight UTC of that day.
/// Every command's `--now` goes through here, so they all accept the same.
pub fn parse_now(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{DateTime, NaiveDate, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => Ok(day.and_time(chrono::NaiveTime::MIN).and_utc()),
        Err(_) => Err(format!(
            "`{text}` is neither an RFC 3339 time like 2026-01-15T10:00:00Z \
             nor a date like 2026-01-15 (midnight UTC)"
        )),
    }
}

/// A parsed `--only` list (one flag value holding several stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreList(pub Vec<StoreKind>);

fn parse_store_list(text: &str) -> Result<StoreList, String> {
    let list = StoreKind::parse_list(text)?;
    if list.is_empty() {
        return Err("name at least one store: pg, mongo, redis, es".to_string());
    }
    Ok(StoreList(list))
}

/// Running a command on every database of a `targets:` group instead of one.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Many databases")]
pub struct TargetArgs {
    /// Run on every database of GROUP (`targets:` in rez-db.yaml), each with its own locks and
    /// history; PostgreSQL only unless the stores are chosen (--only, REZ_DB_STORES, stores:)
    #[arg(long, value_name = "GROUP", conflicts_with = "database_url")]
    pub targets: Option<String>,

    /// With --targets: how many databases at once [default: 2]
    #[arg(long, value_name = "N", requires = "targets",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: Option<u16>,

    /// With --targets: go on past a database that fails (without it, the first failure starts
    /// no new one; the running ones finish)
    #[arg(long, requires = "targets")]
    pub keep_going: bool,

    /// With --targets: run on the first K databases of the group first, and on the others only
    /// if none of them failed
    #[arg(long, value_name = "K", requires = "targets",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub canary: Option<u16>,
}

/// How long to wait for another run's lock.
#[derive(Debug, Args, Clone, Default)]
pub struct LockArgs {
    /// Wait up to SECONDS for another rez-db run to finish, then exit 4 [default: 0]
    #[arg(long, value_name = "SECONDS")]
    pub lock_wait: Option<u64>,
}

/// The connection flags of a command that connects to nothing.
static NO_PG: PgArgs = PgArgs { database_url: None };

#[derive(Debug, Subcommand)]
pub enum Command {
    Create(CreateArgs),
    Migrate(MigrateArgs),
    Seed(SeedArgs),
    ImportCsv(ImportCsvArgs),
    ExpireCoins(ExpireCoinsArgs),
    PartitionRotate(PartitionRotateArgs),
    Audit(AuditArgs),
    Validate(ValidateArgs),
    ReindexEs(ReindexEsArgs),
    Backup(BackupArgs),
    Restore(RestoreArgs),
    Status(StatusArgs),
    Lint(LintArgs),
}

impl Command {
    /// The name recorded in the operations log when this run changes
    /// something; None for read-only runs (dry runs, checks, status, validate)
    /// and for `create --drop`, whose log would be dropped with the database.
    pub fn mutation(&self) -> Option<&'static str> {
        use crate::commands::audit::AuditAction;
        match self {
            Command::Create(a) => (!a.dry_run && !a.drop).then_some("create"),
            Command::Migrate(a) => a.mutation(),
            Command::Seed(a) => (!a.dry_run).then_some("seed"),
            Command::ImportCsv(a) => (!a.dry_run).then_some("import-csv"),
            Command::ExpireCoins(a) => (!a.dry_run).then_some("expire-coins"),
            Command::PartitionRotate(a) => (!a.dry_run).then_some("partition-rotate"),
            Command::Audit(a) => match &a.action {
                AuditAction::Enable(c) if !c.dry_run => Some("audit enable"),
                AuditAction::Disable(c) if !c.dry_run => Some("audit disable"),
                _ => None,
            },
            Command::ReindexEs(a) => (!a.dry_run).then_some("reindex-es"),
            // Prune changes files, not a database: no database's log records it.
            Command::Backup(a) if a.action.is_some() => None,
            Command::Backup(_) => Some("backup"),
            // Not recorded here: this log lives in the database being replaced.
            // `restore` records itself in the restored database when it is done.
            Command::Restore(_) => None,
            Command::Validate(_) | Command::Status(_) | Command::Lint(_) => None,
        }
    }

    /// The command's name in the metrics file: the subcommand, with its
    /// action for those that have one (`audit enable`, `migrate status`).
    pub fn name(&self) -> String {
        use crate::commands::audit::AuditAction;
        match self {
            Command::Create(_) => "create",
            Command::Migrate(a) if a.status_requested() => "migrate status",
            Command::Migrate(_) => "migrate",
            Command::Seed(_) => "seed",
            Command::ImportCsv(_) => "import-csv",
            Command::ExpireCoins(_) => "expire-coins",
            Command::PartitionRotate(_) => "partition-rotate",
            Command::Audit(a) => match &a.action {
                AuditAction::Enable(_) => "audit enable",
                AuditAction::Disable(_) => "audit disable",
                AuditAction::Status(_) => "audit status",
                AuditAction::Log(_) => "audit log",
            },
            Command::Validate(_) => "validate",
            Command::ReindexEs(_) => "reindex-es",
            Command::Backup(a) if a.action.is_some() => "backup prune",
            Command::Backup(_) => "backup",
            Command::Restore(_) => "restore",
            Command::Status(_) => "status",
            Command::Lint(_) => "lint",
        }
        .to_string()
    }

    /// The connection flags of whichever subcommand this is.
    pub fn pg_args(&self) -> &PgArgs {
        match self {
            Command::Create(args) => &args.pg,
            Command::Migrate(args) => args.pg(),
            Command::Seed(args) => &args.pg,
            Command::ImportCsv(args) => &args.pg,
            Command::ExpireCoins(args) => &args.pg,
            Command::PartitionRotate(args) => &args.pg,
            Command::Audit(args) => args.pg(),
            Command::Validate(args) => &args.pg,
            Command::ReindexEs(args) => &args.pg,
            Command::Backup(args) => &args.run.pg,
            Command::Restore(args) => &args.pg,
            Command::Status(args) => &args.pg,
            // lint reads files only.
            Command::Lint(_) => &NO_PG,
        }
    }

    /// The store flags of whichever subcommand has them.
    pub fn store_args(&self) -> Option<&StoreArgs> {
        match self {
            Command::Create(args) => Some(&args.stores),
            Command::Migrate(args) => args.stores(),
            Command::Validate(args) => Some(&args.stores),
            Command::ReindexEs(args) => Some(&args.stores),
            Command::Backup(args) if args.action.is_none() => Some(&args.run.stores),
            Command::Restore(args) => Some(&args.stores),
            Command::Status(args) => Some(&args.stores),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// `--targets GROUP` and its companions, where the subcommand has them.
    pub fn target_args(&self) -> Option<&TargetArgs> {
        match self {
            Command::Create(args) => Some(&args.targets),
            Command::Migrate(args) => args.targets(),
            Command::Validate(args) => Some(&args.targets),
            Command::Status(args) => Some(&args.targets),
            Command::PartitionRotate(args) => Some(&args.targets),
            Command::ExpireCoins(args) => Some(&args.targets),
            Command::Backup(args) if args.action.is_none() => Some(&args.run.targets),
            _ => None,
        }
    }

    /// `--migrations DIR`, where the subcommand has it.
    pub fn migrations_dir(&self) -> Option<PathBuf> {
        match self {
            Command::Migrate(args) => args.migrations_dir(),
            Command::Lint(args) => args.migrations_dir.clone(),
            _ => None,
        }
    }

    /// `--shadow-url URL`, where the subcommand has it.
    pub fn shadow_url(&self) -> Option<String> {
        match self {
            Command::Migrate(args) => args.shadow_url(),
            _ => None,
        }
    }

    pub fn lock_args(&self) -> Option<&LockArgs> {
        match self {
            Command::Create(_) => None,
            Command::Migrate(args) => args.lock(),
            Command::Seed(args) => Some(&args.lock),
            Command::ImportCsv(args) => Some(&args.lock),
            Command::ExpireCoins(args) => Some(&args.lock),
            Command::PartitionRotate(args) => Some(&args.lock),
            Command::Audit(args) => args.lock(),
            Command::Validate(_) => None,
            Command::ReindexEs(args) => Some(&args.lock),
            Command::Backup(args) => args.action.is_none().then_some(&args.run.lock),
            Command::Restore(args) => Some(&args.lock),
            Command::Status(_) | Command::Lint(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::Action;
    use crate::validate::{Severity, Violation};

    #[test]
    fn now_is_a_date_at_midnight_utc_or_any_rfc3339_time() {
        let at = |s: &str| parse_now(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2031-06-15").unwrap(), "2031-06-15T00:00:00+00:00");
        assert_eq!(
            at("2031-06-15T10:00:00+05:30").unwrap(),
            "2031-06-15T04:30:00+00:00"
        );
        assert_eq!(
            at("2031-06-15T10:00:00.5Z").unwrap(),
            "2031-06-15T10:00:00.500+00:00"
        );
        for bad in [
            "",
            "2031-06-31",
            "2031-06-15T25:00:00Z",
            "tomorrow",
            "2031-06-15 ",
        ] {
            let err = at(bad).unwrap_err();
            assert!(
                err.contains("RFC 3339") && err.contains("a date like"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_remedies_of_report_rows_are_worded_once_in_place() {
        let mut rows = vec![
            ObjectRow::new(StoreKind::Mongodb, "index", "logs.ts_-1", Action::Drift)
                .with_detail("expireAfterSeconds 1s (file) vs 2s (server)")
                .with_remedy(Remedy::FixDrift),
            ObjectRow::new(StoreKind::Redis, "layout", "rez-db:layout", Action::Exists),
        ];
        word_object_remedies(&mut rows);
        word_object_remedies(&mut rows);
        assert_eq!(
            rows[0].detail.as_deref(),
            Some("expireAfterSeconds 1s (file) vs 2s (server) (fix with --fix-drift)")
        );
        assert_eq!(rows[1].detail, None);

        let found = |actual: &str, remedy| Violation {
            table: "t".into(),
            entity: "e".into(),
            expected: "x".into(),
            actual: actual.into(),
            remedy: Some(remedy),
        };
        let mut checks = vec![CheckResult {
            id: "c",
            severity: Severity::Error,
            description: "d",
            violations: 2,
            shown: vec![
                found("sparse false (file) vs true (server)", Remedy::FixDrift),
                found("no such key", Remedy::RebuildDerived),
            ],
            elapsed_ms: 0,
        }];
        word_violation_remedies(&mut checks);
        word_violation_remedies(&mut checks);
        let actual: Vec<&str> = checks[0].shown.iter().map(|v| v.actual.as_str()).collect();
        assert_eq!(
            actual,
            [
                "sparse false (file) vs true (server); fix with `rez-db migrate --fix-drift`",
                "no such key: run `rez-db seed --redis-only`",
            ]
        );
    }
}

//! `rez-db lint`: reads the migration files (the embedded set, and the files
//! named on the command line) and `lint-ignore.toml`, calls
//! `crate::lint::lint`, and renders its report as a table, JSON or SARIF.
//! No datastore is contacted. Exit 1 when an error-level finding remains,
//! 0 otherwise, 2 for a file that cannot be read as UTF-8 text.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::{Serialize, Serializer};

use crate::error::{CommandError, Result};
use crate::lint::{self, ignore, rules, SourceFile};
use crate::migration::MigrationSet;
use crate::output::{table, Render};
use crate::Ctx;

/// Find the hazards of migration files: locks, table rewrites, breaking renames and drops, money
/// precision.
///
/// Without FILE, lints every migration (built in, or of --migrations DIR; repeatable ones after the
/// versioned ones; then the down files, newest first as revert runs them, held to every rule but
/// drop-table, drop-column, rename and ledger-drop: undoing a migration drops what it made). A FILE is linted after the migrations that come
/// before it (by its NNNN_ number; one without a number comes last), so an "existing table" is one
/// they created. Each finding has a rule id, file, line and column, why
/// it is dangerous and the safe way. A hazard that is intended is silenced by a comment on the
/// line right above the statement, `-- rez-db:lint-ignore RULE_ID: reason`, or, for a released
/// file that must not change, an entry of lint-ignore.toml in the migrations directory; the reason
/// is required.
/// Exit 1 when an error-level finding remains, 0 otherwise, 2 for a FILE that cannot be read.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Migration files to lint instead of the whole set (e.g. the ones a pull request adds)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Lint the migrations of DIR instead of the built-in set
    /// [env: REZ_DB_MIGRATIONS; rez-db.yaml: migrations_dir]
    #[arg(long = "migrations", value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,

    /// Output: a table, JSON (as --json), or SARIF 2.1.0 for code-scanning tools
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// The files run through another tool than `rez-db migrate` (psql, a deploy script), which
    /// sets no lock_timeout: also report statements that take a lock with none set before them
    #[arg(long)]
    pub outside_rez_db: bool,

    /// Print the rules (id, severity, what each finds) and exit
    #[arg(long)]
    pub rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Sarif,
}

/// The report and how to print it.
#[derive(Debug)]
pub struct LintOutput {
    pub report: lint::Report,
    pub sarif: bool,
}

impl LintArgs {
    /// Whether the output is one JSON document (JSON or SARIF).
    pub fn json(&self, global_json: bool) -> bool {
        matches!(self.format, Some(Format::Json | Format::Sarif))
            || (global_json && self.format.is_none())
    }
}

impl Serialize for LintOutput {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self.sarif {
            true => lint::sarif::log(&self.report, env!("CARGO_PKG_VERSION")).serialize(serializer),
            false => self.report.serialize(serializer),
        }
    }
}

impl Render for LintOutput {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = &self.report;
        if !r.findings.is_empty() {
            let mut t = table([
                "rule",
                "severity",
                "file:line:col",
                "statement",
                "why; safe way",
            ]);
            for f in &r.findings {
                t.add_row([
                    f.rule.to_string(),
                    f.severity.as_str().to_string(),
                    format!("{}:{}:{}", f.file, f.line, f.column),
                    f.statement.clone(),
                    format!("{}\nsafe way: {}", f.message, f.fix),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        writeln!(
            out,
            "{} file(s), {} statement(s): {} error(s), {} warning(s), {} ignored with a reason",
            r.files,
            r.statements,
            r.errors,
            r.warnings,
            r.ignored.len()
        )
    }

    fn has_problems(&self) -> bool {
        self.report.has_errors()
    }
}

/// `--rules`: the catalogue.
#[derive(Debug, Serialize)]
pub struct RulesReport {
    pub rules: &'static [rules::Rule],
}

impl Render for RulesReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["rule", "severity", "finds"]);
        for r in self.rules {
            t.add_row([r.id, r.severity.as_str(), r.title]);
        }
        writeln!(out, "{t}")
    }
}

pub fn list() -> RulesReport {
    RulesReport { rules: rules::ALL }
}

pub fn run(ctx: &Ctx, args: &LintArgs) -> Result<LintOutput> {
    let dir = ctx.config.migrations_dir.as_deref();
    let label = dir.map_or("migrations".to_string(), |d| d.display().to_string());
    let files = source_files(&ctx.migrations()?, &label, &args.files)?;
    let listed = match dir {
        None => ignore::parse_list(ignore::EMBEDDED_LIST)
            .map_err(|e| CommandError::bug(format!("migrations/{}: {e}", ignore::IGNORE_FILE)))?,
        Some(dir) => {
            let path = dir.join(ignore::IGNORE_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => ignore::parse_list(&text).map_err(|e| {
                    CommandError::usage(format!("{}: {e}", path.display()))
                        .with_hint("each [[ignore]] entry: file, line, rule, reason")
                })?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(CommandError::usage(format!("{}: {e}", path.display()))),
            }
        }
    };
    let options = lint::Options {
        outside_rez_db: args.outside_rez_db,
    };
    Ok(LintOutput {
        report: lint::lint(&files, &listed, options),
        sarif: args.format == Some(Format::Sarif),
    })
}

/// The migrations in run order (versioned, then repeatable, then the down
/// files newest first, as `migrate revert` runs them against the whole
/// schema), with the named files in their place (a file of the same name
/// replaces the set's); only the named files are reported on when there are
/// any.
fn source_files(set: &MigrationSet, label: &str, paths: &[PathBuf]) -> Result<Vec<SourceFile>> {
    let whole = paths.is_empty();
    let file = |name: &str, sql: &str| SourceFile {
        path: format!("{label}/{name}"),
        sql: sql.to_string(),
        report: whole,
    };
    let versioned = set.versioned.iter().map(|m| {
        let f = file(&m.file_name, &m.sql);
        (run_order(&f), f)
    });
    // Repeatable migrations run after every versioned one.
    let repeatable = set
        .repeatable
        .iter()
        .map(|r| ((false, i64::MAX - 1), file(&r.file_name, &r.sql)));
    let downs = set
        .versioned
        .iter()
        .filter_map(|m| m.down.as_ref())
        .map(|d| {
            let f = file(&d.file_name, &d.sql);
            (run_order(&f), f)
        });
    let mut files: Vec<((bool, i64), SourceFile)> =
        versioned.chain(repeatable).chain(downs).collect();
    for path in paths {
        let file = SourceFile {
            path: path.display().to_string(),
            sql: read(path)?,
            report: true,
        };
        files.retain(|(_, f)| f.report || f.file_name() != file.file_name());
        files.push((run_order(&file), file));
    }
    // Stable: files without a number keep the order they were named in.
    files.sort_by_key(|(order, _)| *order);
    Ok(files.into_iter().map(|(_, f)| f).collect())
}

/// Where a file runs: the ups by number (a file without one after every
/// migration), then the downs, newest first.
fn run_order(file: &SourceFile) -> (bool, i64) {
    let version = version_of(file.file_name());
    match file.is_down() {
        true => (true, -version),
        false => (false, version),
    }
}

/// `0015` of `0015_add_index.sql`; a file without a number runs last.
fn version_of(name: &str) -> i64 {
    name.split_once('_')
        .filter(|(digits, _)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(digits, _)| digits.parse().ok())
        .unwrap_or(i64::MAX)
}

fn read(path: &Path) -> Result<String> {
    let shown = path.display();
    let bad = |why: String| {
        CommandError::usage(format!("{shown}: {why}"))
            .with_hint("name migration files (.sql), e.g. `rez-db lint migrations/0015_*.sql`")
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

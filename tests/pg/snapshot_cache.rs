//! The cache of expected schemas of `migrate baseline` and `migrate diff`:
//! a warm cache gives what a shadow build gives, any change of a migration
//! file invalidates it, a broken cache file is rebuilt, `--no-cache` builds,
//! and the files are private. Every run uses the test's own cache directory
//! (`TestDb::cache`, or a directory the test names), never the developer's.

use std::path::{Path, PathBuf};

use super::common::{stderr, stdout, TestDb};
use super::migrate_diff::differences;
use super::migrate_workflow::{built_with_psql, json};
use super::migrations_dir::{copy_of_migrations, files_with_extension};

/// The cache files of `dir`, sorted.
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "json")
}

/// `migrate baseline --to 14 --json` of `db` with `extra` arguments: exit
/// code and report.
fn baseline(db: &TestDb, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["--json", "migrate", "baseline", "--to", "14"];
    args.extend_from_slice(extra);
    let out = db.rez(&args).output().unwrap();
    (out.status.code().unwrap(), json(&out))
}

/// A database built with `psql -f` (no history) with a column added by hand.
async fn with_a_planted_column(label: &str) -> TestDb {
    let db = built_with_psql(label);
    sqlx::raw_sql("ALTER TABLE users ADD COLUMN nickname text")
        .execute(&mut db.conn().await)
        .await
        .unwrap();
    db
}

fn planted() -> Vec<(String, String, String)> {
    vec![(
        "extra".to_string(),
        "column".to_string(),
        "public.users.nickname".to_string(),
    )]
}

#[tokio::test]
async fn a_warm_cache_gives_what_a_shadow_build_gives() {
    let db = with_a_planted_column("cache_warm").await;
    let (code, cold) = baseline(&db, &[]);
    assert_eq!(code, 1, "{cold}");
    assert_eq!(cold["expected_schema"], "shadow_build");
    assert_eq!(differences(&cold), planted());
    assert_eq!(cache_files(db.cache.path()).len(), 1);

    // Warm: the same comparison, the planted difference still refused.
    let (code, warm) = baseline(&db, &[]);
    assert_eq!(code, 1, "{warm}");
    assert_eq!(warm["expected_schema"], "cache");
    assert_eq!(warm["differences"], cold["differences"]);
    assert_eq!(warm["compared"], cold["compared"]);
    let human = db
        .rez(&["migrate", "baseline", "--to", "14"])
        .output()
        .unwrap();
    assert!(
        stdout(&human).contains("expected schema: from the cache"),
        "{}",
        stdout(&human)
    );

    // Put right: accepted from the cache, and recorded.
    sqlx::raw_sql("ALTER TABLE users DROP COLUMN nickname")
        .execute(&mut db.conn().await)
        .await
        .unwrap();
    let (code, accepted) = baseline(&db, &[]);
    assert_eq!(code, 0, "{accepted}");
    assert_eq!(accepted["expected_schema"], "cache");
    assert_eq!(accepted["recorded"].as_array().unwrap().len(), 14);

    // diff of the baselined database: its history is the set baseline
    // built, so the cache is shared; a drift planted after the cache was
    // filled is still found.
    let out = db.rez(&["--json", "migrate", "diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["expected_schema"], "cache");
    sqlx::raw_sql("CREATE INDEX idx_cache_by_hand ON users (full_name)")
        .execute(&mut db.conn().await)
        .await
        .unwrap();
    let out = db.rez(&["--json", "migrate", "diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["expected_schema"], "cache");
    assert_eq!(
        differences(&report),
        [(
            "extra".to_string(),
            "index".to_string(),
            "public.idx_cache_by_hand".to_string()
        )]
    );
}

#[tokio::test]
async fn a_changed_migration_file_invalidates_the_cache() {
    let db = with_a_planted_column("cache_edit").await;
    let dir = copy_of_migrations();
    let migrations = dir.path().display().to_string();
    let from = ["--migrations", migrations.as_str()];
    assert_eq!(baseline(&db, &from).1["expected_schema"], "shadow_build");
    assert_eq!(baseline(&db, &from).1["expected_schema"], "cache");

    // An edit that changes no object still changes the checksum: rebuilt.
    let last = dir.path().join(
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("0014_") && !n.ends_with(".down.sql"))
            .expect("a migration 0014"),
    );
    let text = std::fs::read_to_string(&last).unwrap();
    std::fs::write(&last, format!("{text}\n-- edited\n")).unwrap();
    let (code, report) = baseline(&db, &from);
    assert_eq!(
        (code, &report["expected_schema"]),
        (1, &"shadow_build".into())
    );
    assert_eq!(differences(&report), planted());
    assert_eq!(baseline(&db, &from).1["expected_schema"], "cache");

    // An edit that changes the schema: the fresh build shows it.
    std::fs::write(
        &last,
        format!("{text}\nCREATE TABLE cache_probe (id int);\n"),
    )
    .unwrap();
    let (code, report) = baseline(&db, &from);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["expected_schema"], "shadow_build");
    assert!(
        differences(&report).contains(&(
            "missing".to_string(),
            "table".to_string(),
            "public.cache_probe".to_string()
        )),
        "{report}"
    );
    // One file per set of inputs: the original, the comment, the table.
    assert_eq!(cache_files(db.cache.path()).len(), 3);
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_and_replaced() {
    let db = with_a_planted_column("cache_corrupt").await;
    baseline(&db, &[]);
    let file = cache_files(db.cache.path()).pop().unwrap();
    let whole = std::fs::read(&file).unwrap();
    let foreign =
        String::from_utf8(whole.clone())
            .unwrap()
            .replacen("\"format\":1", "\"format\":999", 1);
    assert_ne!(foreign.as_bytes(), whole, "the file must name its format");
    for broken in [
        whole[..whole.len() / 2].to_vec(),
        b"not json at all".to_vec(),
        foreign.into_bytes(),
    ] {
        std::fs::write(&file, &broken).unwrap();
        let (code, report) = baseline(&db, &[]);
        assert_eq!(code, 1, "a broken cache is never an error: {report}");
        assert_eq!(report["expected_schema"], "shadow_build");
        assert_eq!(differences(&report), planted());
        assert_eq!(
            std::fs::read(&file).unwrap(),
            whole,
            "the broken file is replaced by the fresh build"
        );
        assert_eq!(baseline(&db, &[]).1["expected_schema"], "cache");
    }
}

#[tokio::test]
async fn no_cache_rebuilds_and_the_files_are_private() {
    let db = with_a_planted_column("cache_flag").await;
    // A directory that does not exist yet: created by rez-db, for its owner only.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested").join("rez-db");
    let run = |extra: &[&str]| {
        let mut args = vec!["--json", "migrate", "baseline", "--to", "14"];
        args.extend_from_slice(extra);
        let out = db
            .rez(&args)
            .env("REZ_DB_CACHE_DIR", &dir)
            .output()
            .unwrap();
        json(&out)["expected_schema"].as_str().unwrap().to_string()
    };
    assert_eq!(run(&[]), "shadow_build");
    assert_eq!(run(&[]), "cache");
    assert_eq!(run(&["--no-cache"]), "shadow_build");
    assert_eq!(run(&[]), "cache");
    assert!(
        cache_files(db.cache.path()).is_empty(),
        "REZ_DB_CACHE_DIR is where the cache goes"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let files = cache_files(&dir);
        assert_eq!(files.len(), 1);
        assert_eq!(mode(&files[0]), 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}

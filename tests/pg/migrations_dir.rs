//! Migrations read from a directory (`--migrations`, `REZ_DB_MIGRATIONS`,
//! `migrations_dir:`), bad directories, and checksums that survive a
//! checkout with CRLF line endings or a byte order mark (issue 14).

use std::path::{Path, PathBuf};

use sqlx::PgConnection;

use super::common::{repo_path, stderr, stdout, TestDb};

/// A copy of the repository's migrations/ in a temporary directory.
pub fn copy_of_migrations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("migrations")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Every `.sql` file directly under `dir`, sorted.
fn sql_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "sql")
}

/// Every file directly under `dir` whose name ends in `.{extension}`, sorted.
pub(super) fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

async fn history(conn: &mut PgConnection) -> Vec<(i64, String, String)> {
    sqlx::query_as(
        "SELECT version, checksum, checksum_algorithm FROM rez_meta.schema_history ORDER BY version",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

fn arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[tokio::test]
async fn a_directory_runs_like_the_built_in_set_with_the_same_checksums() {
    let db = TestDb::unborn("mdir");
    db.rez(&["create"]).assert().success();
    let dir = copy_of_migrations();
    let out = db
        .rez(&["--json", "migrate", "--migrations", &arg(dir.path())])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let embedded = rez_db::migration::embedded().unwrap().versioned;
    let mut conn = db.conn().await;
    let rows = history(&mut conn).await;
    assert_eq!(rows.len(), embedded.len());
    for ((version, checksum, algorithm), m) in rows.iter().zip(&embedded) {
        assert_eq!((*version, checksum), (m.version, &m.checksum));
        assert_eq!(algorithm, "sha256-lf");
    }
    // The same files, built in: nothing pending, nothing diverged.
    let status = db.rez(&["migrate", "status"]).output().unwrap();
    assert!(status.status.success(), "{}", stdout(&status));
    assert!(
        stdout(&status).contains(", 0 pending, 0 diverged"),
        "{}",
        stdout(&status)
    );

    // A new file in the directory: REZ_DB_MIGRATIONS and migrations_dir: both read it.
    let next = embedded.len() + 1;
    std::fs::write(
        dir.path().join(format!("{next:04}_extra.sql")),
        "CREATE TABLE extra_from_dir (id int);\n",
    )
    .unwrap();
    let out = db
        .rez(&["--json", "migrate", "status"])
        .env("REZ_DB_MIGRATIONS", dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = report["migrations"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["name"].as_str(), last["state"].as_str()),
        (Some("extra"), Some("pending"))
    );
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("migrations_dir: {}\n", arg(dir.path())),
    )
    .unwrap();
    db.rez(&["--config", &arg(config.path()), "migrate", "--check"])
        .assert()
        .code(1);
    db.rez(&["--config", &arg(config.path()), "migrate"])
        .assert()
        .success();
    let table: bool = sqlx::query_scalar("SELECT to_regclass('extra_from_dir') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(table);
    // The flag wins over the environment: the built-in set lacks the extra file.
    let out = db
        .rez(&[
            "migrate",
            "status",
            "--migrations",
            &arg(&repo_path("migrations")),
        ])
        .env("REZ_DB_MIGRATIONS", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("missing"), "{}", stdout(&out));
}

#[tokio::test]
async fn a_bad_directory_exits_2_naming_the_file_before_connecting() {
    // An unreachable database: the files are checked first.
    let db = TestDb::unborn("mdir_bad");
    let cases: Vec<(&str, Vec<(&str, &str)>, String)> = vec![
        (
            "gap",
            vec![("0001_a.sql", "SELECT 1;"), ("0003_c.sql", "SELECT 3;")],
            "0003_c.sql follows".into(),
        ),
        (
            "duplicate",
            vec![("0001_a.sql", "SELECT 1;"), ("0001_b.sql", "SELECT 1;")],
            "have the same version 1".into(),
        ),
        (
            "unparsable",
            vec![("0001_a.sql", "SELECT 1;"), ("2_b.sql", "SELECT 1;")],
            "2_b.sql: the name must look like NNNN_snake_case.sql".into(),
        ),
        (
            "orphan down",
            vec![
                ("0001_a.sql", "SELECT 1;"),
                ("0002_b.down.sql", "SELECT 1;"),
            ],
            "0002_b.down.sql has no migration to reverse".into(),
        ),
    ];
    for (what, files, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        for command in [
            vec!["migrate"],
            vec!["migrate", "status"],
            vec!["migrate", "--dry-run"],
        ] {
            let mut args = command.clone();
            let d = arg(dir.path());
            args.extend(["--migrations", &d]);
            let out = db.rez(&args).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{what} {args:?}: {}",
                stderr(&out)
            );
            let err = stderr(&out);
            assert!(err.contains(&expected), "{what}: {err}");
            assert!(
                err.contains(&d),
                "{what}: the message names the directory: {err}"
            );
        }
    }
    let out = db
        .rez(&["migrate", "--migrations", "/nonexistent/rez-db-migrations"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("cannot read the migrations directory /nonexistent/rez-db-migrations"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_crlf_and_bom_checkout_stays_clean_and_a_real_edit_is_still_caught() {
    let db = TestDb::unborn("mdir_crlf");
    db.rez(&["create"]).assert().success();
    let dir = copy_of_migrations();
    let d = arg(dir.path());
    db.rez(&["migrate", "--migrations", &d]).assert().success();

    // As git with core.autocrlf, plus an editor that saves a BOM.
    for file in sql_files(dir.path()) {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    }
    let status = db
        .rez(&["migrate", "status", "--migrations", &d])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stdout(&status));
    assert!(
        stdout(&status).contains(", 0 pending, 0 diverged"),
        "{}",
        stdout(&status)
    );
    db.rez(&["migrate", "--check", "--migrations", &d])
        .assert()
        .code(0);

    // A real edit of an applied file is still an edit.
    let third = &dir.path().join("0003_admin_and_colleges.sql");
    let text = std::fs::read_to_string(third).unwrap();
    std::fs::write(third, format!("{text}\r\n-- changed\r\n")).unwrap();
    let out = db
        .rez(&["--json", "migrate", "status", "--migrations", &d])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["divergences"][0]["kind"], "edited", "{report}");
    assert_eq!(report["divergences"][0]["version"], 3);
    db.rez(&["migrate", "--migrations", &d]).assert().code(1);
}

#[tokio::test]
async fn a_history_of_the_old_algorithm_keeps_verifying_and_is_upgraded_by_migrate() {
    let db = TestDb::migrated("mdir_old").await;
    let mut conn = db.conn().await;
    // The history table as rez-db wrote it before checksum_algorithm existed.
    sqlx::raw_sql(
        "ALTER TABLE rez_meta.schema_history DROP COLUMN checksum_algorithm; \
         DROP TABLE rez_meta.repeatable_history;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let status = db.rez(&["migrate", "status"]).output().unwrap();
    assert!(
        status.status.success(),
        "{}{}",
        stdout(&status),
        stderr(&status)
    );

    // A no-op migrate brings the table up to date; the old rows say `sha256`.
    db.rez(&["migrate"]).assert().success();
    let rows = history(&mut conn).await;
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|(_, _, a)| a == "sha256"), "{rows:?}");

    // Old rows verify a CRLF checkout too (the file was LF when applied).
    let dir = copy_of_migrations();
    for file in sql_files(dir.path()) {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace('\n', "\r\n")).unwrap();
    }
    let d = arg(dir.path());
    let status = db
        .rez(&["migrate", "status", "--migrations", &d])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stdout(&status));

    // And an old row still catches a real edit.
    sqlx::query("UPDATE rez_meta.schema_history SET checksum = repeat('0', 64) WHERE version = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    db.rez(&["migrate", "status", "--migrations", &d])
        .assert()
        .code(1);
}

//! Hostile inputs to `rez-db import-csv`: manifest paths that leave the
//! manifest's folder, paths that are not regular files, file content with
//! secrets in it, and messages PostgreSQL cannot store. Nothing of a file but
//! the field an error is about may leave rez-db, never a secret, and every run
//! records its end in `rez_meta.operations`.

use std::path::Path;

use sqlx::PgConnection;

use super::common::{stderr, stdout, TestDb};

/// The operations log's import-csv rows: (ended, exit code, message).
async fn logged_imports(conn: &mut PgConnection) -> Vec<(bool, Option<i32>, Option<String>)> {
    sqlx::query_as(
        "SELECT ended_at IS NOT NULL, exit_code, message FROM rez_meta.operations \
         WHERE command = 'import-csv' ORDER BY id",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

fn manifest(dir: &Path, path: &str) -> String {
    let file = dir.join("manifest.yaml");
    std::fs::write(
        &file,
        format!("files:\n  - table: users\n    path: {path}\n"),
    )
    .unwrap();
    file.to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_secret_in_a_bad_header_never_leaves_rez_db() {
    let db = TestDb::migrated("inputs_secret").await;
    let dir = tempfile::tempdir().unwrap();
    // The first line of some file that is not a CSV export: a connection
    // string and a password parameter, as in a process environment.
    std::fs::write(
        dir.path().join("users.csv"),
        "DATABASE_URL=postgres://u:s3cret@db.internal/rez password=hunter2x,phone\n1,2\n",
    )
    .unwrap();
    let manifest = manifest(dir.path(), "users.csv");
    for json in [false, true] {
        let mut args = vec!["import-csv", "--manifest", &manifest];
        if json {
            args.insert(0, "--json");
        }
        let out = db.rez(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let (err, doc) = (stderr(&out), stdout(&out));
        for secret in ["s3cret", "hunter2x"] {
            assert!(!err.contains(secret), "stderr leaks {secret}: {err}");
            assert!(!doc.contains(secret), "stdout leaks {secret}: {doc}");
        }
        assert!(err.contains("is not a column of `users`"), "{err}");
        if json {
            let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
            assert_eq!(doc["error"]["exit_code"], 2);
        }
    }
    let rows = logged_imports(&mut db.conn().await).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (ended, code, message) in rows {
        let message = message.unwrap_or_default();
        assert!((ended, code) == (true, Some(2)), "{message}");
        assert!(
            !message.contains("s3cret") && !message.contains("hunter2x"),
            "the stored error leaks a secret: {message}"
        );
        assert!(message.contains("is not a column of `users`"), "{message}");
    }
}

#[tokio::test]
async fn a_header_holding_a_nul_byte_still_records_the_end_of_the_run() {
    let db = TestDb::migrated("inputs_nul").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.csv");
    std::fs::write(&file, b"pho\0ne,email\n1,2\n").unwrap();
    let out = db
        .rez(&["import-csv", "--table", "users", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let rows = logged_imports(&mut db.conn().await).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (ended, code, message) = &rows[0];
    assert!(
        *ended,
        "the run's row has no end, like a killed run: {rows:?}"
    );
    assert_eq!(*code, Some(2));
    let message = message.as_deref().unwrap_or_default();
    assert!(message.contains(r"pho\0ne"), "{message}");
}

#[tokio::test]
async fn a_message_postgresql_cannot_store_is_escaped_not_dropped() {
    let db = TestDb::migrated("inputs_oplog_nul").await;
    let mut conn = db.conn().await;
    let op = rez_db::store::pg::oplog::Operation {
        command: "import-csv".into(),
        arguments: vec!["rez-db".into(), "import-csv".into()],
        actor: "test".into(),
        started_at: chrono::Utc::now(),
    };
    let id = rez_db::store::pg::oplog::start(&mut conn, &op)
        .await
        .unwrap();
    rez_db::store::pg::oplog::finish(&mut conn, id, 2, Some("bad \0 byte"))
        .await
        .unwrap();
    let rows = logged_imports(&mut conn).await;
    assert_eq!(
        rows,
        [(true, Some(2), Some(r"bad \0 byte".to_string()))],
        "stored with the NUL escaped"
    );
}

#[tokio::test]
async fn manifest_paths_outside_its_folder_are_refused_unless_allowed() {
    let db = TestDb::migrated("inputs_outside").await;
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("imports");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        outer.path().join("users.csv"),
        "phone,full_name\n+919800000009,Outside\n",
    )
    .unwrap();
    for path in ["../users.csv", "/proc/self/environ"] {
        let manifest = manifest(&dir, path);
        let out = db
            .rez(&["import-csv", "--manifest", &manifest])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{path}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("manifest.yaml:3: path:"), "{err}");
        assert!(err.contains("outside the manifest's folder"), "{err}");
        assert!(err.contains("--allow-outside"), "{err}");
    }
    // A symbolic link inside the folder that points out of it is outside too.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outer.path().join("users.csv"), dir.join("link.csv")).unwrap();
        let manifest = manifest(&dir, "link.csv");
        let out = db
            .rez(&["import-csv", "--manifest", &manifest])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--allow-outside"), "{}", stderr(&out));
    }
    let manifest = manifest(&dir, "../users.csv");
    let out = db
        .rez(&["import-csv", "--manifest", &manifest, "--allow-outside"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let loaded: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut db.conn().await)
        .await
        .unwrap();
    assert_eq!(loaded, 1);
}

#[tokio::test]
async fn a_path_that_is_not_a_regular_file_is_named_so() {
    let db = TestDb::migrated("inputs_irregular").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder.csv")).unwrap();
    // One file: a device, and a folder.
    for path in ["/dev/zero", dir.path().join("folder.csv").to_str().unwrap()] {
        let out = db
            .rez(&["import-csv", "--table", "users", path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{path}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{path}: {}",
            stderr(&out)
        );
    }
    // A manifest: a folder inside it, and a device outside with --allow-outside.
    for (path, extra) in [("folder.csv", None), ("/dev/zero", Some("--allow-outside"))] {
        let manifest = manifest(dir.path(), path);
        let mut args = vec!["import-csv", "--manifest", &manifest];
        args.extend(extra);
        let out = db.rez(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{path}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("manifest.yaml:3: path:") && err.contains("not a regular file"),
            "{path}: {err}"
        );
    }
}

/// A reject file that cannot be written is the run failing (exit 5), not a
/// problem found in the file nor a usage error: nothing is loaded, and the
/// hint says where the path comes from.
#[tokio::test]
async fn a_reject_file_that_cannot_be_created_exits_5_and_loads_nothing() {
    let db = TestDb::migrated("inputs_rejects").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.csv");
    std::fs::write(
        &file,
        "phone,full_name\n+919800000001,Asha Rao\n+91980000000x,Bad Phone\n",
    )
    .unwrap();
    let rejects = dir.path().join("no-such-folder").join("rejects.csv");
    let out = db
        .rez(&[
            "--json",
            "import-csv",
            "--table",
            "users",
            file.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot create the reject file"), "{err}");
    assert!(err.contains("--rejects PATH"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["error"]["exit_code"], 5, "{doc}");
    let loaded: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut db.conn().await)
        .await
        .unwrap();
    assert_eq!(loaded, 0);
}

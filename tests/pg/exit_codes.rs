//! The exit-code contract (README, "Exit codes"; `rez-db --help`), one test
//! per path, through the real binary: 0 the command did its job; 1 it ran and
//! found problems; 2 usage or configuration; 3 a datastore unreachable; 4
//! another run holds the lock; 5 it could not do its job. Where the run ends
//! in an error, `--json` prints it as the one document on stdout and that
//! document carries the same exit code.
//!
//! Tested where the signals matter: 130 and 143 (Ctrl-C, SIGTERM) in
//! `pg::backup::an_interrupted_backup_leaves_no_pg_dump_running` (both),
//! `pg::backup::a_terminated_restore_exits_143_only_after_pg_restore_has_exited`
//! and `stores::leases::an_interrupted_restore_releases_the_leases_it_took`;
//! 255 (a panic) is the panic hook of main.rs.

use std::process::{Output, Stdio};

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::common::{repo_path, rez, rez_process, stderr, stdout, TestDb};

/// The `--json` error document of a failed run: its kind and exit code agree
/// with the process's.
fn error_doc(out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    });
    assert_eq!(
        doc["error"]["exit_code"].as_i64().map(|c| c as i32),
        out.status.code(),
        "{doc:#}"
    );
    doc
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Plants a payment whose order does not exist: a violation of
/// `ref.payments_order` (the database accepts it: a checked reference).
async fn dangling_payment(conn: &mut PgConnection) {
    sqlx::raw_sql(&format!(
        "INSERT INTO users (id, phone) VALUES ('{user}', '919800000099'); \
         INSERT INTO payments (order_id, user_id, gateway, amount) \
         VALUES ('{order}', '{user}', 'razorpay', 10.00)",
        user = Uuid::new_v4(),
        order = Uuid::new_v4(),
    ))
    .execute(conn)
    .await
    .unwrap();
}

/// Makes PostgreSQL refuse every row written to users with `sqlstate`, as a
/// rule rez-db does not know would (a trigger, a revoked grant).
async fn refuse_users_with(conn: &mut PgConnection, sqlstate: &str) {
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION refuse_users() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = '{sqlstate}'; END $$; \
         CREATE TRIGGER refuse_users BEFORE INSERT ON users \
         FOR EACH ROW EXECUTE FUNCTION refuse_users();"
    ))
    .execute(conn)
    .await
    .unwrap();
}

fn import_users(db: &TestDb, json: bool) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.csv");
    let file = repo_path("fixtures/csv/valid/users.csv");
    let mut args = vec![
        "import-csv",
        "--table",
        "users",
        "--rejects",
        rejects.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    if json {
        args.insert(0, "--json");
    }
    db.rez(&args).output().unwrap()
}

#[tokio::test]
async fn exit_0_when_the_command_finds_nothing_wrong() {
    let db = TestDb::migrated("exit0").await;
    let out = db.rez(&["validate"]).output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = db.rez(&["--json", "validate"]).output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.get("error").is_none(), "{report:#}");
}

#[tokio::test]
async fn exit_1_when_validate_finds_a_violation() {
    let db = TestDb::migrated("exit1_validate").await;
    dangling_payment(&mut db.conn().await).await;
    let out = db.rez(&["validate"]).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ref.payments_order"),
        "{}",
        stdout(&out)
    );
    // Found problems are the report, not an error: the document is the report.
    let out = db.rez(&["--json", "validate"]).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.get("error").is_none(), "{report:#}");
    let failing: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["violations"].as_u64() != Some(0))
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["ref.payments_order"]);
}

#[tokio::test]
async fn exit_1_when_migrate_check_finds_pending_migrations() {
    let db = TestDb::empty("exit1_check").await;
    let out = db.rez(&["migrate", "--check"]).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("pending: 0001_"), "{}", stdout(&out));
    let out = db.rez(&["--json", "migrate", "--check"]).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.get("error").is_none(), "{report:#}");
    assert!(
        !report["pending"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}

#[tokio::test]
async fn exit_1_when_the_server_refuses_a_load_for_its_data() {
    let db = TestDb::migrated("exit1_load").await;
    // 23514 (check_violation): a rule about the rows, which import-csv lacks.
    refuse_users_with(&mut db.conn().await, "23514").await;
    let out = import_users(&db, false);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PostgreSQL refused the load"),
        "{}",
        stderr(&out)
    );
    let doc = error_doc(&import_users(&db, true));
    assert_eq!(doc["error"]["exit_code"], 1);
    assert_eq!(doc["error"]["kind"], "problems");
}

#[test]
fn exit_2_on_a_flag_rez_db_does_not_have() {
    let out = rez(&["validate", "--no-such-flag"]).output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-such-flag"), "{}", stderr(&out));
}

#[test]
fn exit_2_on_a_bad_configuration_file() {
    let file = repo_path("fixtures/config/invalid/unknown_key.yaml");
    let file = file.to_str().unwrap();
    let out = rez(&["--config", file, "validate"]).output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown_key.yaml:4:"),
        "{}",
        stderr(&out)
    );
    let doc = error_doc(
        &rez(&["--json", "--config", file, "validate"])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["error"]["exit_code"], 2);
    assert_eq!(doc["error"]["kind"], "usage");
}

#[test]
fn exit_3_when_a_store_is_unreachable() {
    // Port 1: nothing listens there, the connection is refused at once.
    let url = "postgres://rez@127.0.0.1:1/rez";
    let out = rez(&["validate", "--only", "pg", "--database-url", url])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
    let out = rez(&["--json", "validate", "--only", "pg", "--database-url", url])
        .output()
        .unwrap();
    let doc = error_doc(&out);
    assert_eq!(doc["error"]["exit_code"], 3);
    assert_eq!(doc["error"]["kind"], "unreachable");
}

#[tokio::test]
async fn exit_4_when_another_run_holds_the_lock() {
    let db = TestDb::empty("exit4").await;
    // The schema lock (src/store/pg/lock.rs: "REZD", scope 1), held as a
    // migrate in progress would hold it.
    let mut holder = db.conn().await;
    sqlx::query("SELECT pg_advisory_lock(1380276804, 1)")
        .execute(&mut holder)
        .await
        .unwrap();
    let out = db.rez(&["migrate"]).output().unwrap();
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("schema lock"), "{}", stderr(&out));
    let doc = error_doc(&db.rez(&["--json", "migrate"]).output().unwrap());
    assert_eq!(doc["error"]["exit_code"], 4);
    assert_eq!(doc["error"]["kind"], "lockheld");
}

#[tokio::test]
async fn exit_5_when_the_server_refuses_a_statement() {
    // Not migrated: there is no audit_log to read. Not a problem found in
    // the data (1), not a usage error (2): the command could not do its job.
    let db = TestDb::empty("exit5_statement").await;
    let out = db
        .rez(&["audit", "log", "--table", "users"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"relation "audit_log" does not exist"#),
        "{}",
        stderr(&out)
    );
    let out = db
        .rez(&["--json", "audit", "log", "--table", "users"])
        .output()
        .unwrap();
    let doc = error_doc(&out);
    assert_eq!(doc["error"]["exit_code"], 5);
    assert_eq!(doc["error"]["kind"], "failed");
}

#[tokio::test]
async fn exit_5_when_the_server_refuses_a_load_for_another_reason_than_its_data() {
    let db = TestDb::migrated("exit5_load").await;
    // 42501 (insufficient_privilege): what a cron job meets when its role
    // lost a grant; the file is not at fault, so this is not exit 1.
    refuse_users_with(&mut db.conn().await, "42501").await;
    let out = import_users(&db, false);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused by a test trigger"),
        "{}",
        stderr(&out)
    );
    let doc = error_doc(&import_users(&db, true));
    assert_eq!(doc["error"]["exit_code"], 5);
    assert_eq!(doc["error"]["kind"], "failed");
}

#[tokio::test]
async fn exit_5_when_backup_cannot_write_its_directory() {
    let db = TestDb::migrated("exit5_backup").await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    // ENOTDIR: the backup's folder would be inside a regular file.
    let to = file.join("backup");
    let to = to.to_str().unwrap();
    let out = db.rez(&["backup", "--to", to]).output().unwrap();
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("a-file/backup"), "{}", stderr(&out));
    let doc = error_doc(&db.rez(&["--json", "backup", "--to", to]).output().unwrap());
    assert_eq!(doc["error"]["exit_code"], 5);
    assert_eq!(doc["error"]["kind"], "failed");
}

#[cfg(target_os = "linux")]
#[test]
fn exit_5_when_stdout_cannot_be_written() {
    for args in [
        &["validate", "--list"][..],
        &["--json", "validate", "--list"],
    ] {
        // /dev/full: every write fails with ENOSPC, as on a full disk.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = rez_process(args)
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(5), "{args:?}: {}", stderr(&out));
        // The error still reaches stderr, whatever became of stdout.
        assert!(
            stderr(&out).contains("error: cannot write the output"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn exit_0_when_stdout_is_a_closed_pipe() {
    // `rez-db ... | head`: the reader is gone before the first write.
    for args in [
        &["validate", "--list"][..],
        &["--json", "validate", "--list"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = rez_process(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

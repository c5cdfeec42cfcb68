//! `rez-db import-csv` into `users`: exact loaded rows, exact reject lines and
//! reasons, exit codes, atomicity (an aborted or malformed import leaves the
//! table as it was), upsert reruns that change nothing, and the data lock.

use std::path::{Path, PathBuf};

use sqlx::PgConnection;

use super::common::{keys_and_indexes, repo_path, stderr, stdout, TestDb};

pub(crate) fn fixture(name: &str) -> String {
    repo_path(&format!("fixtures/csv/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Runs import-csv into users with its reject file in `dir` (`rejects.out`);
/// (exit code, JSON report or error).
pub(crate) fn import(
    db: &TestDb,
    dir: &Path,
    file: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let rejects = dir.join("rejects.out");
    let mut args = vec![
        "--json",
        "import-csv",
        "--table",
        "users",
        file,
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = db.rez(&args).output().unwrap();
    let code = out.status.code().unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (code, doc)
}

fn rejects(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("rejects.out")).unwrap()
}

/// Every user as `phone|email|full_name|status`, ordered by phone.
async fn users(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT concat_ws('|', phone, coalesce(email, ''), coalesce(full_name, ''), coalesce(status, '')) \
         FROM users ORDER BY phone",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// A digest of every column of every user (updated_at included).
async fn fingerprint(conn: &mut PgConnection) -> String {
    sqlx::query_scalar(
        "SELECT md5(coalesce(string_agg(u::text, E'\\n' ORDER BY u::text), '')) FROM users u",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn valid_files_load_exactly_their_rows() {
    let db = TestDb::migrated("import_valid").await;
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = import(&db, dir.path(), &fixture("valid/users.csv"), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (report["read"].as_u64(), report["loaded"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(report["rejected"], 0);
    let mut conn = db.conn().await;
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000001|asha@example.com|Asha Rao|active",
            "+919800000002||Verma, Ravi|active",
            "9800000003|neha@example.in|Neha|suspended",
        ]
    );
    let (created, dob, verified): (String, String, bool) = sqlx::query_as(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), date_of_birth::text, email_verified \
         FROM users WHERE phone = '+919800000001'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        (created.as_str(), dob.as_str(), verified),
        ("2025-01-10 03:30", "1990-04-01", true)
    );

    // A BOM, CRLF endings and a quoted CRLF inside a field.
    let (code, report) = import(&db, dir.path(), &fixture("valid/users_bom_crlf.csv"), &[]);
    assert_eq!((code, report["loaded"].as_u64()), (0, Some(2)), "{report}");
    let name: String =
        sqlx::query_scalar("SELECT full_name FROM users WHERE phone = '+919800000011'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(name, "Line\r\nBreak");

    // Other names, another delimiter.
    let (code, report) = import(
        &db,
        dir.path(),
        &fixture("valid/users_map_semicolon.csv"),
        &[
            "--delimiter",
            ";",
            "--map",
            "mobile=phone",
            "--map",
            "mail=email",
            "--map",
            "name=full_name",
        ],
    );
    assert_eq!((code, report["loaded"].as_u64()), (0, Some(1)), "{report}");

    // Header only: nothing to load is not an error.
    let (code, report) = import(
        &db,
        dir.path(),
        &fixture("valid/users_header_only.csv"),
        &[],
    );
    assert_eq!((code, report["read"].as_u64()), (0, Some(0)), "{report}");
    assert_eq!(users(&mut conn).await.len(), 6);
}

/// Into an empty table the indexes (and the keys foreign keys reference,
/// with those foreign keys) are built after the load, and come back exactly;
/// into a table with rows, nothing is set aside.
#[tokio::test]
async fn an_empty_table_gets_its_indexes_built_after_the_load() {
    let db = TestDb::migrated("import_empty_fast").await;
    let mut conn = db.conn().await;
    let before = keys_and_indexes(&mut conn).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = import(&db, dir.path(), &fixture("valid/users.csv"), &[]);
    assert_eq!((code, report["loaded"].as_u64()), (0, Some(3)), "{report}");
    let mut rebuilt: Vec<&str> = report["indexes_rebuilt"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    rebuilt.sort_unstable();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'users'::regclass ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // Every index of users, and the foreign keys that reference its key.
    for index in &indexes {
        assert!(
            rebuilt.contains(&index.as_str()),
            "{index} not in {rebuilt:?}"
        );
    }
    assert!(rebuilt.contains(&"wallets_user_id_fkey"), "{rebuilt:?}");
    assert_eq!(keys_and_indexes(&mut conn).await, before);
    assert_eq!(users(&mut conn).await.len(), 3);

    let (code, report) = import(&db, dir.path(), &fixture("valid/users_bom_crlf.csv"), &[]);
    assert_eq!((code, report["loaded"].as_u64()), (0, Some(2)), "{report}");
    assert!(report.get("indexes_rebuilt").is_none(), "{report}");
}

/// Readers holding a table the set-aside would lock: import-csv waits
/// lock_timeout, then keeps what it could not lock, and loads all the same.
#[tokio::test]
async fn locks_not_granted_in_time_keep_the_indexes_and_load_all_the_same() {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "lock_timeout_ms: 200\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.out");
    let file = fixture("valid/users.csv");
    let run = |db: &TestDb| {
        let out = db
            .rez(&[
                "--config",
                config.path().to_str().unwrap(),
                "--json",
                "import-csv",
                "--table",
                "users",
                &file,
                "--rejects",
                rejects.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    for (label, held, rebuilt) in [
        // A reader of wallets: its foreign key to users stays, and so does
        // the key it references; the other indexes are set aside.
        ("import_lock_child", "wallets", true),
        // A reader of users itself: nothing is set aside.
        ("import_lock_target", "users", false),
    ] {
        let db = TestDb::migrated(label).await;
        let mut reader = db.conn().await;
        sqlx::raw_sql(&format!("BEGIN; SELECT count(*) FROM {held};"))
            .execute(&mut reader)
            .await
            .unwrap();
        let report = run(&db);
        assert_eq!(report["loaded"], 3, "{label}: {report}");
        let names: Vec<&str> = report["indexes_rebuilt"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(!names.is_empty(), rebuilt, "{label}: {report}");
        assert!(!names.contains(&"users_pkey"), "{label}: {names:?}");
        assert!(
            !names.contains(&"wallets_user_id_fkey"),
            "{label}: {names:?}"
        );
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut reader)
            .await
            .unwrap();
        let migrated = TestDb::migrated(&format!("{label}_ref")).await;
        assert_eq!(
            keys_and_indexes(&mut db.conn().await).await,
            keys_and_indexes(&mut migrated.conn().await).await
        );
        assert_eq!(users(&mut db.conn().await).await.len(), 3);
    }
}

/// A unique index import-csv knows nothing of: the rows pass its checks and
/// the index's rebuild refuses them; nothing is loaded and the index is back.
#[tokio::test]
async fn a_failed_rebuild_loads_nothing_and_restores_the_indexes() {
    let db = TestDb::migrated("import_rebuild_fails").await;
    let mut conn = db.conn().await;
    sqlx::raw_sql("CREATE UNIQUE INDEX users_full_name_once ON users (full_name)")
        .execute(&mut conn)
        .await
        .unwrap();
    let before = keys_and_indexes(&mut conn).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twins.csv");
    std::fs::write(
        &file,
        "phone,full_name\n+919800000101,Same Name\n+919800000102,Same Name\n",
    )
    .unwrap();
    let rejects = dir.path().join("rejects.out");
    let out = db
        .rez(&[
            "import-csv",
            "--table",
            "users",
            file.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nothing was loaded") && err.contains("users_full_name_once"),
        "{err}"
    );
    assert!(users(&mut conn).await.is_empty());
    assert_eq!(keys_and_indexes(&mut conn).await, before);
}

#[tokio::test]
async fn bad_rows_are_rejected_with_line_column_and_reason() {
    let db = TestDb::migrated("import_rejects").await;
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("valid/users_with_rejects.csv");
    let (code, report) = import(&db, dir.path(), &file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(numbers(&report, ["read", "loaded", "rejected"]), [8, 2, 6]);
    assert_eq!(
        report["reasons"],
        serde_json::json!({"duplicate_in_file": 2, "invalid_email": 1, "invalid_phone": 1, "not_allowed": 1, "not_null": 1})
    );
    let lines: Vec<String> = rejects(dir.path())
        .lines()
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        lines,
        [
            "line,column",
            "3,phone",
            "4,email",
            "5,status",
            "6,phone",
            "7,phone",
            "8,email"
        ]
    );
    let text = rejects(dir.path());
    assert!(text.contains(r#"5,status,"not_allowed: `gone` is not one of active, suspended, deleted","+919800000034,c@example.com,Bad Status,gone""#), "{text}");
    assert!(
        text.contains("duplicate_in_file: `+919800000031` is already on line 2 of the file"),
        "{text}"
    );
    let mut conn = db.conn().await;
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000031|a@example.com|Ok Row|active",
            "+919800000038|f@example.com|Ok Row Two|active",
        ]
    );

    // Against the table: a second atomic run rejects every row as a duplicate.
    let (code, report) = import(&db, dir.path(), &file, &["--reject-format", "jsonl"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["loaded"], 0);
    // Two good rows, each with its phone and its email already in the
    // table; and lines 7 and 8, whose phone or email line 2 gave: line 2 is
    // refused this time, so theirs are duplicates of the table, not of the file.
    assert_eq!(report["reasons"]["duplicate_in_table"], 6, "{report}");
    assert_eq!(report["rejected"], 8, "{report}");
    // Rows refused against the table are written when their batch is checked,
    // after the rows refused on their own.
    let entries: Vec<serde_json::Value> = rejects(dir.path())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 10);
    let first = entries.iter().find(|e| e["line"] == 2).unwrap();
    assert_eq!(first["column"], "phone");
    assert_eq!(first["raw"], "+919800000031,a@example.com,Ok Row,active");
    assert!(first["reason"]
        .as_str()
        .unwrap()
        .starts_with("duplicate_in_table"));
    assert_eq!(users(&mut conn).await.len(), 2);
}

#[tokio::test]
async fn a_maximum_exceeded_loads_nothing() {
    let db = TestDb::migrated("import_max").await;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        import(&db, dir.path(), &fixture("valid/users.csv"), &[]).0,
        0
    );
    let mut conn = db.conn().await;
    let before = fingerprint(&mut conn).await;
    let file = fixture("valid/users_with_rejects.csv");
    for extra in [
        &["--max-errors", "2"][..],
        &["--max-error-ratio", "0.5"][..],
    ] {
        let (code, report) = import(&db, dir.path(), &file, extra);
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["loaded"], 0, "{report}");
        assert!(
            report["aborted"].as_str().unwrap().contains("--max-error"),
            "{report}"
        );
        assert_eq!(fingerprint(&mut conn).await, before, "{extra:?}");
    }
    // At the limit it loads the good rows.
    let (code, report) = import(&db, dir.path(), &file, &["--max-errors", "6"]);
    assert_eq!((code, report["loaded"].as_u64()), (1, Some(2)), "{report}");
}

#[tokio::test]
async fn upsert_reruns_change_nothing_and_update_by_phone() {
    let db = TestDb::migrated("import_upsert").await;
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("valid/users.csv");
    let (code, report) = import(&db, dir.path(), &file, &["--mode", "upsert"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["inserted"], 3);
    let mut conn = db.conn().await;
    let before = fingerprint(&mut conn).await;
    let (code, report) = import(&db, dir.path(), &file, &["--mode", "upsert"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        numbers(&report, ["inserted", "updated", "unchanged"]),
        [0, 0, 3]
    );
    assert_eq!(
        fingerprint(&mut conn).await,
        before,
        "a rerun changed a row"
    );

    // One changed name updates that row; an email owned by another phone is rejected.
    let changed: PathBuf = dir.path().join("changed.csv");
    std::fs::write(
        &changed,
        "phone,email,full_name\n+919800000001,asha@example.com,Asha R.\n+919800000009,neha@example.in,Someone Else\n",
    )
    .unwrap();
    let (code, report) = import(
        &db,
        dir.path(),
        changed.to_str().unwrap(),
        &["--mode", "upsert"],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        (report["updated"].as_u64(), report["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert!(rejects(dir.path()).contains("3,email,duplicate_in_table"));
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000001|asha@example.com|Asha R.|active",
            "+919800000002||Verma, Ravi|active",
            "9800000003|neha@example.in|Neha|suspended",
        ]
    );
}

#[tokio::test]
async fn malformed_input_exits_2_naming_file_and_line_and_loads_nothing() {
    let db = TestDb::migrated("import_invalid").await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("invalid/empty.csv", "empty.csv: the file is empty"),
        (
            "invalid/unterminated_quote.csv",
            "unterminated_quote.csv:2: unterminated quote",
        ),
        (
            "invalid/unknown_column.csv",
            "unknown_column.csv:1: column `nickname` is not a column of `users`",
        ),
        (
            "invalid/missing_required_column.csv",
            "missing_required_column.csv:1: the header lacks `phone`",
        ),
    ];
    for (name, message) in cases {
        let (code, report) = import(&db, dir.path(), &fixture(name), &[]);
        assert_eq!(code, 2, "{name}: {report}");
        let text = report["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{name}: {text}");
    }
    let (_, report) = import(&db, dir.path(), &fixture("invalid/unknown_column.csv"), &[]);
    assert!(report["error"]["hints"][0]
        .as_str()
        .unwrap()
        .contains("--map nickname=COLUMN"));
    // The unterminated quote comes after... nothing loaded, whatever the file.
    let mut conn = db.conn().await;
    assert!(users(&mut conn).await.is_empty());
    // A row with the wrong number of fields is that row's reject: the good one loads.
    let (code, report) = import(
        &db,
        dir.path(),
        &fixture("invalid/wrong_column_count.csv"),
        &[],
    );
    assert_eq!(code, 1, "{report}");
    assert!(rejects(dir.path()).contains(
        "3,,field_count: 3 fields where the header has 2; quote fields that hold the delimiter,\"+919800000042,b@example.com,extra\""
    ), "{}", rejects(dir.path()));
    assert_eq!(
        users(&mut conn).await,
        ["+919800000041|a@example.com||active"]
    );

    for (table, message) in [
        ("no_such_table", "there is no table `no_such_table`"),
        ("users\"; DROP TABLE users; --", "there is no table"),
        ("colleges", "import-csv cannot load `colleges`"),
    ] {
        let out = db
            .rez(&["import-csv", "--table", table, &fixture("valid/users.csv")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('public.users') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(exists);
}

#[tokio::test]
async fn another_data_load_holding_the_lock_is_exit_4() {
    let db = TestDb::migrated("import_lock").await;
    let dir = tempfile::tempdir().unwrap();
    let mut holder = db.conn().await;
    // The data lock's key: ("REZD", LockScope::Data).
    sqlx::query("SELECT pg_advisory_lock(1380276804, 2)")
        .execute(&mut holder)
        .await
        .unwrap();
    let (code, report) = import(&db, dir.path(), &fixture("valid/users.csv"), &[]);
    assert_eq!(code, 4, "{report}");
    let mut conn = db.conn().await;
    assert!(users(&mut conn).await.is_empty());
}

/// The email and phone checks agree with PostgreSQL's `~*` on the reference's
/// patterns, including the Unicode corners where a naive regex would not.
#[tokio::test]
async fn email_and_phone_checks_agree_with_postgresql() {
    use rez_db::domain::vocabulary::{EMAIL_PATTERN, PHONE_PATTERN};
    use rez_db::import::check::Pattern;
    let db = TestDb::empty("import_regex").await;
    let mut conn = db.conn().await;
    let values = [
        "a@example.com",
        "A.B+c%d-e@EXAMPLE.CO.IN",
        "a@b.c",
        "a@example.\u{212A}m",
        "\u{017F}@example.com",
        "é@example.com",
        "a@example.com\n",
        "a@@example.com",
        "+919876543210",
        "9876543210",
        "0876543210",
        "+91987654321012345",
        "٩٨٧٦٥٤٣٢١٠",
        "９８７６５４３２１０",
        "98765 43210",
        "",
    ];
    for (pattern, rule) in [
        (Pattern::Email, EMAIL_PATTERN),
        (Pattern::Phone, PHONE_PATTERN),
    ] {
        for value in values {
            let pg: bool = sqlx::query_scalar("SELECT $1 ~* $2")
                .bind(value)
                .bind(rule)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(pattern.matches(value), pg, "{value:?} against {rule}");
        }
    }
}

/// Writes `rows` valid users (phones +9197xxxxxxxx) to `path`.
fn generate_users(path: &Path, rows: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "phone,email,full_name,status").unwrap();
    for i in 0..rows {
        writeln!(out, "+9197{i:08},u{i}@example.com,User {i},active").unwrap();
    }
    out.flush().unwrap();
}

/// 12,000 users across three batches of 5,000, with planted duplicates: in
/// the same batch, across batches, by phone and by email; and a phone whose
/// first row is refused (bad email), so its second row loads. Remembered in
/// memory, and spilled to the server after 1,000 values: the same rows load
/// and the same lines are refused, for the same reasons.
#[tokio::test]
async fn duplicates_are_found_the_same_in_memory_and_spilled() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(out, "phone,email,full_name").unwrap();
    // Data line n (file line n + 1) is user n, unless planted below.
    for n in 1..=12_000u64 {
        let line = match n {
            100 => "+919700000050,x100@example.com,same batch, phone of line 51".to_string(),
            7_000 => "+919700007000,u20@example.com,later batch, email of line 21".to_string(),
            11_000 => "+919700000060,x11000@example.com,third batch, phone of line 61".to_string(),
            300 => "+919700099999,not-an-email,refused".to_string(),
            9_000 => "+919700099999,x9000@example.com,phone of a refused row: loads".to_string(),
            _ => format!("+9197{n:08},u{n}@example.com,User {n}"),
        };
        writeln!(out, "{}", line.replace(", ", " ")).unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let mut runs = Vec::new();
    for (label, extra) in [
        ("import_mem", &[][..]),
        ("import_spill", &["--memory-values", "1000"][..]),
    ] {
        let db = TestDb::migrated(label).await;
        let run_dir = dir.path().join(label);
        std::fs::create_dir(&run_dir).unwrap();
        let (code, report) = import(&db, &run_dir, file.to_str().unwrap(), extra);
        assert_eq!(code, 1, "{report}");
        assert_eq!(
            numbers(&report, ["read", "loaded", "rejected"]),
            [12_000, 11_996, 4],
            "{label}: {report}"
        );
        let mut lines: Vec<String> = rejects(&run_dir)
            .lines()
            .skip(1)
            .map(String::from)
            .collect();
        lines.sort();
        let mut conn = db.conn().await;
        runs.push((lines, fingerprint(&mut conn).await));
        let loaded: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE phone = '+919700099999'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(loaded, 1, "{label}");
    }
    let rejected = &runs[0].0;
    for (line, column, first) in [
        (101, "phone", 51),
        (7_001, "email", 21),
        (11_001, "phone", 61),
    ] {
        let prefix = format!("{line},{column},duplicate_in_file: ");
        let first = format!("is already on line {first} of the file");
        assert!(
            rejected
                .iter()
                .any(|r| r.starts_with(&prefix) && r.contains(&first)),
            "line {line}: {rejected:#?}"
        );
    }
    assert!(
        rejected.iter().any(|r| r.starts_with("301,email,")),
        "{rejected:#?}"
    );
    assert_eq!(runs[0].0, runs[1].0, "the reject files differ");
    assert_eq!(runs[0].1.len(), 32);
}

/// kill -9 in the middle of an atomic import: the server rolls the open
/// transaction back, and the table is as it was.
#[tokio::test]
async fn an_atomic_import_killed_midway_leaves_nothing() {
    let db = TestDb::migrated("import_kill").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    generate_users(&file, 400_000);
    let rejects = dir.path().join("rejects.csv");
    let child = spawn(
        &db,
        [
            "import-csv".as_ref(),
            "--table".as_ref(),
            "users".as_ref(),
            file.as_os_str(),
            "--rejects".as_ref(),
            rejects.as_os_str(),
        ],
    );
    let mut conn = db.conn().await;
    // Wait until the COPY is under way (its rows are not visible yet), then kill.
    let mut copying = false;
    for _ in 0..300 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if n > 0 {
            copying = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(copying, "the import never reached its COPY");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    kill_and_wait(child, &mut conn).await;
    assert!(users(&mut conn).await.is_empty());
    // The indexes it had set aside (the table was empty) are all back.
    let migrated = TestDb::migrated("import_kill_ref").await;
    assert_eq!(
        keys_and_indexes(&mut conn).await,
        keys_and_indexes(&mut migrated.conn().await).await
    );
}

/// kill -9 during a --resume import: the committed batches and their
/// checkpoint agree, and a rerun with --resume finishes with exactly the
/// file's good rows, none twice, and each rejected line once in the reject file.
#[tokio::test]
async fn a_killed_resumable_import_resumes_without_duplicates() {
    use std::io::Write;
    let db = TestDb::migrated("import_resume").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    const ROWS: u64 = 300_000;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(out, "phone,email,full_name,status").unwrap();
        for i in 0..ROWS {
            // Three bad emails, one in each third of the file.
            let email = if i % 100_000 == 7 {
                "bad".to_string()
            } else {
                format!("u{i}@example.com")
            };
            writeln!(out, "+9197{i:08},{email},User {i},active").unwrap();
        }
    }
    let rejects = dir.path().join("rejects.csv");
    let args = |json: bool| {
        let mut a: Vec<std::ffi::OsString> = Vec::new();
        if json {
            a.push("--json".into());
        }
        for s in [
            "import-csv",
            "--table",
            "users",
            "--resume",
            "--batch-rows",
            "20000",
            "--rejects",
        ] {
            a.push(s.into());
        }
        a.push(rejects.clone().into());
        a.push(file.clone().into());
        a
    };
    let child = spawn(&db, args(false));
    // The same import in the foreground, as JSON.
    let rerun = || {
        let json = args(true);
        let refs: Vec<&str> = json.iter().map(|s| s.to_str().unwrap()).collect();
        db.rez(&refs).output().unwrap()
    };
    let mut conn = db.conn().await;
    let mut committed = 0;
    for _ in 0..1000 {
        committed = sqlx::query_scalar::<_, i64>(
            "SELECT CASE WHEN to_regclass('rez_meta.import_checkpoints') IS NULL THEN 0 \
             ELSE (SELECT count(*) FROM users) END",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if committed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(committed > 0, "no batch was committed before the kill");
    kill_and_wait(child, &mut conn).await;
    let (in_table, checkpointed): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users), (SELECT loaded_rows FROM rez_meta.import_checkpoints)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        in_table, checkpointed,
        "rows and checkpoint disagree after the kill"
    );
    assert!((in_table as u64) < ROWS - 3);

    let out = rerun();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        numbers(&report, ["read", "loaded", "rejected"]),
        [ROWS, ROWS - 3, 3],
        "{report}"
    );
    assert!(
        report["resumed_after_line"].as_u64().unwrap() > 1,
        "{report}"
    );
    let (total, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT phone) FROM users")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((total, distinct), ((ROWS - 3) as i64, (ROWS - 3) as i64));
    let lines: Vec<String> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        lines,
        ["line,column", "9,email", "100009,email", "200009,email"]
    );

    // A finished file resumes to nothing.
    let again = rerun();
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["inserted"], 0, "{report}");
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(total, (ROWS - 3) as i64);
}

/// kill -9 `child` (which must still be running), then waits until its
/// backends are gone: their open transactions are rolled back by then.
async fn kill_and_wait(mut child: std::process::Child, conn: &mut PgConnection) {
    child.kill().unwrap();
    assert!(
        !child.wait().unwrap().success(),
        "the import finished before it was killed"
    );
    for _ in 0..100 {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if open == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the killed import's sessions did not end");
}

/// The real binary on `db`, in the background, its output discarded.
fn spawn<I, S>(db: &TestDb, args: I) -> std::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    db.command(&[])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The counts `keys` of a report, in order.
fn numbers<const N: usize>(report: &serde_json::Value, keys: [&str; N]) -> [u64; N] {
    keys.map(|k| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no count `{k}` in {report}"))
    })
}

//! `rez-db import-csv` reading files as old systems write them: faults of
//! one row rejected on every line (the last included) while the rest loads,
//! NULL markers and quoted empty strings, timestamps without an offset read
//! in a named zone, other encodings decoded exactly, backslash escapes. Each
//! fixture's rows are read back exactly: text byte for byte, timestamps as
//! instants, rejects as (line, column, reason, raw line).

use std::path::Path;

use sqlx::PgConnection;

use super::common::{stderr, stdout, TestDb};
use super::import::{fixture, import};

/// The reject file's entries: (line, column, reason, raw).
fn rejects(dir: &Path) -> Vec<(u64, String, String, String)> {
    let mut reader = csv::Reader::from_path(dir.join("rejects.out")).unwrap();
    reader
        .deserialize()
        .map(|r| r.unwrap())
        .collect::<Vec<(u64, String, String, String)>>()
}

/// (line, column, reason code) of each reject.
fn codes(dir: &Path) -> Vec<(u64, String, String)> {
    rejects(dir)
        .into_iter()
        .map(|(line, column, reason, _)| {
            let code = reason.split(':').next().unwrap().to_string();
            (line, column, code)
        })
        .collect()
}

fn owned(rows: &[(u64, &str, &str)]) -> Vec<(u64, String, String)> {
    rows.iter()
        .map(|(l, c, r)| (*l, c.to_string(), r.to_string()))
        .collect()
}

/// `phone|email|full_name|gender` of every user, NULL as `<null>`.
async fn users(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT concat_ws('|', phone, coalesce(email, '<null>'), coalesce(full_name, '<null>'), \
                coalesce(gender, '<null>')) FROM users ORDER BY phone",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn clear(conn: &mut PgConnection) {
    sqlx::query("DELETE FROM users")
        .execute(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn faults_of_one_row_are_rejects_on_every_line_and_the_rest_loads() {
    let db = TestDb::migrated("dialect_faults").await;
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("invalid/row_faults.csv");
    let (code, report) = import(&db, dir.path(), &file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        (&report["read"], &report["loaded"], &report["rejected"]),
        (&8.into(), &2.into(), &6.into())
    );
    assert_eq!(
        codes(dir.path()),
        owned(&[
            (3, "", "field_count"),
            (4, "", "field_count"),
            (5, "full_name", "nul_byte"),
            (6, "full_name", "stray_quote"),
            (8, "notification_preferences", "json_depth"),
            (9, "full_name", "stray_quote"),
        ])
    );
    let all = rejects(dir.path());
    assert_eq!(
        all[0],
        (
            3,
            String::new(),
            "field_count: 2 fields where the header has 4; quote fields that hold the delimiter"
                .to_string(),
            "+919800000102,b@example.com".to_string()
        )
    );
    assert_eq!(all[1].3, "+919800000103,c@example.com,Too,Many,Fields");
    assert_eq!(all[2].3, "+919800000104,d@example.com,Nul\0Byte,");
    assert_eq!(all[5].3, "+919800000108,h@example.com,Last 5'10\" tall,");
    let mut conn = db.conn().await;
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000101|a@example.com|Good One|<null>",
            "+919800000106|f@example.com|Good Two|<null>"
        ]
    );
    let prefs: serde_json::Value = sqlx::query_scalar(
        "SELECT notification_preferences FROM users WHERE phone = '+919800000106'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(prefs, serde_json::json!({"push": true}));
    clear(&mut conn).await;

    // --max-errors counts every reject, those of faults too: nothing loads.
    let (code, report) = import(&db, dir.path(), &file, &["--max-errors", "5"]);
    assert_eq!(code, 1, "{report}");
    assert!(report["aborted"]
        .as_str()
        .unwrap()
        .contains("--max-errors 5"));
    assert!(users(&mut conn).await.is_empty());
    let (code, report) = import(&db, dir.path(), &file, &["--max-error-ratio", "0.5"]);
    assert_eq!(code, 1, "{report}");
    assert!(report["aborted"]
        .as_str()
        .unwrap()
        .starts_with("6 of 8 rows"));
    assert!(users(&mut conn).await.is_empty());
}

#[tokio::test]
async fn what_stops_the_whole_file_names_it_and_loads_nothing() {
    let db = TestDb::migrated("dialect_stops").await;
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = import(
        &db,
        dir.path(),
        &fixture("invalid/unterminated_quote.csv"),
        &[],
    );
    assert_eq!(code, 2, "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "unterminated_quote.csv:2: unterminated quote: the quoted field opened on line 2"
        ),
        "{message}"
    );
    // A header its encoding cannot decode: the hint names --encoding, and
    // never a conversion.
    let bad_header = dir.path().join("bad_header.csv");
    std::fs::write(&bad_header, b"phone,nom_r\xe9el\n+919800000001,x\n").unwrap();
    let (code, report) = import(&db, dir.path(), bad_header.to_str().unwrap(), &[]);
    assert_eq!(code, 2, "{report}");
    let hints = report["error"]["hints"].to_string();
    assert!(
        hints.contains("--encoding") && !hints.contains("iconv"),
        "{hints}"
    );
    assert!(users(&mut db.conn().await).await.is_empty());
}

#[tokio::test]
async fn invalid_utf8_rejects_its_row_naming_the_column_and_encoding() {
    let db = TestDb::migrated("dialect_utf8").await;
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = import(&db, dir.path(), &fixture("invalid/invalid_utf8.csv"), &[]);
    assert_eq!(code, 1, "{report}");
    let all = rejects(dir.path());
    assert_eq!(all.len(), 1);
    let (line, column, reason, raw) = &all[0];
    assert_eq!((*line, column.as_str()), (2, "full_name"));
    assert!(
        reason.starts_with("bad_encoding: bytes that are not UTF-8 (from byte 54 of the file)")
            && reason.contains("--encoding"),
        "{reason}"
    );
    assert_eq!(raw, "+919800000061,a@example.com,Jos\u{FFFD}");
}

#[tokio::test]
async fn other_encodings_load_exactly() {
    let db = TestDb::migrated("dialect_encodings").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    let file = fixture("valid/users_windows1252.csv");
    let (code, report) = import(
        &db,
        dir.path(),
        &file,
        &["--encoding", "windows-1252", "--timezone", "Asia/Kolkata"],
    );
    assert_eq!(code, 0, "{report}");
    let names: Vec<(String, i64)> = sqlx::query_as(
        "SELECT full_name, floor(extract(epoch FROM created_at))::bigint FROM users ORDER BY phone",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // 2024-08-19 10:00 and 23:30:00.5 in India: 04:30 and 18:00:00.5 UTC.
    assert_eq!(
        names,
        [
            (
                "O\u{2019}Brien \u{2013} \u{20ac}5 \u{201c}VIP\u{201d}".to_string(),
                1724041800
            ),
            ("Ren\u{e9}e M\u{fc}ller".to_string(), 1724090400),
        ]
    );
    let micros: i64 = sqlx::query_scalar(
        "SELECT (extract(microseconds FROM created_at))::bigint FROM users WHERE phone = '+919800000202'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(micros, 500_000);
    // latin1 is WHATWG's name for windows-1252 too: the same text.
    clear(&mut conn).await;
    let (code, _) = import(
        &db,
        dir.path(),
        &file,
        &["--encoding", "latin1", "--timezone", "+05:30"],
    );
    assert_eq!(code, 0);
    assert_eq!(
        users(&mut conn).await[0],
        "+919800000201|a@example.com|O\u{2019}Brien \u{2013} \u{20ac}5 \u{201c}VIP\u{201d}|<null>"
    );

    // A manifest's entry names its file's encoding.
    clear(&mut conn).await;
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        format!("files:\n  - {{table: users, path: {file}, encoding: windows-1252}}\n"),
    )
    .unwrap();
    let out = db
        .rez(&[
            "--json",
            "import-csv",
            "--manifest",
            manifest.to_str().unwrap(),
            "--allow-outside",
            "--timezone",
            "UTC",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        users(&mut conn).await[1],
        "+919800000202|b@example.com|Ren\u{e9}e M\u{fc}ller|<null>"
    );

    // Excel's "Unicode Text": UTF-16LE with a BOM, tab-separated; the BOM
    // decides even under another --encoding.
    clear(&mut conn).await;
    let file = fixture("valid/users_utf16le_bom.txt");
    let (code, report) = import(
        &db,
        dir.path(),
        &file,
        &["--delimiter", "\\t", "--encoding", "windows-1252"],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000211|a@example.com|\u{906}\u{936}\u{93e} \u{930}\u{93e}\u{935} \u{1F600}|<null>",
            "+919800000212|b@example.com|Zo\u{eb}|<null>",
        ]
    );
    let out = db
        .rez(&[
            "import-csv",
            "--table",
            "users",
            &file,
            "--encoding",
            "klingon",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`klingon` is not an encoding"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn null_markers_and_quoted_empty_strings() {
    let db = TestDb::migrated("dialect_nulls").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    let file = fixture("valid/users_nulls.csv");

    // Unquoted empty is NULL, quoted empty the empty string, `\N` text.
    let (code, report) = import(&db, dir.path(), &file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        codes(dir.path()),
        owned(&[
            (2, "email", "invalid_email"),
            (2, "gender", "not_allowed"),
            (4, "email", "invalid_email"),
            (4, "gender", "not_allowed"),
        ])
    );
    assert_eq!(users(&mut conn).await, ["+919800000222|<null>||<null>"]);

    clear(&mut conn).await;
    let nulls = ["--null", "\\N", "--null", "NULL"];
    let (code, report) = import(&db, dir.path(), &file, &nulls);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        codes(dir.path()),
        owned(&[(4, "email", "invalid_email"), (4, "gender", "not_allowed")])
    );
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000221|<null>|<null>|<null>",
            "+919800000222|<null>||<null>"
        ]
    );

    clear(&mut conn).await;
    let mut all = nulls.to_vec();
    all.push("--empty-as-null");
    let (code, report) = import(&db, dir.path(), &file, &all);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        users(&mut conn).await,
        [
            "+919800000221|<null>|<null>|<null>",
            "+919800000222|<null>|<null>|<null>",
            "+919800000223|<null>|\\N|<null>",
        ]
    );
}

#[tokio::test]
async fn timestamps_without_an_offset_are_read_in_the_named_zone() {
    let db = TestDb::migrated("dialect_times").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    let file = fixture("valid/users_naive_times.csv");

    // Without --timezone: refused, the reason naming the flag.
    let (code, report) = import(&db, dir.path(), &file, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["loaded"], 0);
    let all = rejects(dir.path());
    assert_eq!(
        (all[0].0, all[0].1.as_str(), all[0].2.as_str()),
        (
            2,
            "created_at",
            "no_time_zone: `2019-03-04 10:20:30` has no UTC offset; say which zone the file's \
             times are in with --timezone ZONE (an IANA name such as Asia/Kolkata, UTC, or an \
             offset such as +05:30) (column `created_at`)"
        )
    );
    assert!(all
        .iter()
        .any(|r| r.2.starts_with("zero_date") && r.2.contains("--zero-date-as-null")));

    let (code, report) = import(&db, dir.path(), &file, &["--timezone", "America/New_York"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        codes(dir.path()),
        owned(&[
            (4, "created_at", "zero_date"),
            (5, "created_at", "dst_gap"),
            (6, "created_at", "dst_overlap"),
        ])
    );
    let gap = &rejects(dir.path())[1].2;
    assert!(
        gap.contains("America/New_York") && gap.contains("UTC-05") && gap.contains("UTC-04"),
        "{gap}"
    );
    let times: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), \
                to_char(last_login_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') \
         FROM users ORDER BY phone",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        times,
        [
            // EST (-05) in March, EDT (-04) in July; an offset in the file wins.
            (
                "2019-03-04T15:20:30.000000".to_string(),
                Some("2019-03-04T15:20:30.123000".to_string())
            ),
            (
                "2019-07-04T14:20:30.000000".to_string(),
                Some("2019-03-04T04:50:30.123000".to_string())
            ),
        ]
    );

    clear(&mut conn).await;
    let (code, report) = import(
        &db,
        dir.path(),
        &file,
        &["--timezone", "+05:30", "--zero-date-as-null"],
    );
    assert_eq!(code, 0, "{report}");
    let zero: Option<String> =
        sqlx::query_scalar("SELECT created_at::text FROM users WHERE phone = '+919800000233'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(zero, None);
    let first: i64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM created_at)::bigint FROM users WHERE phone = '+919800000235'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // 2024-11-03 01:30 at +05:30 is 2024-11-02 20:00 UTC.
    assert_eq!(first, 1730577600);
}

#[tokio::test]
async fn backslash_escapes_read_as_postgresql_reads_them() {
    let db = TestDb::migrated("dialect_escape").await;
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("valid/users_escaped.csv");
    let (code, report) = import(&db, dir.path(), &file, &["--escape", "\\", "--null", "\\N"]);
    assert_eq!(code, 0, "{report}");
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT full_name, profile_picture_url FROM users ORDER BY phone")
            .fetch_all(&mut db.conn().await)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            (
                "Say \"hi\", then \\ go".to_string(),
                Some("C:\\temp\\x".to_string())
            ),
            ("back\\slash".to_string(), None),
        ]
    );
    // The same file read by PostgreSQL's own COPY ... (ESCAPE '\', NULL '\N').
    let mut conn = db.conn().await;
    sqlx::query("CREATE TEMP TABLE t (phone text, full_name text, url text)")
        .execute(&mut conn)
        .await
        .unwrap();
    let text = std::fs::read(&file).unwrap();
    let mut copy = conn
        .copy_in_raw("COPY t FROM STDIN WITH (FORMAT csv, HEADER true, ESCAPE '\\', NULL '\\N')")
        .await
        .unwrap();
    copy.send(text.as_slice()).await.unwrap();
    copy.finish().await.unwrap();
    let theirs: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT full_name, url FROM t ORDER BY phone")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(theirs, rows);
}

//! The ledger pass: every ledger replayed through `crate::domain::ledger`
//! (`ledger.chain`, `ledger.sign`, `ledger.nonnegative`), and every wallet's
//! stored balances and lifetime counters judged against its replay
//! (`wallet.balance`, `wallet.lifetime`), in one read of each table.
//!
//! The server sends the ledger ordered by wallet only: its wallet_id index
//! gives that order without sorting the whole ledger, which is what made this
//! pass slow. The replay order inside a wallet (coin, merchant, created_at,
//! id) is made here, on the few rows one wallet holds. A wallet with more than
//! `wallet_rows` rows is not held in memory: its rows are skipped in the
//! stream and read again at the end, ordered by the server, so memory stays
//! bounded whatever the largest wallet.
//!
//! The pass runs in wallet-id shards, in parallel, on connections that share
//! the validate snapshot; within a transaction no other session can see
//! (an import checked before its commit), on that transaction's connection
//! alone, one batch of wallets after the other.

use std::borrow::Cow;

use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::{Sink, Snapshot, Violation};
use crate::domain::ledger::{Entry, LedgerViolation, Replay};
use crate::domain::money::Money;
use crate::domain::{CoinType, TxType};
use crate::store::pg::copy_out::{BinaryCopyOut, Fields};

/// Shards of the pass: the server has this many cores to read with.
const SHARDS: usize = 2;

/// Rows of one wallet held for replay before it is read again in order instead
/// (about 100 bytes a row).
pub const WALLET_ROWS: usize = 100_000;

/// Replays every ledger and compares each wallet with it.
pub async fn run(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    wallet_rows: usize,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    if !snapshot.shared() {
        return one_connection(conn, wallet_rows.max(1), sink).await;
    }
    // Approximate split points from a sample of about 20k wallets (all of a
    // small table): cheap, and balanced enough. No sample means one shard.
    let percent: f64 = sqlx::query_scalar(
        "SELECT least(100, greatest(1, 100 * 20000 / greatest(reltuples, 1)))::float8 FROM pg_class WHERE oid = 'wallets'::regclass",
    )
    .fetch_one(&mut *conn)
    .await?;
    let splits: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT q FROM unnest((SELECT percentile_disc(ARRAY(SELECT generate_series(1, {n}) / {SHARDS}::float8)) \
                                      WITHIN GROUP (ORDER BY id) FROM wallets TABLESAMPLE SYSTEM ({percent}))) q \
         WHERE q IS NOT NULL ORDER BY q",
        n = SHARDS - 1
    ))
    .fetch_all(conn)
    .await?;
    let mut bounds: Vec<Option<Uuid>> = vec![None];
    bounds.extend(splits.into_iter().map(Some));
    bounds.dedup();
    bounds.push(None);
    // Concurrent, not spawned: the reading happens in the server backends, one
    // per shard, while this task decodes whichever stream has rows ready.
    let shards = bounds.windows(2).map(|range| {
        let mut found = sink.shard();
        async move {
            shard(
                snapshot,
                (range[0], range[1]),
                wallet_rows.max(1),
                &mut found,
            )
            .await
            .map(|()| found)
        }
    });
    for found in futures_util::future::try_join_all(shards).await? {
        sink.absorb(found);
    }
    Ok(())
}

/// `AND col >= lo AND col < hi` for a shard (UUIDs print as safe literals).
fn range_filter(column: &str, (lo, hi): (Option<Uuid>, Option<Uuid>)) -> String {
    let mut sql = String::new();
    if let Some(lo) = lo {
        sql.push_str(&format!(" AND {column} >= '{lo}'"));
    }
    if let Some(hi) = hi {
        sql.push_str(&format!(" AND {column} < '{hi}'"));
    }
    sql
}

/// The columns of a ledger row the replay reads, after wallet_id.
const LEDGER_COLUMNS: &str =
    "coin_type, merchant_id, transaction_type, amount::bigint, balance_after::bigint, created_at, id";

/// One ledger row, as the replay needs it.
struct LedgerRow {
    /// A known coin type borrows its static name: no allocation per row.
    coin: Cow<'static, str>,
    merchant: Option<Uuid>,
    tx_type: TxType,
    amount: i64,
    balance_after: i64,
    /// Only compared: microseconds since 2000, as PostgreSQL sends them.
    created_at: i64,
    id: Uuid,
}

impl LedgerRow {
    /// Decodes the [`LEDGER_COLUMNS`] of a row.
    fn read(fields: &mut Fields<'_>) -> Result<LedgerRow, sqlx::Error> {
        Ok(LedgerRow {
            coin: coin_name(fields.text()?),
            merchant: fields.opt_uuid()?,
            // An unknown type is reported by dq.status; here it only must not be zero.
            tx_type: fields.text()?.parse().unwrap_or(TxType::Transfer),
            amount: fields.int8()?,
            balance_after: fields.int8()?,
            created_at: fields.timestamptz_micros()?,
            id: fields.uuid()?,
        })
    }

    /// The replay order: one balance (coin, merchant) after another, each in
    /// time order (id breaks ties the same way PostgreSQL orders uuids).
    fn replay_order(&self) -> (&str, Option<Uuid>, i64, Uuid) {
        (&self.coin, self.merchant, self.created_at, self.id)
    }
}

/// `text` as a coin name: the static name of a known coin type, a copy of
/// anything else (an unknown type is dq.status's to report; here it is only
/// replayed as its own balance).
fn coin_name(text: &str) -> Cow<'static, str> {
    match text.parse::<CoinType>() {
        Ok(coin) => Cow::Borrowed(coin.as_str()),
        Err(_) => Cow::Owned(text.to_string()),
    }
}

/// A wallet's stored balances and lifetime counters.
type WalletRow = (
    Uuid,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<Decimal>,
);

/// The replayed balances of one wallet, by coin type (branded is `wallet.branded`'s, in SQL).
#[derive(Default)]
struct WalletLedger {
    rez: Replay,
    prive: Replay,
    promo: Replay,
    cash: Replay,
}

impl WalletLedger {
    fn slot(&mut self, coin: &str) -> Option<&mut Replay> {
        match coin {
            "rez" => Some(&mut self.rez),
            "prive" => Some(&mut self.prive),
            "promo" => Some(&mut self.promo),
            "cash" => Some(&mut self.cash),
            _ => None,
        }
    }
}

/// Replays one wallet's rows, fed in replay order, reporting every broken rule.
struct WalletReplay {
    wallet_id: Uuid,
    totals: WalletLedger,
    /// The balance being replayed: (coin, merchant).
    balance: Option<(Cow<'static, str>, Option<Uuid>)>,
    replay: Replay,
    /// The balance's previous row, which a chain break names beside its own.
    previous: Option<Uuid>,
}

impl WalletReplay {
    fn new(wallet_id: Uuid) -> WalletReplay {
        WalletReplay {
            wallet_id,
            totals: WalletLedger::default(),
            balance: None,
            replay: Replay::new(),
            previous: None,
        }
    }

    fn push(&mut self, row: &LedgerRow, sink: &mut Sink) {
        let same = self
            .balance
            .as_ref()
            .is_some_and(|(coin, merchant)| *coin == row.coin && *merchant == row.merchant);
        if !same {
            self.close_balance();
            self.balance = Some((row.coin.clone(), row.merchant));
            self.previous = None;
        }
        let entry = Entry {
            tx_type: row.tx_type,
            amount: row.amount,
            balance_after: row.balance_after,
        };
        for found in self.replay.apply(&entry) {
            let (check, expected, actual) = describe(found, row.amount, self.previous);
            sink.report(check, || {
                let entity = match row.merchant {
                    Some(m) => format!(
                        "{} (wallet {}, {} of merchant {m})",
                        row.id, self.wallet_id, row.coin
                    ),
                    None => format!("{} (wallet {}, {})", row.id, self.wallet_id, row.coin),
                };
                Violation {
                    table: "wallet_transactions".into(),
                    entity,
                    expected,
                    actual,
                    remedy: None,
                }
            });
        }
        self.previous = Some(row.id);
    }

    fn close_balance(&mut self) {
        let replay = std::mem::take(&mut self.replay);
        if let Some((coin, _)) = self.balance.take() {
            if let Some(slot) = self.totals.slot(&coin) {
                *slot = replay;
            }
        }
    }

    fn finish(mut self) -> WalletLedger {
        self.close_balance();
        self.totals
    }
}

/// (check id, expected, actual) of a broken ledger rule, for a row of
/// `amount` whose balance's previous row is `previous`.
fn describe(
    found: LedgerViolation,
    amount: i64,
    previous: Option<Uuid>,
) -> (&'static str, String, String) {
    match found {
        LedgerViolation::ChainBreak {
            expected_balance_after,
            actual_balance_after,
        } => (
            "ledger.chain",
            // Both rows compared are named: the previous one and (as the entity) this one.
            format!(
                "balance_after = {} + {amount} = {expected_balance_after} ({})",
                expected_balance_after - amount,
                previous.map_or("no previous row".to_string(), |p| format!("after row {p}"))
            ),
            format!("balance_after = {actual_balance_after}"),
        ),
        LedgerViolation::WrongSign { tx_type, amount } => (
            "ledger.sign",
            format!(
                "{tx_type} with a {} amount",
                if tx_type.allows(1) {
                    "positive"
                } else {
                    "negative"
                }
            ),
            format!("amount = {amount}"),
        ),
        LedgerViolation::Negative { balance_after } => (
            "ledger.nonnegative",
            "balance_after >= 0".to_string(),
            format!("balance_after = {balance_after}"),
        ),
    }
}

/// The wallets of a shard in id order, judged as the ledger reaches them.
struct Wallets<'c> {
    stream: BoxStream<'c, Result<WalletRow, sqlx::Error>>,
    next: Option<WalletRow>,
}

impl<'c> Wallets<'c> {
    async fn new(
        mut stream: BoxStream<'c, Result<WalletRow, sqlx::Error>>,
    ) -> Result<Wallets<'c>, sqlx::Error> {
        let next = stream.try_next().await?;
        Ok(Wallets { stream, next })
    }

    /// Judges every wallet before `id` (or all that are left) as having no
    /// ledger rows: the ledger stream has passed them.
    async fn judge_before(&mut self, id: Option<Uuid>, sink: &mut Sink) -> Result<(), sqlx::Error> {
        while let Some(w) = self.next.take() {
            if id.is_some_and(|id| w.0 >= id) {
                self.next = Some(w);
                break;
            }
            judge_wallet(&w, &WalletLedger::default(), sink);
            self.next = self.stream.try_next().await?;
        }
        Ok(())
    }

    /// The wallet `id`, when it is next (a ledger may name a wallet that does
    /// not exist: the reference checks report that).
    async fn take(&mut self, id: Uuid) -> Result<Option<WalletRow>, sqlx::Error> {
        if self.next.as_ref().is_some_and(|w| w.0 == id) {
            let found = self.next.take();
            self.next = self.stream.try_next().await?;
            return Ok(found);
        }
        Ok(None)
    }
}

/// The columns of a wallet row ([`WalletRow`]).
const WALLET_COLUMNS: &str =
    "id, rez_coins_balance, rez_coins_lifetime_earned, rez_coins_lifetime_spent, prive_coins_balance, \
     prive_coins_lifetime_earned, prive_coins_lifetime_spent, promo_coins_balance, cash_balance";

/// Wallets read at once by [`one_connection`].
const WALLET_BATCH: usize = 10_000;

/// The pass on `conn` alone: a batch of wallets in id order is read whole,
/// then the ledger rows of their id range, and so on; the first range
/// starts below every wallet and the last has no end, so every ledger row
/// is read once.
async fn one_connection(
    conn: &mut PgConnection,
    wallet_rows: usize,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    let mut lo: Option<Uuid> = None;
    loop {
        let sql = format!(
            "SELECT {WALLET_COLUMNS} FROM wallets WHERE true{} ORDER BY id LIMIT {}",
            range_filter("id", (lo, None)),
            WALLET_BATCH + 1
        );
        let mut batch: Vec<WalletRow> = sqlx::query_as(&sql).fetch_all(&mut *conn).await?;
        let hi = if batch.len() > WALLET_BATCH {
            batch.pop().map(|w| w.0)
        } else {
            None
        };
        let stream = futures_util::stream::iter(batch.into_iter().map(Ok));
        let wallets = Wallets::new(Box::pin(stream)).await?;
        replay_range(wallets, conn, (lo, hi), wallet_rows, sink).await?;
        match hi {
            Some(next) => lo = Some(next),
            None => return Ok(()),
        }
    }
}

async fn shard(
    snapshot: &Snapshot,
    range: (Option<Uuid>, Option<Uuid>),
    wallet_rows: usize,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    let mut wallet_conn = snapshot.join().await?;
    let mut ledger_conn = snapshot.join().await?;
    // The order must come from the wallet_id index. When the ledger's heap is
    // in time order (as appended), the planner prices a full scan plus a sort
    // of the shard lower; that sort spills to disk past work_mem and scans the
    // whole ledger for each shard. Measured at 1M rows (docs/benchmarks.md,
    // `validate`): 4.1-4.5 s with the sort, 2.9 s through the index. Only the
    // cost of a sort is raised, on this connection only: with no such index
    // the server still sorts.
    sqlx::raw_sql("SET LOCAL enable_sort = off")
        .execute(&mut ledger_conn)
        .await?;
    let wallet_sql = format!(
        "SELECT {WALLET_COLUMNS} FROM wallets WHERE true{} ORDER BY id",
        range_filter("id", range)
    );
    let wallets =
        Wallets::new(sqlx::query_as::<_, WalletRow>(&wallet_sql).fetch(&mut wallet_conn)).await?;
    replay_range(wallets, &mut ledger_conn, range, wallet_rows, sink).await
}

/// Replays the ledger rows of the wallet-id `range`, read on `ledger_conn`,
/// and judges `wallets` (that range's, in id order) against them.
async fn replay_range(
    mut wallets: Wallets<'_>,
    ledger_conn: &mut PgConnection,
    range: (Option<Uuid>, Option<Uuid>),
    wallet_rows: usize,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    let ledger_sql = format!(
        "SELECT wallet_id, {LEDGER_COLUMNS} FROM wallet_transactions WHERE true{} ORDER BY wallet_id",
        range_filter("wallet_id", range)
    );
    let mut rows = BinaryCopyOut::start(&mut *ledger_conn, &ledger_sql).await?;

    let mut held: Vec<LedgerRow> = Vec::new();
    let mut holding: Option<Uuid> = None;
    // Wallets with more than `wallet_rows` rows, and their wallet rows.
    let mut heavy: Vec<(Uuid, Option<WalletRow>)> = Vec::new();
    while let Some(mut fields) = rows.next().await? {
        let wallet_id = fields.uuid()?;
        if holding != Some(wallet_id) {
            if let Some(done) = holding.replace(wallet_id) {
                settle(done, &mut held, &mut heavy, &mut wallets, sink).await?;
            }
        }
        if heavy.last().is_some_and(|(w, _)| *w == wallet_id) {
            continue;
        }
        if held.len() == wallet_rows {
            heavy.push((wallet_id, None));
            held.clear();
            continue;
        }
        held.push(LedgerRow::read(&mut fields)?);
    }
    if let Some(done) = holding {
        settle(done, &mut held, &mut heavy, &mut wallets, sink).await?;
    }
    wallets.judge_before(None, sink).await?;
    drop(rows);

    for (wallet_id, wallet) in heavy {
        // A uuid prints as hex digits and dashes: safe as a literal.
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM wallet_transactions WHERE wallet_id = '{wallet_id}' \
             ORDER BY coin_type, merchant_id NULLS FIRST, created_at, id"
        );
        let mut rows = BinaryCopyOut::start(&mut *ledger_conn, &sql).await?;
        let mut replay = WalletReplay::new(wallet_id);
        while let Some(mut fields) = rows.next().await? {
            replay.push(&LedgerRow::read(&mut fields)?, sink);
        }
        let ledger = replay.finish();
        if let Some(w) = wallet {
            judge_wallet(&w, &ledger, sink);
        }
    }
    Ok(())
}

/// The ledger stream has moved past `wallet_id`: replays its held rows and
/// judges it with the wallets before it, or, for a heavy wallet, keeps its
/// wallet row for the second read.
async fn settle(
    wallet_id: Uuid,
    held: &mut Vec<LedgerRow>,
    heavy: &mut [(Uuid, Option<WalletRow>)],
    wallets: &mut Wallets<'_>,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    wallets.judge_before(Some(wallet_id), sink).await?;
    let wallet = wallets.take(wallet_id).await?;
    if let Some((_, slot)) = heavy.last_mut().filter(|(w, _)| *w == wallet_id) {
        *slot = wallet;
        return Ok(());
    }
    held.sort_unstable_by(|a, b| a.replay_order().cmp(&b.replay_order()));
    let mut replay = WalletReplay::new(wallet_id);
    for row in held.drain(..) {
        replay.push(&row, sink);
    }
    let ledger = replay.finish();
    if let Some(w) = wallet {
        judge_wallet(&w, &ledger, sink);
    }
    Ok(())
}

/// WALLET-BALANCE and WALLET-LIFETIME: the stored columns against the replay.
fn judge_wallet(w: &WalletRow, ledger: &WalletLedger, sink: &mut Sink) {
    let (id, rez, rez_earned, rez_spent, prive, prive_earned, prive_spent, promo, cash) = w;
    let shown = |v: Option<String>| v.unwrap_or_else(|| "NULL".into());
    let mut compare =
        |check: &'static str, column: &str, expected: String, actual: Option<String>| {
            if actual.as_deref() != Some(expected.as_str()) {
                sink.report(check, || Violation {
                    table: "wallets".into(),
                    entity: id.to_string(),
                    expected: format!("{column} = {expected}"),
                    actual: format!("{column} = {}", shown(actual)),
                    remedy: None,
                });
            }
        };
    let int = |v: &Option<i32>| v.map(|v| v.to_string());
    compare(
        "wallet.balance",
        "rez_coins_balance",
        ledger.rez.balance().to_string(),
        int(rez),
    );
    compare(
        "wallet.balance",
        "prive_coins_balance",
        ledger.prive.balance().to_string(),
        int(prive),
    );
    compare(
        "wallet.balance",
        "promo_coins_balance",
        ledger.promo.balance().to_string(),
        int(promo),
    );
    compare(
        "wallet.balance",
        "cash_balance",
        Money::from_paise(ledger.cash.balance()).to_string(),
        cash.map(|c| Money::round(c).to_string()),
    );
    compare(
        "wallet.lifetime",
        "rez_coins_lifetime_earned",
        ledger.rez.lifetime_earned().to_string(),
        int(rez_earned),
    );
    compare(
        "wallet.lifetime",
        "rez_coins_lifetime_spent",
        ledger.rez.lifetime_spent().to_string(),
        int(rez_spent),
    );
    compare(
        "wallet.lifetime",
        "prive_coins_lifetime_earned",
        ledger.prive.lifetime_earned().to_string(),
        int(prive_earned),
    );
    compare(
        "wallet.lifetime",
        "prive_coins_lifetime_spent",
        ledger.prive.lifetime_spent().to_string(),
        int(prive_spent),
    );
}

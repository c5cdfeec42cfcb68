//! One user's wallet history, replayed in time order: promo lots issued and
//! expired, orders placed (coins spent) and settled (coins earned or
//! refunded), referral rewards, cash credits and withdrawals, Privé and
//! branded coins.
//!
//! Every ledger row is made by `domain::ledger::Replay::post`, which refuses
//! a wrong sign or an overdraft; promo spends and expiries go through
//! `domain::promo`; coin caps and rewards through `domain::order` and
//! `domain::loyalty`. Rows of one wallet get strictly increasing timestamps,
//! so that `(created_at, id)` — the order `validate` replays in — is the order
//! they were posted in. This module never computes a balance by hand.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::plan::OrderPlan;
use super::referrals::Referral;
use super::rng::{self, chance, stream, weighted, Kind};
use super::tables::UserTables;
use super::users::Skeleton;
use super::World;
use crate::domain::coins::{CoinType, TxType};
use crate::domain::ledger::Replay;
use crate::domain::loyalty;
use crate::domain::money::Money;
use crate::domain::order::{self, Charges, Priced};
use crate::domain::promo::{self, Lot};

/// A promo lot and where it came from.
#[derive(Debug, Clone)]
pub struct IssuedLot {
    pub id: Uuid,
    pub campaign: Option<Uuid>,
    pub name: &'static str,
    pub issued_at: DateTime<Utc>,
    pub lot: Lot,
}

/// An order's amounts once coins were applied.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    pub coins_used: i64,
    pub priced: Priced,
    pub coins_earned: i64,
}

/// Lifetime loyalty counters as the timeline leaves them.
#[derive(Debug, Clone, Default)]
pub struct Loyalty {
    pub spend: Money,
    pub orders: i64,
    pub tier_level: Option<i32>,
    pub tier_since: Option<DateTime<Utc>>,
    pub last_activity: Option<DateTime<Utc>>,
}

/// The ledgers of one wallet: one replay per coin type, and per merchant for branded coins.
#[derive(Debug, Clone, Default)]
pub struct Books {
    pub rez: Replay,
    pub prive: Replay,
    pub promo: Replay,
    pub cash: Replay,
    /// (merchant index, its branded-coin ledger), in order of first earn.
    pub branded: Vec<(usize, Replay)>,
}

impl Books {
    fn replay(&mut self, coin: CoinType, merchant: Option<usize>) -> &mut Replay {
        match (coin, merchant) {
            (CoinType::Branded, Some(m)) => {
                let at = match self.branded.iter().position(|(x, _)| *x == m) {
                    Some(at) => at,
                    None => {
                        self.branded.push((m, Replay::new()));
                        self.branded.len() - 1
                    }
                };
                &mut self.branded[at].1
            }
            (CoinType::Branded, None) => panic!("a branded ledger row needs a merchant"),
            (CoinType::Rez, _) => &mut self.rez,
            (CoinType::Prive, _) => &mut self.prive,
            (CoinType::Promo, _) => &mut self.promo,
            (CoinType::Cash, _) => &mut self.cash,
        }
    }
}

/// What the timeline leaves behind for the rows that summarise it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub books: Books,
    pub lots: Vec<IssuedLot>,
    /// Per plan, once placed.
    pub settled: Vec<Option<Settled>>,
    pub loyalty: Loyalty,
}

#[derive(Debug, Clone, Copy)]
enum What {
    PromoIssue(usize),
    ExpiryJob,
    /// Index into the referrals list; whether this user is the referrer.
    Reward(usize, bool),
    Placed(usize),
    Settled(usize),
    CashCredit(i64),
    CashWithdraw(i64),
    PriveEarn(i64),
    PriveSpend(i64),
    BrandedSpend(usize, i64),
}

/// Where a ledger row comes from, for its reference columns and description.
struct Source<'a> {
    reference_type: &'static str,
    reference_id: Option<Uuid>,
    description: &'a str,
    metadata: serde_json::Value,
    /// A promo lot's campaign and expiry, on the row that issues it.
    promo: Option<(Option<Uuid>, DateTime<Utc>)>,
}

fn source<'a>(
    reference_type: &'static str,
    reference_id: Option<Uuid>,
    description: &'a str,
) -> Source<'a> {
    Source {
        reference_type,
        reference_id,
        description,
        metadata: json!({}),
        promo: None,
    }
}

struct Run<'w, 'o> {
    world: &'w World,
    sk: &'w Skeleton,
    rng: ChaCha8Rng,
    out: &'o mut UserTables,
    books: Books,
    /// Lots issued so far; `pending` holds those still to be issued.
    lots: Vec<IssuedLot>,
    pending: Vec<IssuedLot>,
    last: DateTime<Utc>,
    settled: Vec<Option<Settled>>,
    loyalty: Loyalty,
}

impl Run<'_, '_> {
    /// Writes one ledger row through the domain's replay; returns its timestamp.
    fn post(
        &mut self,
        coin: CoinType,
        merchant: Option<usize>,
        tx: TxType,
        amount: i64,
        at: DateTime<Utc>,
        from: Source<'_>,
    ) -> DateTime<Utc> {
        // Strictly increasing per wallet: (created_at, id) is the replay order.
        let at = at.max(self.last + Duration::seconds(1));
        self.last = at;
        let entry = self
            .books
            .replay(coin, merchant)
            .post(tx, amount)
            .unwrap_or_else(|e| {
                panic!("the generator posted a {coin} {tx} the ledger refuses: {e}")
            });
        self.out
            .wallet_transactions
            .row()
            .f(rng::uuid(&mut self.rng))
            .f(self.sk.wallet_id)
            .f(self.sk.id)
            .f(tx.as_str())
            .f(coin.as_str())
            .f(entry.amount)
            .f(entry.balance_after)
            .f(from.reference_type)
            .f(from.reference_id)
            .f(merchant.map(|m| self.world.merchants[m].id))
            .f(from.promo.and_then(|p| p.0))
            .f(from.promo.map(|p| p.1))
            .f(from.description)
            .f(from.metadata)
            .f(at)
            .end();
        at
    }

    fn notify(
        &mut self,
        at: DateTime<Utc>,
        kind: &str,
        title: &str,
        message: &str,
        action: Option<(&str, serde_json::Value)>,
    ) {
        let now = self.world.params.now;
        let read_at = Some(at + rng::minutes(&mut self.rng, 1, 48 * 60)).filter(|t| *t <= now);
        let read = read_at.is_some() && chance(&mut self.rng, 600);
        let priority = ["normal", "high", "low"][weighted(&mut self.rng, &[80, 15, 5])];
        let method = ["push", "in_app", "email", "sms"][weighted(&mut self.rng, &[60, 30, 7, 3])];
        let (action_type, action_data) = match action {
            Some((a, d)) => (Some(a), Some(d)),
            None => (None, None),
        };
        self.out
            .notifications
            .row()
            .f(rng::uuid(&mut self.rng))
            .f(self.sk.id)
            .f(kind)
            .f(title)
            .f(message)
            .f(action_type)
            .f(action_data)
            .f(priority)
            .f(read)
            .f(read_at.filter(|_| read))
            .f(method)
            .f(true)
            .f((at + Duration::seconds(5)).min(now))
            .f(at)
            .end();
    }

    /// Takes `per_mille` of a balance out (a withdrawal, a redemption), if
    /// that is at least one unit.
    fn spend_share(
        &mut self,
        coin: CoinType,
        merchant: Option<usize>,
        tx: TxType,
        per_mille: i64,
        at: DateTime<Utc>,
        from: Source<'_>,
    ) {
        let amount = self.books.replay(coin, merchant).balance() * per_mille / 1000;
        if amount > 0 {
            self.post(coin, merchant, tx, -amount, at, from);
        }
    }

    /// Promo coins spendable at `at`.
    fn live_promo(&self, at: DateTime<Utc>) -> i64 {
        self.lots
            .iter()
            .filter(|l| l.lot.live_at(at))
            .map(|l| l.lot.remaining)
            .sum()
    }
}

/// Plans the lots, cash and Privé movements of `sk`, and schedules everything.
fn schedule(
    run: &mut Run<'_, '_>,
    plans: &[OrderPlan],
    referrals: &[(Referral, bool)],
) -> Vec<(DateTime<Utc>, What)> {
    let world = run.world;
    let sk = run.sk;
    let now = world.params.now;
    let rng = &mut run.rng;
    let mut events: Vec<(DateTime<Utc>, What)> = Vec::new();
    if !sk.deleted() {
        let mut lots = Vec::new();
        if chance(rng, 600) {
            let amount = rng.random_range(5..=10) * 10;
            let issued_at = sk.created_at + rng::minutes(rng, 1, 5);
            lots.push((
                None,
                "Welcome Bonus",
                amount,
                issued_at,
                world.catalog.promo_validity_days,
            ));
        }
        for _ in 0..weighted(rng, &[50, 35, 15]) {
            let c = &world.campaigns[rng.random_range(0..world.campaigns.len())];
            let amount = rng.random_range(c.coins.0 / 10..=c.coins.1 / 10) * 10;
            let issued_at = rng::instant(
                rng,
                sk.created_at + Duration::hours(1),
                now - Duration::hours(1),
            );
            lots.push((Some(c.id), c.name, amount, issued_at, c.validity_days));
        }
        for (campaign, name, amount, issued_at, days) in lots {
            let mut expires_at = issued_at + Duration::days(days);
            // No lot may expire in the hours around `now`: either the expiry job has
            // run for it, or it is still good for two days (no `promo.overdue` warning).
            if expires_at > now - Duration::hours(1) && expires_at <= now + Duration::days(2) {
                expires_at = now + Duration::days(2) + rng::minutes(rng, 60, 24 * 60);
            }
            if expires_at <= now - Duration::hours(1) {
                let slack = (now - Duration::minutes(1) - expires_at)
                    .num_seconds()
                    .min(6 * 3600);
                events.push((
                    expires_at + Duration::seconds(rng.random_range(0..=slack)),
                    What::ExpiryJob,
                ));
            }
            events.push((issued_at, What::PromoIssue(run.pending.len())));
            run.pending.push(IssuedLot {
                id: rng::uuid(rng),
                campaign,
                name,
                issued_at,
                lot: Lot::new(amount, expires_at),
            });
        }
        if chance(rng, 120) {
            let credit_at = rng::instant(
                rng,
                sk.created_at + Duration::hours(1),
                now - Duration::hours(1),
            );
            events.push((
                credit_at,
                What::CashCredit(rng.random_range(50..=500) * 100),
            ));
            let withdraw_at =
                rng::instant(rng, credit_at + Duration::days(1), now - Duration::hours(1));
            if withdraw_at <= now - Duration::hours(1) && chance(rng, 500) {
                events.push((
                    withdraw_at,
                    What::CashWithdraw(rng.random_range(300..=1000)),
                ));
            }
        }
        if chance(rng, 60) {
            for _ in 0..rng.random_range(1..=3) {
                let at = rng::instant(
                    rng,
                    sk.created_at + Duration::hours(1),
                    now - Duration::hours(1),
                );
                events.push((at, What::PriveEarn(rng.random_range(2..=10) * 50)));
            }
            for _ in 0..rng.random_range(0..=2) {
                let at = rng::instant(
                    rng,
                    sk.created_at + Duration::hours(2),
                    now - Duration::hours(1),
                );
                events.push((at, What::PriveSpend(rng.random_range(200..=800))));
            }
        }
    }
    for (k, p) in plans.iter().enumerate() {
        events.push((p.placed_at, What::Placed(k)));
        if let Some(at) = p.settled_at {
            events.push((at, What::Settled(k)));
            let branded = p.completed()
                && p.redemption
                    .as_ref()
                    .is_some_and(|r| world.offers[r.offer].branded_coins_earned > 0);
            let spend_at = at + Duration::days(rng.random_range(1..=20));
            if branded && spend_at <= now && chance(rng, 400) {
                events.push((
                    spend_at,
                    What::BrandedSpend(p.merchant, rng.random_range(200..=1000)),
                ));
            }
        }
    }
    for (i, (r, as_referrer)) in referrals.iter().enumerate() {
        if let Some(at) = r.rewarded_at {
            events.push((at, What::Reward(i, *as_referrer)));
        }
    }
    // Stable: events at the same instant keep the order they were scheduled in.
    events.sort_by_key(|e| e.0);
    events
}

/// Replays `sk`'s history, writing ledger rows and notifications into `out`.
pub fn run(
    world: &World,
    sk: &Skeleton,
    plans: &[OrderPlan],
    referrals: &[(Referral, bool)],
    out: &mut UserTables,
) -> Outcome {
    // Everyone starts in the tier that asks for nothing (if there is one).
    let initial = loyalty::tier_for(&world.catalog.rules, Money::ZERO, 0).map(|t| t.level);
    let mut run = Run {
        world,
        sk,
        rng: stream(world.params.rng_seed, Kind::Wallet, sk.index),
        out,
        books: Books::default(),
        lots: Vec::new(),
        pending: Vec::new(),
        last: sk.created_at,
        settled: vec![None; plans.len()],
        loyalty: Loyalty {
            tier_level: initial,
            tier_since: initial.map(|_| sk.created_at),
            ..Loyalty::default()
        },
    };
    for (at, what) in schedule(&mut run, plans, referrals) {
        match what {
            What::PromoIssue(l) => run.issue(l, at),
            What::ExpiryJob => run.expire(at),
            What::Reward(i, as_referrer) => run.reward(&referrals[i].0, as_referrer, at),
            What::Placed(k) => run.place(k, &plans[k], at),
            What::Settled(k) if plans[k].completed() => run.complete(k, &plans[k], at),
            What::Settled(k) => run.cancel(k, &plans[k], at),
            What::CashCredit(paise) => {
                let from = source("admin_adjustment", None, "Goodwill credit from ReZ support");
                run.post(CoinType::Cash, None, TxType::AdminCredit, paise, at, from);
            }
            What::CashWithdraw(per_mille) => {
                let from = source("bank_withdrawal", None, "Withdrawn to bank account");
                run.spend_share(CoinType::Cash, None, TxType::Transfer, per_mille, at, from);
            }
            What::PriveEarn(coins) => {
                let from = source("prive_bonus", None, "Privé monthly bonus");
                run.post(CoinType::Prive, None, TxType::Earn, coins, at, from);
            }
            What::PriveSpend(per_mille) => {
                let from = source(
                    "prive_reward",
                    None,
                    "Privé coins redeemed for an experience",
                );
                run.spend_share(CoinType::Prive, None, TxType::Spend, per_mille, at, from);
            }
            What::BrandedSpend(m, per_mille) => {
                let from = source(
                    "branded_reward",
                    None,
                    "Branded coins redeemed at the store",
                );
                run.spend_share(
                    CoinType::Branded,
                    Some(m),
                    TxType::Spend,
                    per_mille,
                    at,
                    from,
                );
            }
        }
    }
    // PROMO-BALANCE: the lots and the promo ledger tell the same story.
    assert_eq!(
        promo::balance(&run.lot_states()),
        run.books.promo.balance(),
        "user {}: promo lots and promo ledger disagree",
        sk.index
    );
    Outcome {
        books: run.books,
        lots: run.lots,
        settled: run.settled,
        loyalty: run.loyalty,
    }
}

impl Run<'_, '_> {
    fn lot_states(&self) -> Vec<Lot> {
        self.lots.iter().map(|l| l.lot.clone()).collect()
    }

    fn set_lot_states(&mut self, lots: Vec<Lot>) {
        for (l, lot) in lots.into_iter().enumerate() {
            self.lots[l].lot = lot;
        }
    }

    fn issue(&mut self, l: usize, at: DateTime<Utc>) {
        let lot = self.pending[l].clone();
        let description = format!("{}: {} promo coins", lot.name, lot.lot.amount);
        let mut from = source("promo_lot", Some(lot.id), &description);
        from.promo = Some((lot.campaign, lot.lot.expires_at));
        self.post(
            CoinType::Promo,
            None,
            TxType::Earn,
            lot.lot.amount,
            at,
            from,
        );
        if chance(&mut self.rng, 500) {
            let open = Some(("open_wallet", json!({})));
            self.notify(at, "promo_coins", "Bonus coins added", &description, open);
        }
        self.lots.push(lot);
    }

    /// The expiry job's run at `at`: every lot due by then is zeroed.
    fn expire(&mut self, at: DateTime<Utc>) {
        let mut lots = self.lot_states();
        let expired = promo::expire_due(&mut lots, at);
        self.set_lot_states(lots);
        for (l, coins) in expired {
            let from = source("promo_lot", Some(self.lots[l].id), "Promo coins expired");
            self.post(CoinType::Promo, None, TxType::Expire, -coins, at, from);
        }
    }

    fn reward(&mut self, r: &Referral, as_referrer: bool, at: DateTime<Utc>) {
        let (coins, description) = if as_referrer {
            (r.referrer_coins, "Referral reward: your friend joined ReZ")
        } else {
            (
                r.referee_coins,
                "Welcome reward for joining with a referral code",
            )
        };
        if coins > 0 {
            let from = source(loyalty::REFERRAL_REFERENCE_TYPE, Some(r.id), description);
            let at = self.post(CoinType::Rez, None, TxType::Earn, coins, at, from);
            let message = format!("{coins} ReZ coins added to your wallet");
            let open = Some(("open_wallet", json!({})));
            self.notify(at, "referral_success", "Referral reward", &message, open);
        }
    }

    /// An order is placed: it spends promo coins first (they expire), then
    /// rez coins, within the cap, and is priced.
    fn place(&mut self, k: usize, p: &OrderPlan, at: DateTime<Utc>) {
        let catalog = &self.world.catalog;
        let rate = catalog.coin_to_inr_rate;
        let mut coins_used = 0;
        if p.coin_appetite > 0 {
            let cap = order::max_coins(p.payable(), catalog.max_coins_percent, rate);
            let wanted = cap * i64::from(p.coin_appetite) / 1000;
            // A cancelled order gets its coins back as rez coins: it uses no promo coins.
            let promo = if p.cancelled() {
                0
            } else {
                self.live_promo(at)
            };
            let usable = wanted.min(promo + self.books.rez.balance());
            let from_promo = usable.min(promo);
            let from_rez = usable - from_promo;
            let description = format!("Coins used on order {}", p.number);
            if from_promo > 0 {
                let mut lots = self.lot_states();
                let taken = promo::consume_fifo(&mut lots, from_promo, at)
                    .expect("the promo coins counted as live are there");
                let used: Vec<String> = taken
                    .iter()
                    .map(|(l, _)| self.lots[*l].id.to_string())
                    .collect();
                self.set_lot_states(lots);
                let mut from = source("purchase", Some(p.id), &description);
                from.metadata = json!({"order_id": p.id, "promo_lots": used});
                self.post(CoinType::Promo, None, TxType::Spend, -from_promo, at, from);
            }
            if from_rez > 0 {
                let mut from = source("purchase", Some(p.id), &description);
                from.metadata = json!({"order_id": p.id});
                self.post(CoinType::Rez, None, TxType::Spend, -from_rez, at, from);
            }
            coins_used = usable;
        }
        let charges = Charges {
            discount: p.discount,
            tax: p.tax,
            delivery_fee: p.delivery_fee,
            coins_used,
        };
        let priced = order::price(&p.items, &charges, rate)
            .unwrap_or_else(|e| panic!("order {} cannot be priced: {e}", p.number));
        self.settled[k] = Some(Settled {
            coins_used,
            priced,
            coins_earned: 0,
        });
        self.loyalty.last_activity = Some(at);
    }

    /// A completed order earns coins (the tier's multiplier applies) and
    /// counts toward loyalty.
    fn complete(&mut self, k: usize, p: &OrderPlan, at: DateTime<Utc>) {
        let catalog = &self.world.catalog;
        let state = self.settled[k].expect("an order completes after it is placed");
        let (spend, orders) = (self.loyalty.spend, self.loyalty.orders);
        let multiplier = loyalty::tier_for(&catalog.rules, spend, orders)
            .and_then(|t| catalog.tier_index(t.level))
            .map_or(Decimal::ONE, |i| catalog.multipliers[i]);
        let reward = loyalty::reward_coins(
            state.priced.total,
            catalog.coin_reward_percent,
            multiplier,
            catalog.coin_to_inr_rate,
        );
        let description = format!("Coins earned on order {}", p.number);
        if reward > 0 {
            let mut from = source("purchase", Some(p.id), &description);
            from.metadata = json!({"order_id": p.id});
            self.post(CoinType::Rez, None, TxType::Earn, reward, at, from);
        }
        let mut earned = reward;
        if let Some(r) = &p.redemption {
            let offer = &self.world.offers[r.offer];
            let description = format!("Offer reward: {}", offer.title);
            if offer.rez_coins_earned > 0 {
                let from = source("offer_redemption", Some(r.id), &description);
                self.post(
                    CoinType::Rez,
                    None,
                    TxType::Earn,
                    offer.rez_coins_earned,
                    at,
                    from,
                );
                earned += offer.rez_coins_earned;
            }
            if offer.branded_coins_earned > 0 {
                let from = source("offer_redemption", Some(r.id), &description);
                let (merchant, coins) = (Some(p.merchant), offer.branded_coins_earned);
                self.post(CoinType::Branded, merchant, TxType::Earn, coins, at, from);
            }
        }
        self.settled[k] = Some(Settled {
            coins_earned: earned,
            ..state
        });
        let l = &mut self.loyalty;
        l.spend = l.spend + state.priced.total;
        l.orders += 1;
        let level = loyalty::tier_for(&catalog.rules, l.spend, l.orders).map(|t| t.level);
        if level != l.tier_level {
            l.tier_level = level;
            l.tier_since = Some(at);
        }
        l.last_activity = Some(at);
        if chance(&mut self.rng, 500) {
            let message = format!(
                "Your order {} is complete. You earned {earned} ReZ coins.",
                p.number
            );
            let open = Some(("open_order", json!({"order_id": p.id})));
            self.notify(at, "order_update", "Order completed", &message, open);
        }
    }

    /// A cancelled order gives its coins back, and its money too when it
    /// was refunded to the wallet.
    fn cancel(&mut self, k: usize, p: &OrderPlan, at: DateTime<Utc>) {
        let state = self.settled[k].expect("an order is cancelled after it is placed");
        let description = format!("Refund for cancelled order {}", p.number);
        if state.coins_used > 0 {
            let from = source("purchase", Some(p.id), &description);
            self.post(
                CoinType::Rez,
                None,
                TxType::Refund,
                state.coins_used,
                at,
                from,
            );
        }
        let paise = state.priced.total.paise();
        if p.refund_to_wallet && paise > 0 {
            let from = source("purchase", Some(p.id), &description);
            self.post(CoinType::Cash, None, TxType::Refund, paise, at, from);
        }
    }
}

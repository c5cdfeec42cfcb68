//! Offers and their redemptions.
//!
//! Rules (docs/invariants.md):
//! - REDEMPTION-ARITHMETIC: final_amount = original_amount − discount_amount.
//! - REDEMPTION-DISCOUNT: the discount follows the offer's kind: discount_percent
//!   = round(original × value / 100), capped by max_discount; discount_fixed =
//!   min(value, original); cashback gives no discount (coins instead); bogo and
//!   freebie discount an item, so any amount from 0 to the original. Below the
//!   offer's min_order_value there is no discount to give: the redemption is
//!   not allowed at all.
//! - REDEMPTION-WINDOW: redeemed_at lies in [valid_from, valid_until], on an
//!   available day and within an available hour range, in India time (IST,
//!   UTC+05:30, no daylight saving).
//! - OFFER-LIMITS: non-cancelled redemptions <= total_redemption_limit, and per
//!   user <= per_user_limit; OFFER-COUNTER: redemptions_count = that count.

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, Utc, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::coins::named;
use super::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    DiscountPercent,
    DiscountFixed,
    Bogo,
    Freebie,
    Cashback,
}

impl OfferKind {
    pub const ALL: [OfferKind; 5] = [
        OfferKind::DiscountPercent,
        OfferKind::DiscountFixed,
        OfferKind::Bogo,
        OfferKind::Freebie,
        OfferKind::Cashback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::DiscountPercent => "discount_percent",
            OfferKind::DiscountFixed => "discount_fixed",
            OfferKind::Bogo => "bogo",
            OfferKind::Freebie => "freebie",
            OfferKind::Cashback => "cashback",
        }
    }
}

named!(OfferKind, "offer type");

/// An offer's discount configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub kind: OfferKind,
    /// A percentage for discount_percent, rupees for discount_fixed.
    pub discount_value: Option<Decimal>,
    pub max_discount: Option<Money>,
    pub min_order_value: Option<Money>,
}

/// What discount an order of a given amount gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    Exact(Money),
    /// Any amount from zero up to this (bogo, freebie: the free item's price).
    UpTo(Money),
}

impl Discount {
    pub fn allows(self, discount: Money) -> bool {
        match self {
            Discount::Exact(d) => discount == d,
            Discount::UpTo(max) => !discount.is_negative() && discount <= max,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ineligible {
    #[error("order value {original} is below the offer's minimum {minimum}")]
    BelowMinimum { original: Money, minimum: Money },
    #[error("a {0} offer needs a discount_value")]
    MissingValue(OfferKind),
}

/// REDEMPTION-DISCOUNT: the discount `terms` give on `original`.
pub fn discount(terms: &Terms, original: Money) -> Result<Discount, Ineligible> {
    if let Some(minimum) = terms.min_order_value.filter(|&m| original < m) {
        return Err(Ineligible::BelowMinimum { original, minimum });
    }
    let value = || {
        terms
            .discount_value
            .ok_or(Ineligible::MissingValue(terms.kind))
    };
    Ok(match terms.kind {
        OfferKind::DiscountPercent => {
            let raw = Money::round(original.amount() * value()? / Decimal::ONE_HUNDRED);
            let capped = terms.max_discount.map_or(raw, |cap| raw.min(cap));
            Discount::Exact(capped.min(original))
        }
        OfferKind::DiscountFixed => Discount::Exact(Money::round(value()?).min(original)),
        OfferKind::Cashback => Discount::Exact(Money::ZERO),
        OfferKind::Bogo | OfferKind::Freebie => Discount::UpTo(original),
    })
}

/// REDEMPTION-ARITHMETIC.
pub fn final_amount(original: Money, discount: Money) -> Money {
    original - discount
}

/// When an offer can be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// Empty means every day.
    pub days: Vec<Weekday>,
    /// India-time ranges `[start, end)`; empty means all day.
    pub hours: Vec<(NaiveTime, NaiveTime)>,
}

/// India Standard Time: UTC+05:30 all year.
pub fn ist() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("constant offset is valid")
}

impl Window {
    /// The window from an offer's columns as the schema stores them
    /// (`available_days`: `["mon", ...]`, `available_hours`:
    /// `[{"start": "09:00", "end": "12:00"}]`, JSON null or absent meaning no
    /// restriction); Err names the entry that is unreadable.
    pub fn from_columns(
        valid_from: DateTime<Utc>,
        valid_until: DateTime<Utc>,
        days: Option<&serde_json::Value>,
        hours: Option<&serde_json::Value>,
    ) -> Result<Window, String> {
        use serde_json::Value;
        let days = match days {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .and_then(weekday)
                        .ok_or_else(|| format!("available_days entry {n}"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("available_days = {other}")),
        };
        let time = |v: &Value| {
            v.as_str()
                .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok())
        };
        let hours = match hours {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ranges)) => ranges
                .iter()
                .map(|r| match (time(&r["start"]), time(&r["end"])) {
                    (Some(s), Some(e)) => Ok((s, e)),
                    _ => Err(format!("available_hours entry {r}")),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("available_hours = {other}")),
        };
        Ok(Window {
            valid_from,
            valid_until,
            days,
            hours,
        })
    }

    /// OFFER-WINDOW: an offer's window must contain some instant (the schema's
    /// `offers_validity_window` CHECK, valid_until > valid_from).
    pub fn is_open(&self) -> bool {
        self.valid_until > self.valid_from
    }

    /// REDEMPTION-WINDOW.
    pub fn allows(&self, at: DateTime<Utc>) -> bool {
        if at < self.valid_from || at > self.valid_until {
            return false;
        }
        let local = at.with_timezone(&ist());
        let day_ok = self.days.is_empty() || self.days.contains(&local.weekday());
        let time = local.time();
        let hour_ok = self.hours.is_empty()
            || self
                .hours
                .iter()
                .any(|&(start, end)| start <= time && time < end);
        day_ok && hour_ok
    }
}

/// Parses the reference's day names (`"mon"` ... `"sun"`).
pub fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// Redemptions in this status do not count toward an offer's limits and counter.
pub const UNCOUNTED_REDEMPTION_STATUS: &str = "cancelled";

/// OFFER-LIMITS: `used` redemptions fit within `limit` (None = unlimited).
pub fn within_limit(used: i64, limit: Option<i64>) -> bool {
    limit.is_none_or(|l| used <= l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rs(paise: i64) -> Money {
        Money::from_paise(paise)
    }

    fn terms(kind: OfferKind, value: Option<i64>, cap: Option<i64>, min: Option<i64>) -> Terms {
        Terms {
            kind,
            discount_value: value.map(Decimal::from),
            max_discount: cap.map(rs),
            min_order_value: min.map(rs),
        }
    }

    #[test]
    fn percent_rounds_then_caps() {
        let t = terms(OfferKind::DiscountPercent, Some(15), None, None);
        // 15% of ₹333.33 = ₹49.9995 → ₹50.00
        assert_eq!(discount(&t, rs(333_33)), Ok(Discount::Exact(rs(50_00))));
        let capped = terms(OfferKind::DiscountPercent, Some(50), Some(100_00), None);
        assert_eq!(
            discount(&capped, rs(1000_00)),
            Ok(Discount::Exact(rs(100_00)))
        );
    }

    #[test]
    fn fixed_never_exceeds_the_order_and_minimums_hold() {
        let t = terms(OfferKind::DiscountFixed, Some(100), None, Some(50_00));
        assert_eq!(discount(&t, rs(80_00)), Ok(Discount::Exact(rs(80_00))));
        assert!(matches!(
            discount(&t, rs(49_99)),
            Err(Ineligible::BelowMinimum { .. })
        ));
        assert_eq!(
            discount(&terms(OfferKind::Cashback, None, None, None), rs(10_00)),
            Ok(Discount::Exact(Money::ZERO))
        );
        let bogo = discount(&terms(OfferKind::Bogo, None, None, None), rs(10_00)).unwrap();
        assert!(bogo.allows(rs(5_00)) && !bogo.allows(rs(10_01)));
    }

    #[test]
    fn windows_use_india_time() {
        let w = Window {
            valid_from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            valid_until: Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap(),
            days: vec![Weekday::Mon],
            hours: vec![(
                NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            )],
        };
        // Monday 2026-01-05 04:00 UTC = 09:30 IST: inside.
        assert!(w.allows(Utc.with_ymd_and_hms(2026, 1, 5, 4, 0, 0).unwrap()));
        // Monday 03:00 UTC = 08:30 IST: too early.
        assert!(!w.allows(Utc.with_ymd_and_hms(2026, 1, 5, 3, 0, 0).unwrap()));
        // Sunday 2026-01-04 20:00 UTC = Monday 01:30 IST: right day, wrong hour.
        assert!(!w.allows(Utc.with_ymd_and_hms(2026, 1, 4, 20, 0, 0).unwrap()));
        assert!(!w.allows(Utc.with_ymd_and_hms(2027, 1, 4, 4, 0, 0).unwrap()));
        assert_eq!(weekday("sun"), Some(Weekday::Sun));
        assert!(within_limit(3, Some(3)) && !within_limit(4, Some(3)) && within_limit(9, None));
    }
}

//! Order pricing.
//!
//! Rules (docs/invariants.md):
//! - ORDER-ITEM-TOTAL: each item's total = qty × price.
//! - ORDER-SUBTOTAL: subtotal = the sum of the item totals.
//! - ORDER-COINS-VALUE: coins_value = coins_used × the `coin_to_inr_rate`
//!   setting, rounded by [`Money::round`].
//! - ORDER-TOTAL: total = subtotal − discount + tax + delivery fee − coins_value,
//!   and is never negative.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::Money;

/// An entry of orders.items: `{product_id, name, qty, price, total}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<uuid::Uuid>,
    #[serde(default)]
    pub name: String,
    pub qty: i64,
    pub price: Money,
    pub total: Money,
}

impl Item {
    pub fn new(product_id: Option<uuid::Uuid>, name: &str, qty: i64, price: Money) -> Item {
        Item {
            product_id,
            name: name.to_string(),
            qty,
            price,
            total: price.times(qty),
        }
    }

    /// ORDER-ITEM-TOTAL.
    pub fn total_ok(&self) -> bool {
        self.qty > 0 && self.total == self.price.times(self.qty)
    }
}

/// What is added to or taken from the subtotal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Charges {
    pub discount: Money,
    pub tax: Money,
    pub delivery_fee: Money,
    pub coins_used: i64,
}

/// An order's computed amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    pub subtotal: Money,
    pub coins_value: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order needs at least one item")]
    NoItems,
    #[error("item {index}: quantity must be positive, got {qty}")]
    BadQuantity { index: usize, qty: i64 },
    #[error("discount and coins ({reductions}) exceed what the order costs ({charges}): the total would be {total}")]
    NegativeTotal {
        charges: Money,
        reductions: Money,
        total: Money,
    },
}

/// ORDER-SUBTOTAL: the sum of the items' stated totals.
pub fn subtotal(items: &[Item]) -> Money {
    items.iter().map(|i| i.total).sum()
}

/// ORDER-COINS-VALUE.
pub fn coins_value(coins_used: i64, coin_to_inr_rate: Decimal) -> Money {
    Money::round(Decimal::from(coins_used) * coin_to_inr_rate)
}

/// ORDER-COINS-CAP (setting `max_coins_per_order_percent`): the most whole
/// coins an order may use, so that their value stays within `max_percent` % of
/// what the order costs before coins (`payable` = subtotal − discount + tax +
/// delivery fee). Rounded down, then lowered while the rounded value of the
/// coins (ORDER-COINS-VALUE) would still exceed the cap.
pub fn max_coins(payable: Money, max_percent: Decimal, coin_to_inr_rate: Decimal) -> i64 {
    if payable.is_negative() || max_percent <= Decimal::ZERO || coin_to_inr_rate <= Decimal::ZERO {
        return 0;
    }
    let cap = payable.amount() * max_percent.min(Decimal::ONE_HUNDRED) / Decimal::ONE_HUNDRED;
    let mut coins = i64::try_from((cap / coin_to_inr_rate).floor()).unwrap_or(0);
    while coins > 0 && coins_value(coins, coin_to_inr_rate).amount() > cap {
        coins -= 1;
    }
    coins
}

/// ORDER-TOTAL, from a subtotal, the charges and the coins' value.
pub fn total(subtotal: Money, charges: &Charges, coins_value: Money) -> Money {
    subtotal - charges.discount + charges.tax + charges.delivery_fee - coins_value
}

/// Prices an order, refusing one that cannot exist.
pub fn price(
    items: &[Item],
    charges: &Charges,
    coin_to_inr_rate: Decimal,
) -> Result<Priced, OrderError> {
    if items.is_empty() {
        return Err(OrderError::NoItems);
    }
    if let Some((index, item)) = items.iter().enumerate().find(|(_, i)| i.qty <= 0) {
        return Err(OrderError::BadQuantity {
            index,
            qty: item.qty,
        });
    }
    let subtotal = subtotal(items);
    let coins_value = coins_value(charges.coins_used, coin_to_inr_rate);
    let total = total(subtotal, charges, coins_value);
    if total.is_negative() {
        return Err(OrderError::NegativeTotal {
            charges: subtotal + charges.tax + charges.delivery_fee,
            reductions: charges.discount + coins_value,
            total,
        });
    }
    Ok(Priced {
        subtotal,
        coins_value,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rs(paise: i64) -> Money {
        Money::from_paise(paise)
    }

    #[test]
    fn prices_an_order_exactly() {
        let items = [
            Item::new(None, "Masala chai", 3, rs(4_50)),
            Item::new(None, "Samosa", 2, rs(19_99)),
        ];
        let charges = Charges {
            discount: rs(10_00),
            tax: rs(2_87),
            delivery_fee: rs(25_00),
            coins_used: 15,
        };
        let rate = Decimal::new(5, 1); // 1 coin = ₹0.50
        let p = price(&items, &charges, rate).unwrap();
        assert_eq!(p.subtotal, rs(53_48));
        assert_eq!(p.coins_value, rs(7_50));
        assert_eq!(p.total, rs(63_85));
    }

    #[test]
    fn refuses_impossible_orders() {
        assert_eq!(
            price(&[], &Charges::default(), Decimal::ONE),
            Err(OrderError::NoItems)
        );
        let items = [Item::new(None, "x", 1, rs(100))];
        let too_much = Charges {
            discount: rs(101),
            ..Default::default()
        };
        assert!(matches!(
            price(&items, &too_much, Decimal::ONE),
            Err(OrderError::NegativeTotal { .. })
        ));
    }

    #[test]
    fn item_totals_are_checked() {
        let mut item = Item::new(None, "x", 3, rs(333));
        assert!(item.total_ok());
        item.total = rs(1000);
        assert!(!item.total_ok());
    }

    #[test]
    fn coins_are_capped_by_a_share_of_the_payable_amount() {
        let half = Decimal::new(5, 1);
        assert_eq!(max_coins(rs(100_00), Decimal::from(20), half), 40);
        assert_eq!(max_coins(rs(99_99), Decimal::from(20), half), 39);
        assert_eq!(max_coins(rs(100_00), Decimal::ZERO, half), 0);
        assert_eq!(
            max_coins(rs(1_00), Decimal::from(100), Decimal::new(3, 1)),
            3
        );
        for rate in [Decimal::new(333, 3), Decimal::new(7, 2), Decimal::ONE] {
            for paise in [1, 99, 1_00, 12_345, 99_999] {
                let cap = rs(paise).amount() / Decimal::from(4);
                let n = max_coins(rs(paise), Decimal::from(25), rate);
                assert!(coins_value(n, rate).amount() <= cap, "{paise} at {rate}");
                assert!(
                    Decimal::from(n + 1) * rate > cap,
                    "{paise} at {rate}: not the most"
                );
            }
        }
    }

    proptest! {
        /// Any order priced by the core satisfies the total identity exactly.
        #[test]
        fn priced_orders_satisfy_the_identity(
            lines in prop::collection::vec((1i64..20, 1i64..500_000), 1..10),
            discount in 0i64..100_000, tax in 0i64..50_000, fee in 0i64..10_000,
            coins in 0i64..2_000, rate_tenths in 1i64..20,
        ) {
            let items: Vec<Item> = lines.iter().map(|&(q, p)| Item::new(None, "i", q, rs(p))).collect();
            let rate = Decimal::new(rate_tenths, 1);
            let charges = Charges { discount: rs(discount), tax: rs(tax), delivery_fee: rs(fee), coins_used: coins };
            if let Ok(p) = price(&items, &charges, rate) {
                let item_sum: i64 = lines.iter().map(|&(q, p)| q * p).sum();
                prop_assert_eq!(p.subtotal.paise(), item_sum);
                prop_assert_eq!(p.total, p.subtotal - rs(discount) + rs(tax) + rs(fee) - p.coins_value);
                prop_assert!(!p.total.is_negative());
                prop_assert!(items.iter().all(Item::total_ok));
            }
        }
    }
}

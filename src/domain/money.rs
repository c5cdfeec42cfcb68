//! Money: Indian rupees with exactly two decimal places (paise).
//!
//! The one rounding rule of the platform lives here: [`Money::round`] rounds
//! half away from zero to the paisa (₹0.125 → ₹0.13, −₹0.125 → −₹0.13), the
//! commercial rule for INR invoices. Everything that turns a computed Decimal
//! (a percentage, a coin conversion) into money goes through it.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Neg, Sub};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal amount")]
    NotANumber(String),
    #[error("`{0}` has more than two decimal places; money is exact to the paisa")]
    TooPrecise(String),
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// An exact amount; more than two decimal places is an error, never a rounding.
    pub fn new(amount: Decimal) -> Result<Money, MoneyError> {
        let normal = amount.normalize();
        if normal.scale() > 2 {
            return Err(MoneyError::TooPrecise(amount.to_string()));
        }
        Ok(Money::round(normal))
    }

    /// THE rounding rule: half away from zero, to the paisa.
    pub fn round(amount: Decimal) -> Money {
        let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(2);
        Money(rounded)
    }

    pub fn from_paise(paise: i64) -> Money {
        Money(Decimal::new(paise, 2))
    }

    /// The amount in paise (exact: a Money always has two decimal places).
    pub fn paise(self) -> i64 {
        let scaled = self.0 * Decimal::ONE_HUNDRED;
        i64::try_from(scaled).expect("a NUMERIC(10,2) amount fits in i64 paise")
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// `self × quantity`, exact.
    pub fn times(self, quantity: i64) -> Money {
        Money::round(self.0 * Decimal::from(quantity))
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn min(self, other: Money) -> Money {
        std::cmp::min(self, other)
    }
}

impl TryFrom<Decimal> for Money {
    type Error = MoneyError;
    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        Money::new(d)
    }
}

impl From<Money> for Decimal {
    fn from(m: Money) -> Decimal {
        m.0
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d =
            Decimal::from_str_exact(s.trim()).map_err(|_| MoneyError::NotANumber(s.to_string()))?;
        Money::new(d)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero_to_the_paisa() {
        assert_eq!(Money::round(dec("0.125")).to_string(), "0.13");
        assert_eq!(Money::round(dec("0.124")).to_string(), "0.12");
        assert_eq!(Money::round(dec("-0.125")).to_string(), "-0.13");
        assert_eq!(Money::round(dec("7")).to_string(), "7.00");
    }

    #[test]
    fn exact_amounts_only() {
        assert_eq!("12.50".parse::<Money>().unwrap().paise(), 1250);
        assert_eq!("12.5000".parse::<Money>().unwrap().paise(), 1250);
        assert!(matches!(
            "12.345".parse::<Money>(),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            "12,5".parse::<Money>(),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            "1e3".parse::<Money>(),
            Err(MoneyError::NotANumber(_))
        ));
    }

    #[test]
    fn paise_round_trip_and_arithmetic() {
        let m = Money::from_paise(123_456);
        assert_eq!(m.to_string(), "1234.56");
        assert_eq!(m.paise(), 123_456);
        assert_eq!((m - Money::from_paise(56)).to_string(), "1234.00");
        assert_eq!(Money::from_paise(1999).times(3).paise(), 5997);
        assert_eq!([m, m].into_iter().sum::<Money>().paise(), 246_912);
    }
}

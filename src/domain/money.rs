//! Money as whole cents, so sums never drift; shown as a decimal number.

use serde::{Serialize, Serializer};
use std::fmt;

/// An amount in cents of the configured currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cents(pub i64);

impl Cents {
    /// From a decimal amount (e.g. 2.49), rounded to the cent.
    pub fn from_decimal(amount: f64) -> Self {
        Self((amount * 100.0).round() as i64)
    }

    /// As a decimal amount (e.g. 2.49).
    pub fn as_decimal(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = (abs / 100).to_string();
        // Thousands separators: 12345.00 → 12,345.00.
        let mut grouped = String::new();
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "{sign}{grouped}.{:02}", abs % 100)
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_decimal())
    }
}

/// What a budget has left (API.md "Budget": `budget - committed - spent`); `None` without one.
pub fn remaining(budget: Option<Cents>, committed: Cents, spent: Cents) -> Option<Cents> {
    budget.map(|b| Cents(b.0 - committed.0 - spent.0))
}

/// The budget rule (API.md "Budget"): `price` fits when the project's other confirmed
/// prices (`others`) leave that much of `budget`; else what is left. One rule for the
/// store's check under its lock and the assistant's before it proposes.
pub fn budget_left(budget: Cents, others: Cents, price: Cents) -> Result<(), Cents> {
    let remaining = Cents(budget.0 - others.0);
    if price.0 > remaining.0 {
        Err(remaining)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_with_separators() {
        assert_eq!(Cents(123456789).to_string(), "1,234,567.89");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents::from_decimal(2.49), Cents(249));
    }

    #[test]
    fn the_budget_rule() {
        assert_eq!(budget_left(Cents(5000), Cents(3664), Cents(1336)), Ok(()));
        assert_eq!(
            budget_left(Cents(5000), Cents(3664), Cents(1556)),
            Err(Cents(1336))
        );
    }
}

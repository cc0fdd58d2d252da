//! One kind of quantity written as a number and a unit (a byte size, a
//! duration): its units, and the words its error messages differ by. Reading
//! the number and the unit of a text is the same for every kind; only these
//! words are not.

use crate::error::ValueError;
use crate::number::{split_quantity, Quantity, QuantityError};

/// A kind of quantity.
pub(crate) struct QuantityKind {
    /// What one is called in messages: `size`, `duration`.
    pub noun: &'static str,
    /// The units, each with its size in base units.
    pub units: &'static [(&'static str, u64)],
    /// The units as a message lists them.
    pub unit_list: &'static str,
    /// How to write one, after an empty text (`{units}` stands for the unit list).
    pub empty_hint: &'static str,
    /// How to write one, after a text that does not start with a number
    /// (`{units}` stands for the unit list).
    pub malformed_hint: &'static str,
}

impl QuantityKind {
    /// `text` taken apart into its number and unit (the unit not looked up yet).
    pub(crate) fn split<'a>(&self, text: &'a str) -> Result<Quantity<'a>, ValueError> {
        let hint = |h: &str| h.replace("{units}", self.unit_list);
        let noun = self.noun;
        split_quantity(text).map_err(|e| match e {
            QuantityError::Empty => {
                ValueError::new(format!("an empty string is not a {noun}: {}", hint(self.empty_hint)))
            }
            QuantityError::Negative => ValueError::new(format!("`{text}`: a {noun} cannot be negative")),
            QuantityError::NoDigits | QuantityError::NoFractionDigits => {
                ValueError::new(format!("`{text}` is not a {noun}: {}", hint(self.malformed_hint)))
            }
        })
    }

    /// The size in base units of `unit`, the unit of `text`.
    pub(crate) fn factor(&self, text: &str, unit: &str) -> Result<u64, ValueError> {
        match self.units.iter().find(|(name, _)| *name == unit) {
            Some(&(_, factor)) => Ok(factor),
            None => Err(ValueError::new(format!(
                "`{text}`: unknown unit `{unit}` (expected {})",
                self.unit_list
            ))),
        }
    }
}

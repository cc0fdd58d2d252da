//! The decimal numbers with a unit that durations and byte sizes are written in.

/// `"1.5s"` taken apart: digits before the point, digits after it (trailing
/// zeros dropped), and the unit.
pub(crate) struct Quantity<'a> {
    pub whole: &'a str,
    pub fraction: &'a str,
    pub unit: &'a str,
}

/// Why a text is not a number followed by a unit.
pub(crate) enum QuantityError {
    Empty,
    Negative,
    NoDigits,
    NoFractionDigits,
}

/// Split `text` into a non-negative decimal number and the unit after it.
pub(crate) fn split_quantity(text: &str) -> Result<Quantity<'_>, QuantityError> {
    if text.is_empty() {
        return Err(QuantityError::Empty);
    }
    if text.starts_with('-') {
        return Err(QuantityError::Negative);
    }
    let whole_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if whole_end == 0 {
        return Err(QuantityError::NoDigits);
    }
    let whole = &text[..whole_end];
    let rest = &text[whole_end..];
    let (fraction, unit) = match rest.strip_prefix('.') {
        Some(after) => {
            let end = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
            if end == 0 {
                return Err(QuantityError::NoFractionDigits);
            }
            (after[..end].trim_end_matches('0'), &after[end..])
        }
        None => ("", rest),
    };
    Ok(Quantity { whole, fraction, unit })
}

/// Why a quantity does not scale to a whole number of base units.
pub(crate) enum ScaleError {
    TooLarge,
    Fractional,
}

/// `quantity * factor` as a whole number of base units, at most `u64::MAX`.
pub(crate) fn scale(q: &Quantity<'_>, factor: u64) -> Result<u64, ScaleError> {
    let whole = q.whole.trim_start_matches('0');
    if whole.len() > 20 {
        return Err(ScaleError::TooLarge);
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| ScaleError::TooLarge)?
    };
    let factor = u128::from(factor);
    let mut total = whole.checked_mul(factor).ok_or(ScaleError::TooLarge)?;
    if !q.fraction.is_empty() {
        // A factor below 2^64 has fewer than 20 factors of ten: a longer
        // fraction (without trailing zeros) cannot give a whole number.
        if q.fraction.len() > 20 {
            return Err(ScaleError::Fractional);
        }
        let digits = u32::try_from(q.fraction.len()).map_err(|_| ScaleError::Fractional)?;
        let fraction: u128 = q.fraction.parse().map_err(|_| ScaleError::Fractional)?;
        let denominator = 10u128.pow(digits);
        let scaled = fraction.checked_mul(factor).ok_or(ScaleError::TooLarge)?;
        if scaled % denominator != 0 {
            return Err(ScaleError::Fractional);
        }
        total = total.checked_add(scaled / denominator).ok_or(ScaleError::TooLarge)?;
    }
    u64::try_from(total).map_err(|_| ScaleError::TooLarge)
}

/// `value / unit` written as a short decimal (`1.5`, `250`), exact when the
/// unit is a power of ten; `None` when it would not be exact.
pub(crate) fn decimal(value: u64, unit: u64) -> Option<String> {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return Some(whole.to_string());
    }
    let mut digits = 0;
    let mut u = unit;
    while u % 10 == 0 {
        u /= 10;
        digits += 1;
    }
    if u != 1 {
        return None;
    }
    let fraction = format!("{rest:0digits$}");
    Some(format!("{whole}.{}", fraction.trim_end_matches('0')))
}

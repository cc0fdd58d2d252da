//! Lifetime distributions as text: `"never"`, `"5s"`, `"exp(10m)"`, `"uniform(1s, 5s)"`.

use std::fmt;
use std::str::FromStr;

use crate::duration::{format_duration, parse_duration};
use crate::error::ValueError;
use crate::model::Lifetime;

const FORMS: &str = "expected \"never\", a duration like \"5s\", \"exp(MEAN)\" or \"uniform(MIN, MAX)\"";

/// Parses `never`, a duration (fixed), `exp(MEAN)` or `uniform(MIN, MAX)`
/// (spaces allowed inside the parentheses; `MIN <= MAX`).
///
/// ```
/// use std::time::Duration;
/// use vigil_config::Lifetime;
/// let l: Lifetime = "uniform(1s, 5s)".parse().unwrap();
/// assert_eq!(l, Lifetime::Uniform { min: Duration::from_secs(1), max: Duration::from_secs(5) });
/// assert_eq!(l.to_string(), "uniform(1s, 5s)");
/// assert_eq!("exp(10m)".parse(), Ok(Lifetime::Exp { mean: Duration::from_secs(600) }));
/// assert_eq!("never".parse(), Ok(Lifetime::Never));
/// ```
impl FromStr for Lifetime {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        if text == "never" {
            return Ok(Lifetime::Never);
        }
        let arg = |d: &str, what: &str| {
            parse_duration(d.trim())
                .map_err(|e| ValueError::new(format!("`{text}`: the {what} is not a duration: {e}")))
        };
        if let Some(inner) = text.strip_prefix("exp(") {
            let inner = inner
                .strip_suffix(')')
                .ok_or_else(|| ValueError::new(format!("`{text}`: missing `)`")))?;
            return Ok(Lifetime::Exp {
                mean: arg(inner, "mean")?,
            });
        }
        if let Some(inner) = text.strip_prefix("uniform(") {
            let inner = inner
                .strip_suffix(')')
                .ok_or_else(|| ValueError::new(format!("`{text}`: missing `)`")))?;
            let (min, max) = inner.split_once(',').ok_or_else(|| {
                ValueError::new(format!("`{text}`: uniform takes two durations, `uniform(MIN, MAX)`"))
            })?;
            let (min, max) = (arg(min, "minimum")?, arg(max, "maximum")?);
            if min > max {
                return Err(ValueError::new(format!(
                    "`{text}`: the minimum is larger than the maximum"
                )));
            }
            return Ok(Lifetime::Uniform { min, max });
        }
        if text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
            return parse_duration(text).map(Lifetime::Fixed);
        }
        Err(ValueError::new(format!("`{text}` is not a lifetime: {FORMS}")))
    }
}

/// Writes the form [`FromStr`] reads, durations as [`format_duration`] does.
impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifetime::Never => f.write_str("never"),
            Lifetime::Fixed(d) => f.write_str(&format_duration(*d)),
            Lifetime::Exp { mean } => write!(f, "exp({})", format_duration(*mean)),
            Lifetime::Uniform { min, max } => {
                write!(f, "uniform({}, {})", format_duration(*min), format_duration(*max))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn err(text: &str) -> String {
        text.parse::<Lifetime>().unwrap_err().to_string()
    }

    #[test]
    fn forms() {
        let s = Duration::from_secs;
        assert_eq!("5s".parse(), Ok(Lifetime::Fixed(s(5))));
        assert_eq!("exp( 10m )".parse(), Ok(Lifetime::Exp { mean: s(600) }));
        assert_eq!("uniform(1s,5s)".parse(), Ok(Lifetime::Uniform { min: s(1), max: s(5) }));
        assert_eq!(
            "uniform(2s, 2s)".parse(),
            Ok(Lifetime::Uniform { min: s(2), max: s(2) })
        );
    }

    #[test]
    fn precise_messages() {
        assert!(err("sometimes").contains("is not a lifetime"));
        assert!(err("5").contains("has no unit"));
        assert!(err("-5s").contains("negative"));
        assert!(err("exp(10m").contains("missing `)`"));
        assert!(err("exp(10)").contains("the mean is not a duration"));
        assert!(err("uniform(1s)").contains("two durations"));
        assert!(err("uniform(5s, 1s)").contains("minimum is larger"));
        assert!(err("uniform(1s, x)").contains("the maximum is not a duration"));
    }
}

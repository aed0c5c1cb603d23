//! Exact money arithmetic: decimal strings to minor units, never through floats.

use std::fmt;

use crate::Money;

/// Number of minor-unit digits of an ISO 4217 currency (2 unless listed as an exception).
pub fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// Why a decimal amount could not be turned into money.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MoneyError {
    /// The currency is not three upper-case ASCII letters.
    InvalidCurrency(String),
    /// The amount is not a plain decimal number such as `-12.30`.
    InvalidAmount(String),
    /// The amount has more non-zero fraction digits than the currency allows.
    TooPrecise(String),
    /// The amount does not fit in 64 bits of minor units.
    Overflow(String),
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::InvalidCurrency(c) => write!(f, "invalid ISO 4217 currency code {c:?}"),
            MoneyError::InvalidAmount(a) => write!(f, "invalid decimal amount {a:?}"),
            MoneyError::TooPrecise(a) => {
                write!(f, "amount {a:?} is more precise than its currency allows")
            }
            MoneyError::Overflow(a) => write!(f, "amount {a:?} is too large"),
        }
    }
}

impl std::error::Error for MoneyError {}

impl Money {
    /// Money from minor units and a currency code.
    pub fn new(amount: i64, currency: impl Into<String>) -> Money {
        Money {
            amount,
            currency: currency.into(),
        }
    }

    /// Parses a decimal string such as `"19.99"` exactly into minor units of `currency`.
    ///
    /// Accepts an optional sign, digits, and an optional fraction; extra fraction
    /// digits are accepted only when they are zeros (`"100.00"` JPY is 100).
    pub fn from_decimal(amount: &str, currency: &str) -> Result<Money, MoneyError> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(MoneyError::InvalidCurrency(currency.to_owned()));
        }
        let invalid = || MoneyError::InvalidAmount(amount.to_owned());
        let (negative, digits) = match amount.as_bytes().first() {
            Some(b'-') => (true, &amount[1..]),
            Some(b'+') => (false, &amount[1..]),
            _ => (false, amount),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(invalid());
        }
        let exponent = currency_exponent(currency) as usize;
        let (kept, dropped) = fraction.split_at(fraction.len().min(exponent));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(MoneyError::TooPrecise(amount.to_owned()));
        }
        let overflow = || MoneyError::Overflow(amount.to_owned());
        let mut minor: i64 = 0;
        let padding = exponent - kept.len();
        for b in whole
            .bytes()
            .chain(kept.bytes())
            .chain(std::iter::repeat_n(b'0', padding))
        {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        if negative {
            minor = minor.checked_neg().ok_or_else(overflow)?;
        }
        Ok(Money {
            amount: minor,
            currency: currency.to_owned(),
        })
    }
}

impl fmt::Display for Money {
    /// Formats as a decimal with the currency's exponent, e.g. `19.99 EUR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = currency_exponent(&self.currency);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(exponent);
        let width = exponent as usize;
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Money::from_decimal("19.99", "EUR").unwrap().amount, 1999);
        assert_eq!(Money::from_decimal("0.1", "EUR").unwrap().amount, 10);
        assert_eq!(Money::from_decimal("-3", "USD").unwrap().amount, -300);
        assert_eq!(Money::from_decimal("1000.00", "JPY").unwrap().amount, 1000);
        assert_eq!(Money::from_decimal("1.234", "KWD").unwrap().amount, 1234);
        // 0.29 * 100 is 28.999999999999996 in floating point.
        assert_eq!(Money::from_decimal("0.29", "USD").unwrap().amount, 29);
        assert_eq!(
            Money::from_decimal("92233720368547758.07", "USD")
                .unwrap()
                .amount,
            i64::MAX
        );
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for bad in [
            "", "-", "1.", ".5", "1e3", "1,00", " 1", "0x10", "1.2.3", "--1", "NaN",
        ] {
            assert!(
                matches!(
                    Money::from_decimal(bad, "EUR"),
                    Err(MoneyError::InvalidAmount(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Money::from_decimal("1.001", "EUR"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Money::from_decimal("1.5", "JPY"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Money::from_decimal("92233720368547758.08", "USD"),
            Err(MoneyError::Overflow(_))
        ));
        assert!(matches!(
            Money::from_decimal("1", "eur"),
            Err(MoneyError::InvalidCurrency(_))
        ));
    }

    #[test]
    fn displays_with_the_currency_exponent() {
        assert_eq!(Money::new(-1999, "EUR").to_string(), "-19.99 EUR");
        assert_eq!(Money::new(5, "EUR").to_string(), "0.05 EUR");
        assert_eq!(Money::new(1000, "JPY").to_string(), "1000 JPY");
        assert_eq!(
            Money::new(i64::MIN, "USD").to_string(),
            "-92233720368547758.08 USD"
        );
    }
}

//! Small output helpers: JSON Lines records and readable numbers.

use std::io::Write;

use serde::Serialize;

/// Writes `value` as one JSON object on its own line, with `"type": kind` as its first key.
pub(super) fn record(
    out: &mut impl Write,
    kind: &str,
    value: &impl Serialize,
) -> anyhow::Result<()> {
    let body = serde_json::to_string(value)?;
    match body.strip_prefix('{') {
        Some("}") => writeln!(out, "{{\"type\":\"{kind}\"}}")?,
        Some(rest) => writeln!(out, "{{\"type\":\"{kind}\",{rest}")?,
        None => anyhow::bail!("cannot export a {kind} that is not a JSON object"),
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n thing` or `n things`.
pub(super) fn count(n: u64, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n),
        if n == 1 { singular } else { plural }
    )
}

/// A byte count for people: `812 B`, `1.4 MiB`.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(99_998), "99,998");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn records_start_with_their_type() {
        let mut out = Vec::new();
        record(&mut out, "x", &serde_json::json!({"a": 1})).ok();
        record(&mut out, "y", &serde_json::json!({})).ok();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"type\":\"x\",\"a\":1}\n{\"type\":\"y\"}\n"
        );
    }
}

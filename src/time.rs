//! Time parsing and formatting shared by the CLI and the classifier: CloudTrail
//! `eventTime` values (RFC 3339, and the space-separated forms some exporters
//! write), window bounds, and durations such as `24h`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use crate::model::Micros;

/// Parses a timestamp as CloudTrail or a user writes it. Accepts RFC 3339
/// (`2026-05-26T06:00:00Z`, offsets, fractions), the same without seconds
/// (`2026-05-26T06:00Z`), zone-less forms read as UTC
/// (`2022-12-12 21:46:17.000000000`), and a bare date (midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    const ZONED: &[&str] = &["%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M:%S%.f%#z"];
    for fmt in ZONED {
        if let Ok(t) = DateTime::parse_from_str(text, fmt) {
            return Some(t.with_timezone(&Utc).timestamp_micros());
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    const NAIVE: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    for fmt in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_micros()
    })
}

/// Parses a span such as `90s`, `30m`, `24h`, `7d` or `2w` into microseconds.
pub fn parse_span(text: &str) -> Option<Micros> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(seconds)?.checked_mul(1_000_000)
}

/// Formats microseconds as RFC 3339 UTC with seconds (`2026-05-26T06:00:00Z`).
pub fn format_micros(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{t}us"))
}

/// The UTC calendar date of a timestamp, as `YYYY-MM-DD`.
pub fn date_of(t: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(t)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "invalid".to_string())
}

pub const MICROS_PER_SECOND: Micros = 1_000_000;
pub const MICROS_PER_MINUTE: Micros = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: Micros = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: Micros = 24 * MICROS_PER_HOUR;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_form_seen() {
        let t = 1_779_775_200_000_000; // 2026-05-26T06:00:00Z
        for text in [
            "2026-05-26T06:00:00Z",
            "2026-05-26T06:00Z",
            "2026-05-26T08:00:00+02:00",
            "2026-05-26 06:00:00.000000000",
            "2026-05-26 06:00:00",
            "2026-05-26T06:00:00.000Z",
            "2026-05-26T06:00",
        ] {
            assert_eq!(parse_timestamp(text), Some(t), "{text}");
        }
        assert_eq!(parse_timestamp("2026-05-26"), Some(t - 6 * MICROS_PER_HOUR));
        for bad in ["redacted", "", "2026-13-01T00:00:00Z", "yesterday"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(format_micros(t), "2026-05-26T06:00:00Z");
        assert_eq!(date_of(t), "2026-05-26");
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("24h"), Some(24 * MICROS_PER_HOUR));
        assert_eq!(parse_span("7d"), Some(7 * 24 * MICROS_PER_HOUR));
        assert_eq!(parse_span("30m"), Some(30 * MICROS_PER_MINUTE));
        for bad in ["24", "h", "1.5h", "-3h", "3y", ""] {
            assert_eq!(parse_span(bad), None, "{bad}");
        }
    }
}

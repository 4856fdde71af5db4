//! Timestamps as Step Functions reads them: RFC 3339 with an upper-case `T` and an offset.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

/// Parses an RFC 3339 timestamp (`2016-03-14T01:59:00Z`, fractional seconds and offsets allowed).
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Formats a time the way AWS prints history timestamps and `EnteredTime`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc3339_only() {
        assert!(parse_timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(parse_timestamp("2016-03-14T01:59:00.123+02:00").is_some());
        for bad in [
            "2016-12-05 21:29:29Z",
            "2016-12-05T21:29:29",
            "2016-13-05T21:29:29Z",
            "2016-12-05T25:29:29Z",
            "05-12-2016T21:29:29Z",
            "{% '2016' %}",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
    }
}

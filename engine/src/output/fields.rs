//! What the ECS and OCSF writers read besides the rules: context values, the primary detection,
//! and a few fields of the matching record.
//!
//! The findings carry the context (who, from where) but not the event's own name, source, id or
//! time, which both formats need. Those are read from a second parse of the record: writers run
//! only for matches, so the fast path (records that match nothing are never parsed) is kept. The
//! paths of a raw CloudTrail record come first, an ECS document's second.

use crate::findings::Detection;
use crate::json::Json;
use crate::rule::{RuleMeta, Severity};

/// The event's own fields, each the first of its paths holding a non-empty string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventFields {
    /// `eventTime` (RFC 3339), or an ECS document's `@timestamp`.
    pub time: Option<String>,
    /// `eventName`, or `event.action`.
    pub name: Option<String>,
    /// `eventSource`, or `event.provider`.
    pub source: Option<String>,
    /// `eventID`, or `event.id`.
    pub id: Option<String>,
}

impl EventFields {
    /// Reads the fields of `record` (none when it does not parse, which a match rules out).
    pub fn read(record: &[u8]) -> Self {
        let Ok(root) = Json::parse(record) else {
            return Self::default();
        };
        let first = |paths: &[&[&str]]| {
            paths
                .iter()
                .filter_map(|path| root.lookup(path.iter().copied()))
                .filter_map(Json::as_str)
                .find(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Self {
            time: first(&[&["eventTime"], &["@timestamp"]]),
            name: first(&[&["eventName"], &["event", "action"]]),
            source: first(&[&["eventSource"], &["event", "provider"]]),
            id: first(&[&["eventID"], &["event", "id"]]),
        }
    }
}

/// A context value that is a JSON string, decoded.
pub(crate) fn context_string(detection: &Detection<'_>, name: &str) -> Option<String> {
    detection
        .findings()
        .context()
        .find(|(n, _)| *n == name)
        .and_then(|(_, value)| serde_json::from_slice::<String>(value).ok())
}

/// The detection a single-valued field describes: the highest severity, then the highest risk
/// score, the first in rule order among equals.
pub(crate) fn primary<'a>(detection: &Detection<'a>) -> Option<&'a RuleMeta> {
    detection.rules().reduce(|best, rule| {
        match (rule.severity, rule.risk_score) > (best.severity, best.risk_score) {
            true => rule,
            false => best,
        }
    })
}

/// The highest severity and risk score among the detections.
pub(crate) fn highest(detection: &Detection<'_>) -> (Severity, u8) {
    let severity = detection
        .rules()
        .map(|r| r.severity)
        .max()
        .unwrap_or(Severity::Informational);
    let risk = detection.rules().map(|r| r.risk_score).max().unwrap_or(0);
    (severity, risk)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`2024-05-01T12:34:56.789Z`, or with
/// an offset such as `+02:00`); `None` when it is not one.
pub(crate) fn epoch_millis(time: &str) -> Option<i64> {
    let b = time.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if !separators.iter().all(|&(i, c)| b.get(i) == Some(&c))
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let (millis, rest) = fraction_millis(&b[19..]);
    let offset = utc_offset_seconds(rest)?;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((seconds - offset) * 1_000 + millis)
}

/// The milliseconds of a `.fff…` fraction at the start of `rest`, and what follows it.
fn fraction_millis(rest: &[u8]) -> (i64, &[u8]) {
    if rest.first() != Some(&b'.') {
        return (0, rest);
    }
    let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    let millis = rest[1..=digits]
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
    (millis, &rest[1 + digits..])
}

/// The offset from UTC in seconds of `Z` or `±HH:MM`.
fn utc_offset_seconds(rest: &[u8]) -> Option<i64> {
    match rest {
        b"Z" | b"z" => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |d: &u8| d.is_ascii_digit().then(|| i64::from(d - b'0'));
            let minutes = (digit(h1)? * 10 + digit(h2)?) * 60 + digit(m1)? * 10 + digit(m2)?;
            Some(if *sign == b'-' {
                -minutes * 60
            } else {
                minutes * 60
            })
        }
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Whether `address` is an IPv4 or IPv6 address (CloudTrail's `sourceIPAddress` also holds
/// service names such as `cloudformation.amazonaws.com`).
pub(crate) fn is_ip(address: &str) -> bool {
    address.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_become_epoch_milliseconds() {
        assert_eq!(epoch_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            epoch_millis("2024-05-01T12:34:56Z"),
            Some(1_714_566_896_000)
        );
        assert_eq!(
            epoch_millis("2024-05-01T12:34:56.7Z"),
            Some(1_714_566_896_700)
        );
        assert_eq!(
            epoch_millis("2024-05-01T12:34:56.789123Z"),
            Some(1_714_566_896_789)
        );
        assert_eq!(
            epoch_millis("2024-05-01T14:34:56+02:00"),
            Some(1_714_566_896_000)
        );
        assert_eq!(epoch_millis("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T00:00:00",
            "x024-05-01T00:00:00Z",
        ] {
            assert_eq!(epoch_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_fields_come_from_cloudtrail_or_ecs_paths() {
        let raw = EventFields::read(
            br#"{"eventTime":"t","eventName":"N","eventSource":"s","eventID":"i"}"#,
        );
        assert_eq!(raw.name.as_deref(), Some("N"));
        let ecs = EventFields::read(
            br#"{"@timestamp":"t","event":{"action":"N","provider":"s","id":""}}"#,
        );
        assert_eq!(
            (ecs.time.as_deref(), ecs.name.as_deref(), ecs.id),
            (Some("t"), Some("N"), None)
        );
    }
}

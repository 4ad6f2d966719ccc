//! Time as kbind keeps it: milliseconds since the Unix epoch, written and
//! read as RFC 3339.

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z).
const MAX_RFC3339_MS: i64 = 253_402_300_799_999;

/// The wall clock in milliseconds since the epoch (0 before it).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// RFC 3339 (seconds) of a millisecond timestamp, clamped to the years
/// RFC 3339 can write: a policy may ask for a delay of `u64::MAX` ms, and
/// that must read as "never", not abort the reconcile.
pub fn rfc3339(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_RFC3339_MS) as u64;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `now` plus a delay a policy asked for, saturating instead of wrapping
/// (`u64::MAX as i64` is -1, which would mean "at once").
pub fn after_delay(now: i64, delay_ms: u64) -> i64 {
    now.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX))
}

/// Parses an RFC 3339 timestamp (`2026-01-01T00:00:00Z`) into milliseconds
/// since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| {
        format!("invalid time {text:?} (expected RFC 3339, e.g. 2026-01-01T00:00:00Z): {e}")
    })?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("time {text:?} is before 1970"))?
        .as_millis();
    i64::try_from(ms).map_err(|_| format!("time {text:?} is out of range"))
}

/// An RFC 3339 timestamp (`2026-01-01T00:00:00Z`) or milliseconds since the
/// Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time(pub i64);

impl<'de> serde::Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(i64),
            Text(String),
        }
        match <Raw as serde::Deserialize>::deserialize(d)? {
            Raw::Millis(ms) => Ok(Time(ms)),
            Raw::Text(text) => parse_time(&text)
                .map(Time)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Written as RFC 3339, which every reader of it takes.
impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

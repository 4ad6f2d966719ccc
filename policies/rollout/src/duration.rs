//! `soak` and other waits, written as Kubernetes writes durations (Go's
//! `time.ParseDuration`: `10m`, `1h30m`, `1.5h`, `90s`, `0`), in
//! milliseconds, kbind's unit of time. Units below a millisecond are
//! refused rather than rounded away.

use alloc::format;

use crate::SettingsError;

const UNITS: [(&str, u64); 4] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// Milliseconds of `text`, for `field`.
pub fn parse_millis(field: &str, text: &str) -> Result<u64, SettingsError> {
    let refuse =
        |why: &str| SettingsError::new(field, format!("{text:?} is not a duration: {why}"));
    let mut rest = text.trim();
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(refuse("it is empty"));
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| refuse("a number needs a unit (ms, s, m or h)"))?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| refuse("units are ms, s, m and h"))?;
        total = total
            .checked_add(scaled(number, scale).ok_or_else(|| refuse("a bad or too large number"))?)
            .ok_or_else(|| refuse("it is too long"))?;
        rest = tail;
    }
    Ok(total)
}

/// `number` (digits, at most one `.`) times `scale`, truncated to whole
/// milliseconds.
fn scaled(number: &str, scale: u64) -> Option<u64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut millis = whole.checked_mul(scale)?;
    let mut place = scale;
    for digit in fraction.bytes() {
        place /= 10;
        millis = millis.checked_add(u64::from(digit - b'0') * place)?;
    }
    Some(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_durations_are_read() {
        for (text, ms) in [
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("90s", 90_000),
            ("250ms", 250),
            ("0", 0),
            ("0s", 0),
            (".5s", 500),
            ("2h0m5s", 7_205_000),
        ] {
            assert_eq!(parse_millis("soak", text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn a_bad_duration_names_its_field() {
        for bad in [
            "",
            "10",
            "10x",
            "5us",
            "m",
            "1..5h",
            "1.2.3s",
            "-5m",
            "99999999999999999999h",
        ] {
            let e = parse_millis("soak", bad).unwrap_err();
            assert_eq!(e.field, "soak", "{bad:?}");
            assert!(
                e.message.starts_with(&format!("{bad:?} is not a duration")),
                "{e}"
            );
        }
    }
}

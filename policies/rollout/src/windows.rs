//! Time windows new upgrades may start in: days of the week and a start and
//! end time of day, in a named IANA time zone (compiled in; a policy reads
//! no files). Running upgrades are not stopped when a window closes.
//!
//! Local times follow the zone's daylight-saving rules: a window opening at
//! a time a spring-forward skips opens when the clocks resume; one opening
//! at a time an autumn fall-back repeats opens at its first occurrence.

use alloc::format;
use alloc::string::String;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;

use crate::SettingsError;

/// One window, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Days it opens on, Monday first.
    days: [bool; 7],
    /// Minutes after local midnight.
    start: u32,
    end: u32,
    zone: Tz,
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Window {
    /// A window from its settings fields; `field` is where it is
    /// (`windows[0]`), for the error.
    pub fn new(
        field: &str,
        days: &[String],
        start: &str,
        end: &str,
        time_zone: &str,
    ) -> Result<Self, SettingsError> {
        let mut open = [false; 7];
        if days.is_empty() {
            return Err(SettingsError::new(
                format!("{field}.days"),
                "names no day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)",
            ));
        }
        for (i, day) in days.iter().enumerate() {
            let Some(n) = DAYS.iter().position(|d| d.eq_ignore_ascii_case(day)) else {
                return Err(SettingsError::new(
                    format!("{field}.days[{i}]"),
                    format!("{day:?} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
                ));
            };
            open[n] = true;
        }
        let start_min = minutes(&format!("{field}.start"), start)?;
        let end_min = minutes(&format!("{field}.end"), end)?;
        if end_min <= start_min {
            return Err(SettingsError::new(
                format!("{field}.end"),
                format!(
                    "{end:?} is not after start {start:?}; a window that crosses midnight is two windows"
                ),
            ));
        }
        let zone: Tz = time_zone.parse().map_err(|_| {
            SettingsError::new(
                format!("{field}.timeZone"),
                format!("{time_zone:?} is not an IANA time zone (e.g. Europe/London, UTC)"),
            )
        })?;
        Ok(Self {
            days: open,
            start: start_min,
            end: end_min,
            zone,
        })
    }

    /// The start and end (ms since the epoch) of this window's opening on
    /// the local `date`, if it opens that day.
    fn on(&self, date: NaiveDate) -> Option<(i64, i64)> {
        if !self.days[date.weekday().num_days_from_monday() as usize] {
            return None;
        }
        Some((
            local_ms(&self.zone, date, self.start)?,
            local_ms(&self.zone, date, self.end)?,
        ))
    }
}

/// `HH:MM` (24-hour) as minutes after midnight; `24:00` is the day's end.
fn minutes(field: &str, text: &str) -> Result<u32, SettingsError> {
    let bad = || {
        SettingsError::new(
            field,
            format!("{text:?} is not a time of day as HH:MM (00:00 to 24:00)"),
        )
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// The instant of `minutes` after local midnight on `date` in `zone`.
fn local_ms(zone: &Tz, date: NaiveDate, minutes: u32) -> Option<i64> {
    let midnight = date.and_time(NaiveTime::MIN);
    let mut local = midnight + Duration::minutes(i64::from(minutes));
    // A local time the clocks skip: the first minute after the gap.
    for _ in 0..=180 {
        match zone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return Some(t.timestamp_millis());
            }
            LocalResult::None => local += Duration::minutes(1),
        }
    }
    None
}

/// When new upgrades may start, given the windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// Inside a window (or none configured): start now.
    Open,
    /// Closed; the next window opens at this instant (ms since the epoch).
    OpensAt(i64),
    /// Closed, and no window opens within a fortnight (cannot happen with a
    /// checked window; kept so a malformed one never loops).
    Never,
}

/// Whether `now` is inside one of `windows`, or when the next one opens.
pub fn opening(windows: &[Window], now: i64) -> Opening {
    if windows.is_empty() {
        return Opening::Open;
    }
    let Some(utc): Option<DateTime<Utc>> = Utc.timestamp_millis_opt(now).single() else {
        return Opening::Never;
    };
    let mut next: Option<i64> = None;
    for w in windows {
        let today = utc.with_timezone(&w.zone).date_naive();
        // From yesterday (a window that opened before local midnight's UTC
        // instant) through a week ahead.
        for offset in -1..=8 {
            let Some(date) = today.checked_add_signed(Duration::days(offset)) else {
                continue;
            };
            let Some((start, end)) = w.on(date) else {
                continue;
            };
            if start <= now && now < end {
                return Opening::Open;
            }
            if start > now {
                next = Some(next.map_or(start, |n| n.min(start)));
                break;
            }
        }
    }
    next.map_or(Opening::Never, Opening::OpensAt)
}

/// A readable instant in the first window's zone, for reasons:
/// `Mon 2026-01-05 09:00 Europe/London`.
pub fn describe(windows: &[Window], at: i64) -> String {
    let Some(w) = windows.first() else {
        return format!("{at}");
    };
    match Utc.timestamp_millis_opt(at).single() {
        Some(t) => {
            let local = t.with_timezone(&w.zone);
            format!(
                "{} {:04}-{:02}-{:02} {:02}:{:02} {}",
                weekday(local.weekday()),
                local.year(),
                local.month(),
                local.day(),
                local.hour(),
                local.minute(),
                w.zone.name()
            )
        }
        None => format!("{at}"),
    }
}

fn weekday(day: Weekday) -> &'static str {
    DAYS[day.num_days_from_monday() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    fn days(list: &[&str]) -> Vec<String> {
        list.iter().map(|d| d.to_string()).collect()
    }

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn london_office() -> Window {
        Window::new(
            "windows[0]",
            &days(&["Mon", "Tue", "Wed", "Thu"]),
            "09:00",
            "16:00",
            "Europe/London",
        )
        .unwrap()
    }

    #[test]
    fn inside_a_window_is_open_and_outside_names_the_next_opening() {
        let w = vec![london_office()];
        // Tuesday 2026-01-06 10:00 GMT: open.
        assert_eq!(opening(&w, ms("2026-01-06T10:00:00Z")), Opening::Open);
        // The end is exclusive.
        assert_eq!(
            opening(&w, ms("2026-01-06T16:00:00Z")),
            Opening::OpensAt(ms("2026-01-07T09:00:00Z"))
        );
        // Thursday evening: next is Monday 09:00.
        assert_eq!(
            opening(&w, ms("2026-01-08T17:00:00Z")),
            Opening::OpensAt(ms("2026-01-12T09:00:00Z"))
        );
    }

    #[test]
    fn summer_time_moves_the_window_in_utc() {
        let w = vec![london_office()];
        // Tuesday 2026-07-07: 09:00 BST is 08:00 UTC.
        assert_eq!(opening(&w, ms("2026-07-07T08:30:00Z")), Opening::Open);
        assert_eq!(
            opening(&w, ms("2026-07-07T07:30:00Z")),
            Opening::OpensAt(ms("2026-07-07T08:00:00Z"))
        );
        assert_eq!(
            describe(&w, ms("2026-07-07T08:00:00Z")),
            "Tue 2026-07-07 09:00 Europe/London"
        );
    }

    #[test]
    fn a_start_the_clocks_skip_opens_when_they_resume() {
        // Europe/London skips 01:00–02:00 on Sunday 2026-03-29.
        let w = vec![Window::new("w", &days(&["Sun"]), "01:30", "03:00", "Europe/London").unwrap()];
        assert_eq!(
            opening(&w, ms("2026-03-28T12:00:00Z")),
            // 02:00 BST = 01:00 UTC.
            Opening::OpensAt(ms("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn a_window_east_of_utc_opens_before_utc_midnight() {
        // Monday 00:00–06:00 in Tokyo is Sunday 15:00–21:00 UTC.
        let w = vec![Window::new("w", &days(&["Mon"]), "00:00", "06:00", "Asia/Tokyo").unwrap()];
        assert_eq!(opening(&w, ms("2026-01-04T16:00:00Z")), Opening::Open);
        assert_eq!(
            opening(&w, ms("2026-01-04T21:00:00Z")),
            Opening::OpensAt(ms("2026-01-11T15:00:00Z"))
        );
    }

    #[test]
    fn bad_windows_are_refused_by_field() {
        let bad = |d: &[&str], s: &str, e: &str, z: &str| {
            Window::new("windows[1]", &days(d), s, e, z)
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad(&["Mon"], "09:00", "16:00", "Mars/Olympus")
                .starts_with("settings.windows[1].timeZone: \"Mars/Olympus\"")
        );
        assert!(
            bad(&["Mon", "Funday"], "09:00", "16:00", "UTC")
                .starts_with("settings.windows[1].days[1]:")
        );
        assert!(bad(&[], "09:00", "16:00", "UTC").starts_with("settings.windows[1].days:"));
        assert!(bad(&["Mon"], "9:00", "16:00", "UTC").starts_with("settings.windows[1].start:"));
        assert!(bad(&["Mon"], "09:00", "24:30", "UTC").starts_with("settings.windows[1].end:"));
        assert!(bad(&["Mon"], "22:00", "02:00", "UTC").contains("crosses midnight"));
        // 24:00 is the end of the day, and day names are case-blind.
        assert!(Window::new("w", &days(&["sat"]), "18:00", "24:00", "UTC").is_ok());
    }
}

//! `maxInFlight` and `maxFailures`: a count (`25`) or a share of the
//! promise's bindings (`"5%"`).

use alloc::format;

use crate::SettingsError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    Count(u32),
    /// Hundredths of a percent are not offered: `"2.5%"` is refused.
    Percent(u32),
}

impl Budget {
    /// Reads `text` (what the settings hold) for `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, SettingsError> {
        let text = text.trim();
        let refuse = || {
            SettingsError::new(
                field,
                format!("{text:?} is neither a whole number nor a whole percent (\"5%\")"),
            )
        };
        match text.strip_suffix('%') {
            Some(percent) => {
                let p: u32 = percent.trim().parse().map_err(|_| refuse())?;
                if p > 100 {
                    return Err(SettingsError::new(field, format!("{text:?} is over 100%")));
                }
                Ok(Budget::Percent(p))
            }
            None => text.parse().map(Budget::Count).map_err(|_| refuse()),
        }
    }

    /// The budget for a promise with `total` bindings. A percent rounds
    /// up, so any share above 0% of a non-empty promise allows at least
    /// one (as Kubernetes rounds `maxSurge`): a 5% in-flight budget of 10
    /// bindings still lets a rollout move.
    pub fn of(self, total: u32) -> u32 {
        match self {
            Budget::Count(n) => n,
            Budget::Percent(p) => {
                let share = u64::from(total) * u64::from(p);
                share.div_ceil(100) as u32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percents_are_read() {
        assert_eq!(Budget::parse("maxInFlight", "25"), Ok(Budget::Count(25)));
        assert_eq!(Budget::parse("maxInFlight", " 5% "), Ok(Budget::Percent(5)));
        assert_eq!(Budget::parse("maxFailures", "0"), Ok(Budget::Count(0)));
    }

    #[test]
    fn a_bad_budget_names_its_field() {
        for bad in ["", "-1", "2.5%", "five", "%", "101%"] {
            let e = Budget::parse("maxFailures", bad).unwrap_err();
            assert_eq!(e.field, "maxFailures", "{bad:?}");
            assert!(e.to_string().starts_with("settings.maxFailures: "), "{e}");
        }
    }

    #[test]
    fn a_percent_rounds_up_and_zero_stays_zero() {
        assert_eq!(Budget::Percent(5).of(10), 1);
        assert_eq!(Budget::Percent(5).of(100), 5);
        assert_eq!(Budget::Percent(5).of(101), 6);
        assert_eq!(Budget::Percent(0).of(10_000), 0);
        assert_eq!(Budget::Percent(100).of(7), 7);
        assert_eq!(Budget::Percent(50).of(0), 0);
        assert_eq!(
            Budget::Count(25).of(3),
            25,
            "a count is not capped by the total"
        );
        assert_eq!(Budget::Percent(100).of(u32::MAX), u32::MAX, "no overflow");
    }
}

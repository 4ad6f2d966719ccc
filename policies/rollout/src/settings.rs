//! The policy's settings, read and checked as a whole. Every refusal names
//! the field it is about (`settings.waves[1].percent: …`): that is what
//! `validate-settings` answers, so a platform team's bad config is refused
//! when the operator loads it, not at the first rollout.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use kbind_policy_sdk::{Setting, SettingValue, UpgradeRange};
use serde::Deserialize;

use crate::SettingsError;
use crate::budget::Budget;
use crate::duration::parse_millis;
use crate::waves::{Operator, Requirement, Selector, Wave, Waves};
use crate::windows::Window;

pub const RANGE: &str = "range";
pub const WAVES: &str = "waves";
pub const SOAK: &str = "soak";
pub const MAX_IN_FLIGHT: &str = "maxInFlight";
pub const MAX_FAILURES: &str = "maxFailures";
pub const WINDOWS: &str = "windows";
pub const KNOWN: [&str; 6] = [RANGE, WAVES, SOAK, MAX_IN_FLIGHT, MAX_FAILURES, WINDOWS];

pub const DEFAULT_MAX_IN_FLIGHT: &str = "10%";
pub const DEFAULT_MAX_FAILURES: &str = "1";

/// Everything the settings say, checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub range: UpgradeRange,
    /// `range: major` lets upgrades cross a major version.
    pub cross_major: bool,
    pub waves: Waves,
    pub soak_ms: u64,
    pub max_in_flight: Budget,
    pub max_failures: Budget,
    pub windows: Vec<Window>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaveDoc {
    name: String,
    selector: Option<SelectorDoc>,
    percent: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SelectorDoc {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<ExpressionDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpressionDoc {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WindowDoc {
    days: Vec<String>,
    start: String,
    end: String,
    time_zone: String,
}

/// A scalar setting's text; a list or map where a scalar belongs is refused.
fn scalar<'a>(name: &str, value: &'a SettingValue) -> Result<&'a str, SettingsError> {
    match value {
        SettingValue::Text(text) => Ok(text),
        SettingValue::Json(_) => Err(SettingsError::new(
            name,
            "is a list or a map; it takes a single value",
        )),
    }
}

/// A list setting's JSON, read as `T`s; serde's message says what is wrong.
fn list<T: for<'de> Deserialize<'de>>(
    name: &str,
    value: &SettingValue,
) -> Result<Vec<T>, SettingsError> {
    let SettingValue::Json(json) = value else {
        return Err(SettingsError::new(
            name,
            format!("is {:?}; it takes a list", value.as_str()),
        ));
    };
    // Parse item by item, so an error can say which one.
    let items: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|_| SettingsError::new(name, "is a map; it takes a list"))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            T::deserialize(item)
                .map_err(|e| SettingsError::new(format!("{name}[{i}]"), format!("{e}")))
        })
        .collect()
}

impl Config {
    pub fn read(settings: &[Setting]) -> Result<Self, SettingsError> {
        let mut config = Config {
            range: UpgradeRange::Minor,
            cross_major: false,
            waves: Waves::new(vec![Wave {
                name: "all".into(),
                selector: None,
                percent: None,
            }])?,
            soak_ms: 0,
            max_in_flight: Budget::parse(MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT)?,
            max_failures: Budget::parse(MAX_FAILURES, DEFAULT_MAX_FAILURES)?,
            windows: Vec::new(),
        };
        for setting in settings {
            let name = setting.name.as_str();
            let value = &setting.value;
            match name {
                RANGE => {
                    let text = scalar(name, value)?;
                    (config.range, config.cross_major) = match text {
                        "patch" => (UpgradeRange::Patch, false),
                        "minor" => (UpgradeRange::Minor, false),
                        "major" => (UpgradeRange::Minor, true),
                        other => {
                            return Err(SettingsError::new(
                                name,
                                format!("{other:?} is not patch, minor or major"),
                            ));
                        }
                    };
                }
                SOAK => config.soak_ms = parse_millis(name, scalar(name, value)?)?,
                MAX_IN_FLIGHT | MAX_FAILURES => {
                    let budget = Budget::parse(name, scalar(name, value)?)?;
                    if matches!(budget, Budget::Count(0) | Budget::Percent(0)) {
                        return Err(SettingsError::new(
                            name,
                            if name == MAX_IN_FLIGHT {
                                "is 0, which never starts an upgrade; pause with the Promise annotation kbind.io/rollout-paused instead"
                            } else {
                                "is 0; the first failure pauses the rollout with 1"
                            },
                        ));
                    }
                    if name == MAX_IN_FLIGHT {
                        config.max_in_flight = budget;
                    } else {
                        config.max_failures = budget;
                    }
                }
                WAVES => config.waves = waves(list::<WaveDoc>(name, value)?)?,
                WINDOWS => {
                    config.windows = list::<WindowDoc>(name, value)?
                        .iter()
                        .enumerate()
                        .map(|(i, w)| {
                            Window::new(
                                &format!("{WINDOWS}[{i}]"),
                                &w.days,
                                &w.start,
                                &w.end,
                                &w.time_zone,
                            )
                        })
                        .collect::<Result<_, _>>()?;
                }
                other => {
                    return Err(SettingsError::new(
                        other,
                        format!("is not a setting of rollout (it has {})", KNOWN.join(", ")),
                    ));
                }
            }
        }
        Ok(config)
    }
}

fn waves(docs: Vec<WaveDoc>) -> Result<Waves, SettingsError> {
    let mut waves = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        let selector = match doc.selector {
            None => None,
            Some(s) => {
                let mut match_expressions = Vec::with_capacity(s.match_expressions.len());
                for (j, e) in s.match_expressions.into_iter().enumerate() {
                    let field = format!("{WAVES}[{i}].selector.matchExpressions[{j}].operator");
                    match_expressions.push(Requirement {
                        key: e.key,
                        operator: Operator::parse(&field, &e.operator)?,
                        values: e.values,
                    });
                }
                Some(Selector {
                    match_labels: s.match_labels.into_iter().collect(),
                    match_expressions,
                })
            }
        };
        waves.push(Wave {
            name: doc.name,
            selector,
            percent: doc.percent,
        });
    }
    Waves::new(waves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn read(settings: &[Setting]) -> Result<Config, String> {
        Config::read(settings).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issues_example_reads() {
        let c = read(&[
            Setting::text("range", "minor"),
            Setting::json(
                "waves",
                r#"[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},
                    {"name":"early","percent":10},{"name":"rest"}]"#,
            ),
            Setting::text("soak", "10m"),
            Setting::text("maxInFlight", "25"),
            Setting::text("maxFailures", "1"),
            Setting::json(
                "windows",
                r#"[{"days":["Mon","Tue","Wed","Thu"],"start":"09:00","end":"16:00","timeZone":"Europe/London"}]"#,
            ),
        ])
        .unwrap();
        assert_eq!(c.waves.waves().len(), 3);
        assert_eq!(c.soak_ms, 600_000);
        assert_eq!(c.max_in_flight, Budget::Count(25));
        assert_eq!(c.windows.len(), 1);
    }

    #[test]
    fn defaults_are_one_catch_all_wave_ten_percent_in_flight_one_failure() {
        let c = read(&[]).unwrap();
        assert_eq!(c.waves.waves().len(), 1);
        assert_eq!(c.max_in_flight, Budget::Percent(10));
        assert_eq!(c.max_failures, Budget::Count(1));
        assert_eq!(c.soak_ms, 0);
        assert!(c.windows.is_empty());
    }

    #[test]
    fn every_refusal_names_its_field() {
        let refused = |s: Setting| read(&[s]).unwrap_err();
        let cases = [
            (
                Setting::text("maxInFlite", "5"),
                "settings.maxInFlite: is not a setting",
            ),
            (Setting::text("soak", "10 minutes"), "settings.soak:"),
            (
                Setting::text("maxFailures", "2.5%"),
                "settings.maxFailures:",
            ),
            (
                Setting::text("maxInFlight", "0"),
                "settings.maxInFlight: is 0",
            ),
            (Setting::text("range", "huge"), "settings.range: \"huge\""),
            (
                Setting::json("range", "[\"minor\"]"),
                "settings.range: is a list",
            ),
            (
                Setting::text("waves", "canary"),
                "settings.waves: is \"canary\"; it takes a list",
            ),
            (
                Setting::json("waves", r#"[{"name":"rest"},{"name":"late","percent":5}]"#),
                "settings.waves[1]: comes after \"rest\"",
            ),
            (
                Setting::json("waves", r#"[{"name":"a","percent":101}]"#),
                "settings.waves[0].percent: 101 is over 100",
            ),
            (
                Setting::json("waves", r#"[{"name":"a","precent":10}]"#),
                "settings.waves[0]: unknown field `precent`",
            ),
            (
                Setting::json(
                    "waves",
                    r#"[{"name":"a","selector":{"matchExpressions":[{"key":"k","operator":"Is"}]}}]"#,
                ),
                "settings.waves[0].selector.matchExpressions[0].operator:",
            ),
            (
                Setting::json(
                    "windows",
                    r#"[{"days":["Mon"],"start":"09:00","end":"16:00","timeZone":"Europe/Londres"}]"#,
                ),
                "settings.windows[0].timeZone: \"Europe/Londres\" is not an IANA time zone",
            ),
            (
                Setting::json(
                    "windows",
                    r#"[{"days":["Mon"],"start":"09:00","end":"16:00"}]"#,
                ),
                "settings.windows[0]: missing field `timeZone`",
            ),
        ];
        for (setting, expected) in cases {
            let message = refused(setting.clone());
            assert!(
                message.starts_with(expected),
                "{setting:?}: {message:?} should start with {expected:?}"
            );
        }
    }
}

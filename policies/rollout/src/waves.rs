//! The waves of a rollout and which binding belongs to which.
//!
//! A binding belongs to the first wave that selects it. A wave selects by a
//! label selector over its request's labels (Kubernetes' `matchLabels` and
//! `matchExpressions`, with their meaning), by a stable percent of the
//! bindings no earlier wave took, by both (that percent of the ones the
//! selector matches), or by neither: the catch-all, which must be last.
//! Without a catch-all, bindings no wave selects are not rolled out.
//!
//! The percent is a hash of the wave's name and the request's
//! namespace/name, not a count: a binding's wave never changes as other
//! requests come and go, and two percent waves pick independently.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::SettingsError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Operator {
    pub fn parse(field: &str, text: &str) -> Result<Self, SettingsError> {
        Ok(match text {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(SettingsError::new(
                    field,
                    format!("{other:?} is not an operator (In, NotIn, Exists, DoesNotExist)"),
                ));
            }
        })
    }
}

/// One entry of `matchExpressions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// A Kubernetes label selector. The empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub match_labels: Vec<(String, String)>,
    pub match_expressions: Vec<Requirement>,
}

impl Selector {
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let value = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        self.match_labels.iter().all(|(k, v)| value(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let found = value(&r.key);
                match r.operator {
                    Operator::In => found.is_some_and(|v| r.values.contains(v)),
                    // As Kubernetes: a missing label is not in the set.
                    Operator::NotIn => found.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => found.is_some(),
                    Operator::DoesNotExist => found.is_none(),
                }
            })
    }

    /// Kubernetes' rules for an expression's values: `In` and `NotIn`
    /// need some, `Exists` and `DoesNotExist` take none.
    fn check(&self, field: &str) -> Result<(), SettingsError> {
        for (i, r) in self.match_expressions.iter().enumerate() {
            let needs_values = matches!(r.operator, Operator::In | Operator::NotIn);
            if needs_values == r.values.is_empty() {
                return Err(SettingsError::new(
                    format!("{field}.matchExpressions[{i}].values"),
                    if needs_values {
                        format!("{:?} needs at least one value", r.operator)
                    } else {
                        format!("{:?} takes no values", r.operator)
                    },
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    pub selector: Option<Selector>,
    /// 0–100.
    pub percent: Option<u32>,
}

impl Wave {
    fn is_catch_all(&self) -> bool {
        self.selector.is_none() && self.percent.is_none()
    }

    fn selects(&self, member: &Member<'_>) -> bool {
        self.selector
            .as_ref()
            .is_none_or(|s| s.matches(member.labels))
            && self
                .percent
                .is_none_or(|p| bucket(&self.name, member) < p * 100)
    }
}

/// What a wave is chosen by: the request's identity and labels.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a [(String, String)],
}

/// The waves, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waves(Vec<Wave>);

impl Waves {
    pub fn new(waves: Vec<Wave>) -> Result<Self, SettingsError> {
        if waves.is_empty() {
            return Err(SettingsError::new("waves", "needs at least one wave"));
        }
        let mut names = BTreeSet::new();
        let mut catch_all: Option<&str> = None;
        for (i, wave) in waves.iter().enumerate() {
            let field = format!("waves[{i}]");
            if let Some(before) = catch_all {
                return Err(SettingsError::new(
                    field,
                    format!(
                        "comes after {before:?}, which takes every binding left: it would never start"
                    ),
                ));
            }
            if wave.name.is_empty() {
                return Err(SettingsError::new(format!("{field}.name"), "is empty"));
            }
            if !names.insert(wave.name.as_str()) {
                return Err(SettingsError::new(
                    format!("{field}.name"),
                    format!("{:?} names an earlier wave too", wave.name),
                ));
            }
            if let Some(p) = wave.percent.filter(|p| *p > 100) {
                return Err(SettingsError::new(
                    format!("{field}.percent"),
                    format!("{p} is over 100"),
                ));
            }
            if let Some(selector) = &wave.selector {
                selector.check(&format!("{field}.selector"))?;
            }
            if wave.is_catch_all() {
                catch_all = Some(&wave.name);
            }
        }
        Ok(Self(waves))
    }

    pub fn waves(&self) -> &[Wave] {
        &self.0
    }

    /// The index of the wave `member` belongs to; `None` when no wave
    /// selects it.
    pub fn assign(&self, member: &Member<'_>) -> Option<usize> {
        self.0.iter().position(|w| w.selects(member))
    }
}

/// A stable bucket in 0..10,000 of a member for one wave: FNV-1a over the
/// wave's name and the request's namespace/name, the same on every host
/// and in every build.
fn bucket(wave: &str, member: &Member<'_>) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in [
        wave.as_bytes(),
        b"\0",
        member.namespace.as_bytes(),
        b"/",
        member.name.as_bytes(),
    ] {
        for byte in part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    (hash % 10_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn wave(name: &str, selector: Option<Selector>, percent: Option<u32>) -> Wave {
        Wave {
            name: name.into(),
            selector,
            percent,
        }
    }

    fn ring(value: &str) -> Selector {
        Selector {
            match_labels: labels(&[("kbind.io/ring", value)]),
            ..Selector::default()
        }
    }

    /// The example: canary by label, 10% early, the rest.
    fn example() -> Waves {
        Waves::new(vec![
            wave("canary", Some(ring("canary")), None),
            wave("early", None, Some(10)),
            wave("rest", None, None),
        ])
        .unwrap()
    }

    fn member<'a>(name: &'a str, labels: &'a [(String, String)]) -> Member<'a> {
        Member {
            namespace: "default",
            name,
            labels,
        }
    }

    #[test]
    fn a_binding_belongs_to_the_first_wave_that_selects_it() {
        let waves = example();
        let canary = labels(&[("kbind.io/ring", "canary"), ("team", "a")]);
        let plain = labels(&[("team", "a")]);
        let names: Vec<String> = (0..1000).map(|i| format!("r{i}")).collect();
        let picked_by_early = names
            .iter()
            .find(|name| waves.assign(&member(name, &plain)) == Some(1))
            .expect("10% of 1,000 picks some");
        // The percent would pick it, but the canary wave comes first.
        assert_eq!(waves.assign(&member(picked_by_early, &canary)), Some(0));
        let not_early = names
            .iter()
            .find(|name| waves.assign(&member(name, &plain)) != Some(1))
            .expect("90% are left");
        assert_eq!(
            waves.assign(&member(not_early, &plain)),
            Some(2),
            "the rest"
        );
    }

    #[test]
    fn a_percent_wave_takes_about_its_share_and_never_changes_its_mind() {
        let waves = example();
        let none = labels(&[]);
        let names: Vec<String> = (0..10_000).map(|i| format!("r{i:05}")).collect();
        let assigned: Vec<Option<usize>> = names
            .iter()
            .map(|n| {
                waves.assign(&Member {
                    namespace: "default",
                    name: n,
                    labels: &none,
                })
            })
            .collect();
        let early = assigned.iter().filter(|a| **a == Some(1)).count();
        assert!((900..=1100).contains(&early), "10% of 10,000 took {early}");
        assert!(
            assigned.iter().all(|a| a.is_some()),
            "the catch-all takes the rest"
        );
        // The same request lands in the same wave, whoever else exists.
        let again = waves.assign(&Member {
            namespace: "default",
            name: &names[4321],
            labels: &none,
        });
        assert_eq!(again, assigned[4321]);
        // Another namespace is another request.
        let elsewhere = names
            .iter()
            .filter(|n| {
                waves.assign(&Member {
                    namespace: "other",
                    name: n,
                    labels: &none,
                }) == Some(1)
            })
            .count();
        assert!((900..=1100).contains(&elsewhere));
    }

    #[test]
    fn two_percent_waves_pick_independently() {
        let waves = Waves::new(vec![
            wave("first", None, Some(50)),
            wave("second", None, Some(50)),
        ])
        .unwrap();
        let none = labels(&[]);
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            let name = format!("r{i}");
            let member = Member {
                namespace: "ns",
                name: &name,
                labels: &none,
            };
            counts[waves.assign(&member).unwrap_or(2)] += 1;
        }
        // Half, then half of the other half, then the quarter no wave takes.
        assert!((4_800..=5_200).contains(&counts[0]), "{counts:?}");
        assert!((2_300..=2_700).contains(&counts[1]), "{counts:?}");
        assert!((2_300..=2_700).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn selectors_mean_what_they_mean_in_kubernetes() {
        let expr = |key: &str, operator, values: &[&str]| Selector {
            match_expressions: vec![Requirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            ..Selector::default()
        };
        let prod = labels(&[("env", "prod")]);
        let unlabelled = labels(&[]);
        assert!(
            Selector::default().matches(&unlabelled),
            "empty selects all"
        );
        assert!(expr("env", Operator::In, &["prod", "stage"]).matches(&prod));
        assert!(!expr("env", Operator::In, &["stage"]).matches(&prod));
        assert!(!expr("env", Operator::In, &["prod"]).matches(&unlabelled));
        assert!(!expr("env", Operator::NotIn, &["prod"]).matches(&prod));
        assert!(
            expr("env", Operator::NotIn, &["prod"]).matches(&unlabelled),
            "NotIn selects requests without the label"
        );
        assert!(expr("env", Operator::Exists, &[]).matches(&prod));
        assert!(expr("env", Operator::DoesNotExist, &[]).matches(&unlabelled));
        let both = Selector {
            match_labels: labels(&[("team", "a")]),
            ..expr("env", Operator::Exists, &[])
        };
        assert!(
            !both.matches(&prod),
            "matchLabels and expressions must all hold"
        );
    }

    #[test]
    fn bad_waves_are_refused_naming_the_field() {
        let refused = |waves: Vec<Wave>| Waves::new(waves).unwrap_err();
        assert_eq!(refused(vec![]).field, "waves");
        let e = refused(vec![wave("rest", None, None), wave("late", None, Some(5))]);
        assert_eq!(e.field, "waves[1]");
        assert!(e.message.contains("\"rest\""), "{e}");
        assert_eq!(
            refused(vec![wave("a", None, Some(5)), wave("a", None, None)]).field,
            "waves[1].name"
        );
        assert_eq!(refused(vec![wave("", None, None)]).field, "waves[0].name");
        assert_eq!(
            refused(vec![wave("big", None, Some(101))]).field,
            "waves[0].percent"
        );
        let no_values = Selector {
            match_expressions: vec![Requirement {
                key: "env".into(),
                operator: Operator::In,
                values: vec![],
            }],
            ..Selector::default()
        };
        assert_eq!(
            refused(vec![wave("x", Some(no_values), None)]).field,
            "waves[0].selector.matchExpressions[0].values"
        );
        let e = Operator::parse("waves[0].selector.matchExpressions[0].operator", "Equals")
            .unwrap_err();
        assert!(e.to_string().contains("Equals"), "{e}");
        assert_eq!(Operator::parse("f", "NotIn"), Ok(Operator::NotIn));
    }
}

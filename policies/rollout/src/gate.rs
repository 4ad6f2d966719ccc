//! Which bindings a rollout starts now, from where each binding of the
//! target version stands: one wave at a time, a soak between waves, at
//! most `maxInFlight` moving at once, and a pause once `maxFailures`
//! upgrades to the target failed or the Promise says so.
//!
//! A wave starts only when every binding of the waves before it is at the
//! target or has failed there, and the last success before it is `soak`
//! old (the latest success of any earlier wave, so an empty wave adds no
//! wait). Once a wave has started, its soak is behind it. Approval after
//! a pause and time windows are not modelled here yet.

use alloc::vec::Vec;

/// Where a binding stands with the rollout's target version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Below the target and not moving.
    Waiting,
    /// Its upgrade to the target runs.
    Moving,
    /// At the target; that upgrade succeeded at `at` (ms since the epoch).
    Arrived { at: u64 },
    /// Its upgrade to the target failed (it is rolled back, or rolling
    /// back, to its last applied version).
    Failed,
}

/// The rollout's settings, resolved against the promise's bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_in_flight: u32,
    /// Failures at which the rollout pauses (at least 1).
    pub max_failures: u32,
    pub soak_ms: u64,
}

/// Why nothing (more) starts now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// The wave waits until `until` for the last success before it.
    Soak { wave: usize, until: u64 },
    /// `maxInFlight` upgrades run.
    InFlight,
    /// `failed` upgrades to the target failed: paused until approved.
    Failures { failed: u32 },
    /// Paused by hand (`kbind.io/rollout-paused: "true"`).
    Paused,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Indices into the members of the bindings to upgrade now.
    pub start: Vec<usize>,
    /// The wave in progress; `None` once every wave is through.
    pub wave: Option<usize>,
    pub hold: Option<Hold>,
}

/// One step of the rollout. `members` are the bindings the waves selected,
/// each with its wave's index, in the order they should start.
pub fn step(now: u64, members: &[(usize, Progress)], limits: &Limits, paused: bool) -> Step {
    let failed = members
        .iter()
        .filter(|(_, p)| *p == Progress::Failed)
        .count() as u32;
    let Some(wave) = members
        .iter()
        .filter(|(_, p)| matches!(p, Progress::Waiting | Progress::Moving))
        .map(|(w, _)| *w)
        .min()
    else {
        return Step::default();
    };
    let held = |hold| Step {
        start: Vec::new(),
        wave: Some(wave),
        hold: Some(hold),
    };
    if failed >= limits.max_failures.max(1) {
        return held(Hold::Failures { failed });
    }
    if paused {
        return held(Hold::Paused);
    }
    let of_wave = || {
        members
            .iter()
            .enumerate()
            .filter(move |(_, (w, _))| *w == wave)
    };
    let started = of_wave().any(|(_, (_, p))| *p != Progress::Waiting);
    if !started {
        let last_success = members
            .iter()
            .filter(|(w, _)| *w < wave)
            .filter_map(|(_, p)| match p {
                Progress::Arrived { at } => Some(*at),
                _ => None,
            })
            .max();
        if let Some(until) = last_success.map(|at| at.saturating_add(limits.soak_ms))
            && now < until
        {
            return held(Hold::Soak { wave, until });
        }
    }
    let moving = members
        .iter()
        .filter(|(_, p)| *p == Progress::Moving)
        .count() as u32;
    let room = limits.max_in_flight.saturating_sub(moving) as usize;
    let waiting: Vec<usize> = of_wave()
        .filter(|(_, (_, p))| *p == Progress::Waiting)
        .map(|(i, _)| i)
        .collect();
    let hold = (waiting.len() > room).then_some(Hold::InFlight);
    Step {
        start: waiting.into_iter().take(room).collect(),
        wave: Some(wave),
        hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Progress::*;
    use alloc::vec;

    const MIN: u64 = 60_000;

    fn limits() -> Limits {
        Limits {
            max_in_flight: 2,
            max_failures: 1,
            soak_ms: 10 * MIN,
        }
    }

    #[test]
    fn the_first_wave_starts_up_to_the_in_flight_budget() {
        let members = [(0, Waiting), (0, Waiting), (0, Waiting), (1, Waiting)];
        let s = step(0, &members, &limits(), false);
        assert_eq!(s.start, vec![0, 1]);
        assert_eq!(s.wave, Some(0));
        assert_eq!(s.hold, Some(Hold::InFlight));
        // One still moving leaves room for one more, never two.
        let members = [(0, Moving), (0, Waiting), (0, Waiting)];
        assert_eq!(step(0, &members, &limits(), false).start, vec![1]);
    }

    #[test]
    fn the_next_wave_waits_for_every_earlier_binding_then_the_soak() {
        // A binding of wave 0 still moving: wave 1 does not start.
        let members = [(0, Arrived { at: 0 }), (0, Moving), (1, Waiting)];
        let s = step(20 * MIN, &members, &limits(), false);
        assert!(s.start.is_empty());
        assert_eq!(s.wave, Some(0));
        // All through (one failed and rolled back counts as through, with
        // a budget that tolerates it): the soak runs from the last success.
        let lenient = Limits {
            max_failures: 2,
            ..limits()
        };
        let members = [
            (0, Arrived { at: 0 }),
            (0, Arrived { at: 3 * MIN }),
            (0, Failed),
            (1, Waiting),
        ];
        let s = step(5 * MIN, &members, &lenient, false);
        assert!(s.start.is_empty());
        assert_eq!(
            s.hold,
            Some(Hold::Soak {
                wave: 1,
                until: 13 * MIN
            })
        );
        let s = step(13 * MIN, &members, &lenient, false);
        assert_eq!(s.start, vec![3]);
        assert_eq!(s.wave, Some(1));
    }

    #[test]
    fn a_started_wave_is_past_its_soak() {
        let members = [
            (0, Arrived { at: 0 }),
            (1, Arrived { at: MIN }),
            (1, Waiting),
        ];
        // Wave 1's soak from wave 0 would end at 10 min; it began already.
        assert_eq!(step(2 * MIN, &members, &limits(), false).start, vec![2]);
    }

    #[test]
    fn an_empty_wave_adds_no_wait_and_the_soak_reaches_back() {
        // Wave 1 selected nothing; wave 2 soaks from wave 0's success.
        let members = [(0, Arrived { at: MIN }), (2, Waiting)];
        let s = step(5 * MIN, &members, &limits(), false);
        assert_eq!(
            s.hold,
            Some(Hold::Soak {
                wave: 2,
                until: 11 * MIN
            })
        );
    }

    #[test]
    fn failures_and_the_pause_annotation_stop_new_starts() {
        let members = [(0, Failed), (0, Waiting)];
        let s = step(0, &members, &limits(), false);
        assert!(s.start.is_empty());
        assert_eq!(s.hold, Some(Hold::Failures { failed: 1 }));
        let members = [(0, Waiting)];
        let s = step(0, &members, &limits(), true);
        assert!(s.start.is_empty());
        assert_eq!(s.hold, Some(Hold::Paused));
        // A budget of 0 pauses at the first failure, not before any.
        let zero = Limits {
            max_failures: 0,
            ..limits()
        };
        assert_eq!(step(0, &members, &zero, false).start, vec![0]);
    }

    #[test]
    fn a_finished_rollout_starts_nothing_and_holds_nothing() {
        let members = [(0, Arrived { at: 0 }), (1, Failed)];
        assert_eq!(step(MIN, &members, &limits(), false), Step::default());
        assert_eq!(step(0, &[], &limits(), false), Step::default());
    }
}

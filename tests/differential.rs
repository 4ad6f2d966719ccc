//! The wasm `kratix-default` and its native reimplementation give identical
//! decisions (values and reasons, or the same error) on generated inputs.

use crate::support;

use kbind::contract::*;
use kbind::policy::native::NativeKratixDefault;
use kbind::policy::{Decided, Policy, PolicyError};
use kbind::shipped;
use proptest::prelude::*;
use support::*;

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("latest".to_string()),
        Just("not-set".to_string()),
        Just(String::new()),
        "v[0-2]\\.[0-3]\\.[0-3]",
        "[a-z0-9.-]{1,12}",
    ]
}

fn settings() -> impl Strategy<Value = Vec<Setting>> {
    let strategy = prop_oneof![
        Just("floating".to_string()),
        Just("pinned".to_string()),
        Just("Pinned".to_string()),
        Just(String::new()),
        "[a-zA-Z\"\\\\]{1,8}",
    ];
    proptest::option::of(strategy).prop_map(|value| {
        value
            .map(|v| {
                vec![Setting {
                    name: "strategy".into(),
                    value: v,
                }]
            })
            .unwrap_or_default()
    })
}

fn promise() -> impl Strategy<Value = Promise> {
    proptest::collection::vec((version(), any::<bool>()), 0..5).prop_map(|revs| Promise {
        name: "redis".into(),
        revisions: revs
            .into_iter()
            .map(|(v, latest)| revision("redis", &v, latest))
            .collect(),
    })
}

fn bindings() -> impl Strategy<Value = Vec<Binding>> {
    proptest::collection::vec(version(), 0..6).prop_map(|versions| {
        versions
            .iter()
            .enumerate()
            .map(|(i, v)| binding(&format!("r{i}"), v))
            .collect()
    })
}

/// Compare outcomes: equal values, or the same refusal message.
fn same<T: PartialEq + std::fmt::Debug>(
    wasm: Result<Decided<T>, PolicyError>,
    native: Result<Decided<T>, PolicyError>,
) -> Result<(), TestCaseError> {
    match (wasm, native) {
        (Ok(w), Ok(n)) => prop_assert_eq!(w.value, n.value),
        (
            Err(PolicyError::Declined { message: w, .. }),
            Err(PolicyError::Declined { message: n, .. }),
        ) => {
            prop_assert_eq!(w, n)
        }
        (w, n) => prop_assert!(
            false,
            "outcomes differ: wasm {:?} / native {:?}",
            w.map(|d| d.value),
            n.map(|d| d.value)
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn wasm_and_native_kratix_default_agree(
        settings in settings(),
        promise in promise(),
        previous in proptest::option::of(version()),
        bindings in bindings(),
        requested in version(),
        changed in version(),
        attempts in 1u32..5,
    ) {
        thread_local! {
            static WASM: kbind::engine::LoadedPolicy = load(&engine(), &shipped::KRATIX_DEFAULT.source(), &[]);
        }
        let native = NativeKratixDefault::new(vec![]);
        let first = bindings.first().cloned().unwrap_or_else(|| binding("x", "latest"));

        let initial = InitialVersionInput {
            now: NOW, settings: settings.clone(), promise: promise.clone(),
            request: request("default", "example"), previous_version: previous,
        };
        let plan = PlanInput {
            now: NOW, settings: settings.clone(), promise: promise.clone(),
            bindings: bindings.clone(), trigger: PlanTrigger::RevisionsChanged,
        };
        let edit = EditInput {
            now: NOW, settings: settings.clone(), promise: promise.clone(),
            binding: first.clone(), requested_version: requested,
        };
        let failure = FailureInput {
            now: NOW, settings: settings.clone(), promise: promise.clone(), binding: first,
            failed_version: changed.clone(), message: "A Configure Pipeline has failed: p".into(),
            attempts, failed_at: NOW,
        };
        let spec = SpecChangeInput {
            now: NOW, settings, promise, changed_version: changed, bindings,
        };
        WASM.with(|wasm| -> Result<(), TestCaseError> {
            same(wasm.initial_version(&initial), native.initial_version(&initial))?;
            same(wasm.plan_upgrades(&plan), native.plan_upgrades(&plan))?;
            same(wasm.review_edit(&edit), native.review_edit(&edit))?;
            same(wasm.after_failure(&failure), native.after_failure(&failure))?;
            same(wasm.rerun_on_spec_change(&spec), native.rerun_on_spec_change(&spec))
        })?;
    }
}

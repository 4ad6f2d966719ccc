//! Policies that must decide alike, on generated inputs (values and reasons,
//! or the same error):
//! - the wasm `kratix-default` and its native reimplementation;
//! - each shipped policy built against contract 0.2 and the same policy as
//!   it was built against 0.1 (a component kept in `tests/fixtures/components`),
//!   served through the host's 0.1 adapter.

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
            .map(|v| vec![Setting::text("strategy", v)])
            .unwrap_or_default()
    })
}

fn promise() -> impl Strategy<Value = Promise> {
    (
        proptest::collection::vec((version(), any::<bool>()), 0..5),
        annotations(),
    )
        .prop_map(|(revs, annotations)| Promise {
            name: "redis".into(),
            revisions: revs
                .into_iter()
                .map(|(v, latest)| revision("redis", &v, latest))
                .collect(),
            labels: vec![],
            annotations,
        })
}

/// The annotations the shipped policies read, with values they accept and
/// values they do not.
fn annotations() -> impl Strategy<Value = Vec<KeyValue>> {
    let key = prop_oneof![
        Just("kbind.io/upgrade-range"),
        Just("kbind.io/allow-downgrade"),
        Just("example.com/other"),
    ];
    let value = prop_oneof![
        Just("none"),
        Just("patch"),
        Just("minor"),
        Just("true"),
        Just("bogus"),
    ];
    proptest::collection::btree_map(key, value, 0..3).prop_map(|map| {
        map.into_iter()
            .map(|(k, v)| KeyValue {
                key: k.into(),
                value: v.into(),
            })
            .collect()
    })
}

/// Bindings in every upgrade state, with the status fields 0.2 added.
fn rich_bindings() -> impl Strategy<Value = Vec<Binding>> {
    let one = (
        version(),
        proptest::option::of(version()),
        proptest::option::of(version()),
        0u8..4,
        annotations(),
        annotations(),
        proptest::option::of(0i64..NOW),
    );
    proptest::collection::vec(one, 0..6).prop_map(|list| {
        list.into_iter()
            .enumerate()
            .map(|(i, (v, applied, failed, state, own, request, at))| {
                let mut b = binding(&format!("r{i}"), &v);
                b.last_applied_version = applied;
                b.failed_versions = failed.iter().cloned().collect();
                b.failed_version = failed;
                b.state = [
                    UpgradeState::None,
                    UpgradeState::InProgress,
                    UpgradeState::Succeeded,
                    UpgradeState::Failed,
                ][usize::from(state)];
                if b.state == UpgradeState::InProgress {
                    b.in_flight_version = Some(v.clone());
                }
                b.annotations = own;
                b.request.annotations = request;
                b.last_succeeded_at = at;
                b.last_failed_at = at.map(|t| t + 1);
                b
            })
            .collect()
    })
}

fn range_settings() -> impl Strategy<Value = Vec<Setting>> {
    let value = prop_oneof![
        Just("patch".to_string()),
        Just("minor".to_string()),
        Just("none".to_string()),
        "[a-z]{0,6}",
    ];
    proptest::option::of(value).prop_map(|v| {
        v.map(|v| vec![Setting::text("range", v)])
            .unwrap_or_default()
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

/// Every decision of one generated case.
struct Case {
    initial: InitialVersionInput,
    plan: PlanInput,
    edit: EditInput,
    failure: FailureInput,
    spec: SpecChangeInput,
}

#[allow(clippy::too_many_arguments)]
fn case(
    settings: Vec<Setting>,
    promise: Promise,
    previous: Option<String>,
    bindings: Vec<Binding>,
    requested: String,
    changed: String,
    attempts: u32,
    trigger: PlanTrigger,
) -> Case {
    let first = bindings
        .first()
        .cloned()
        .unwrap_or_else(|| binding("x", "latest"));
    Case {
        initial: InitialVersionInput {
            now: NOW,
            settings: settings.clone(),
            promise: promise.clone(),
            request: request("default", "example"),
            previous_version: previous,
        },
        plan: PlanInput {
            now: NOW,
            settings: settings.clone(),
            promise: promise.clone(),
            bindings: bindings.clone(),
            trigger,
        },
        edit: EditInput {
            now: NOW,
            settings: settings.clone(),
            promise: promise.clone(),
            binding: first.clone(),
            requested_version: requested,
        },
        failure: FailureInput {
            now: NOW,
            settings: settings.clone(),
            promise: promise.clone(),
            binding: first,
            failed_version: changed.clone(),
            message: "A Configure Pipeline has failed: p".into(),
            attempts,
            failed_at: NOW,
        },
        spec: SpecChangeInput {
            now: NOW,
            settings,
            promise,
            changed_version: changed,
            bindings,
        },
    }
}

fn agree(a: &dyn Policy, b: &dyn Policy, case: &Case) -> Result<(), TestCaseError> {
    same(
        a.initial_version(&case.initial),
        b.initial_version(&case.initial),
    )?;
    same(a.plan_upgrades(&case.plan), b.plan_upgrades(&case.plan))?;
    same(a.review_edit(&case.edit), b.review_edit(&case.edit))?;
    same(
        a.after_failure(&case.failure),
        b.after_failure(&case.failure),
    )?;
    same(
        a.rerun_on_spec_change(&case.spec),
        b.rerun_on_spec_change(&case.spec),
    )
}

/// A shipped policy as it was built against contract 0.1.
fn contract_0_1_build(name: &str) -> kbind::engine::LoadedPolicy {
    load(&engine(), &contract_0_1_build_source(name), &[])
}

#[test]
fn a_contract_0_1_component_is_served_through_the_adapter() {
    let old = contract_0_1_build("semver-auto");
    assert_eq!(old.shape().contract_version, "0.1.0");
    assert_eq!(old.shape().contract, kbind::contract::Contract::V0_1);
    let current = load(&engine(), &shipped::SEMVER_AUTO.source(), &[]);
    assert_eq!(current.shape().contract, kbind::contract::Contract::V0_2);
    // Its metadata and a decision come through the adapter intact.
    assert_eq!(old.info(), current.info());
    let plan = PlanInput {
        now: NOW,
        settings: vec![],
        promise: redis(&["v1.0.0", "v1.1.0"], "v1.1.0"),
        bindings: vec![{
            let mut b = binding("a", "v1.0.0");
            b.last_applied_version = Some("v1.0.0".into());
            b.state = UpgradeState::Succeeded;
            b
        }],
        trigger: PlanTrigger::RevisionsChanged,
    };
    let decided = old.plan_upgrades(&plan).expect("0.1 plan");
    assert_eq!(decided.value.upgrades.len(), 1);
    assert_eq!(decided.value.upgrades[0].version, "v1.1.0");
    // A list setting reaches a 0.1 policy as its JSON text, which it may
    // refuse by name like any other value.
    let refused = engine()
        .load(
            &contract_0_1_build_source("semver-auto"),
            None,
            vec![Setting {
                name: "range".into(),
                value: SettingValue::Json("[\"minor\"]".into()),
            }],
        )
        .err()
        .expect("a list is not a range");
    let refused = refused.to_string();
    assert!(
        refused.contains("must be `patch` or `minor`") && refused.contains("minor\\\"]"),
        "{refused}"
    );
}

fn contract_0_1_build_source(name: &str) -> kbind::engine::PolicySource {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/components")
        .join(format!("{name}-contract-0.1.0.wasm"));
    kbind::engine::PolicySource::from_path(&path).expect("fixture component")
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
        let case = case(settings, promise, previous, bindings, requested, changed, attempts, PlanTrigger::RevisionsChanged);
        WASM.with(|wasm| agree(wasm, &native, &case))?;
    }

    #[test]
    fn kratix_default_decides_as_its_contract_0_1_build(
        settings in settings(),
        promise in promise(),
        previous in proptest::option::of(version()),
        bindings in rich_bindings(),
        requested in version(),
        changed in version(),
        attempts in 1u32..5,
    ) {
        thread_local! {
            static BOTH: (kbind::engine::LoadedPolicy, kbind::engine::LoadedPolicy) = (
                load(&engine(), &shipped::KRATIX_DEFAULT.source(), &[]),
                contract_0_1_build("kratix-default"),
            );
        }
        let case = case(settings, promise, previous, bindings, requested, changed, attempts, PlanTrigger::RevisionsChanged);
        BOTH.with(|(current, old)| agree(current, old, &case))?;
    }

    #[test]
    fn semver_auto_decides_as_its_contract_0_1_build(
        settings in range_settings(),
        promise in promise(),
        previous in proptest::option::of(version()),
        bindings in rich_bindings(),
        requested in version(),
        changed in version(),
        attempts in 1u32..5,
        timer in any::<bool>(),
    ) {
        thread_local! {
            static BOTH: (kbind::engine::LoadedPolicy, kbind::engine::LoadedPolicy) = (
                load(&engine(), &shipped::SEMVER_AUTO.source(), &[]),
                contract_0_1_build("semver-auto"),
            );
        }
        let trigger = if timer { PlanTrigger::Timer } else { PlanTrigger::RevisionsChanged };
        let case = case(settings, promise, previous, bindings, requested, changed, attempts, trigger);
        BOTH.with(|(current, old)| agree(current, old, &case))?;
    }
}

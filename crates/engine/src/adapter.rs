//! Serves every contract version a component may speak behind one set of
//! decision calls: a current (0.2) component is called with the planner's
//! records as they are; a 0.1 component gets them converted down (the fields
//! 0.2 added are left out, a list or map setting is passed as its JSON text)
//! and its answers converted up. A 0.1 policy therefore decides exactly as it
//! did on a 0.1 host (`tests/contract_compat.rs`).

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::bindings::{self, contract_0_1 as old};
use super::state::State;
use kbind_contract::{self as contract, Contract};

/// A linked component, ready to instantiate, with the contract it speaks.
#[derive(Clone)]
pub(crate) enum Pre {
    Current(bindings::PolicyPre<State>),
    V0_1(old::PolicyPre<State>),
}

impl Pre {
    pub(crate) fn new(pre: InstancePre<State>, contract: Contract) -> wasmtime::Result<Self> {
        Ok(match contract {
            Contract::V0_2 => Self::Current(bindings::PolicyPre::new(pre)?),
            Contract::V0_1 => Self::V0_1(old::PolicyPre::new(pre)?),
        })
    }

    pub(crate) fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::Current(pre) => Instance::Current(pre.instantiate(store)?),
            Self::V0_1(pre) => Instance::V0_1(pre.instantiate(store)?),
        })
    }
}

/// One instance of a component, whichever contract it speaks.
pub(crate) enum Instance {
    Current(bindings::Policy),
    V0_1(old::Policy),
}

/// What every decision export returns: a trap, or the policy's own answer.
type Answer<T> = wasmtime::Result<Result<T, String>>;

impl Instance {
    pub(crate) fn metadata(&self, store: &mut Store<State>) -> Answer<contract::PolicyInfo> {
        match self {
            Self::Current(p) => p.kbind_policy_decisions().call_metadata(store).map(Ok),
            Self::V0_1(p) => p
                .kbind_policy_decisions()
                .call_metadata(store)
                .map(|info| Ok(up::policy_info(info))),
        }
    }

    pub(crate) fn validate_settings(
        &self,
        store: &mut Store<State>,
        settings: &[contract::Setting],
    ) -> Answer<()> {
        match self {
            Self::Current(p) => p
                .kbind_policy_decisions()
                .call_validate_settings(store, settings),
            Self::V0_1(p) => p
                .kbind_policy_decisions()
                .call_validate_settings(store, &down::settings(settings)),
        }
    }

    pub(crate) fn initial_version(
        &self,
        store: &mut Store<State>,
        input: &contract::InitialVersionInput,
    ) -> Answer<contract::VersionChoice> {
        match self {
            Self::Current(p) => p
                .kbind_policy_decisions()
                .call_initial_version(store, input),
            Self::V0_1(p) => Ok(p
                .kbind_policy_decisions()
                .call_initial_version(store, &down::initial_version_input(input))?
                .map(up::version_choice)),
        }
    }

    pub(crate) fn plan_upgrades(
        &self,
        store: &mut Store<State>,
        input: &contract::PlanInput,
    ) -> Answer<contract::UpgradePlan> {
        match self {
            Self::Current(p) => p.kbind_policy_decisions().call_plan_upgrades(store, input),
            Self::V0_1(p) => Ok(p
                .kbind_policy_decisions()
                .call_plan_upgrades(store, &down::plan_input(input))?
                .map(up::upgrade_plan)),
        }
    }

    pub(crate) fn review_edit(
        &self,
        store: &mut Store<State>,
        input: &contract::EditInput,
    ) -> Answer<contract::Review> {
        match self {
            Self::Current(p) => p.kbind_policy_decisions().call_review_edit(store, input),
            Self::V0_1(p) => Ok(p
                .kbind_policy_decisions()
                .call_review_edit(store, &down::edit_input(input))?
                .map(up::review)),
        }
    }

    pub(crate) fn after_failure(
        &self,
        store: &mut Store<State>,
        input: &contract::FailureInput,
    ) -> Answer<contract::FailureDecision> {
        match self {
            Self::Current(p) => p.kbind_policy_decisions().call_after_failure(store, input),
            Self::V0_1(p) => Ok(p
                .kbind_policy_decisions()
                .call_after_failure(store, &down::failure_input(input))?
                .map(up::failure_decision)),
        }
    }

    pub(crate) fn rerun_on_spec_change(
        &self,
        store: &mut Store<State>,
        input: &contract::SpecChangeInput,
    ) -> Answer<contract::RerunSelection> {
        match self {
            Self::Current(p) => p
                .kbind_policy_decisions()
                .call_rerun_on_spec_change(store, input),
            Self::V0_1(p) => Ok(p
                .kbind_policy_decisions()
                .call_rerun_on_spec_change(store, &down::spec_change_input(input))?
                .map(up::rerun_selection)),
        }
    }
}

/// The current contract's inputs as 0.1 records.
mod down {
    use super::{contract, old};
    use old::kbind::policy::types as v1;

    pub(super) fn settings(settings: &[contract::Setting]) -> Vec<v1::Setting> {
        settings
            .iter()
            .map(|s| v1::Setting {
                name: s.name.clone(),
                value: s.value.as_str().to_string(),
            })
            .collect()
    }

    fn pairs(pairs: &[contract::KeyValue]) -> Vec<v1::KeyValue> {
        pairs
            .iter()
            .map(|kv| v1::KeyValue {
                key: kv.key.clone(),
                value: kv.value.clone(),
            })
            .collect()
    }

    fn promise(p: &contract::Promise) -> v1::Promise {
        v1::Promise {
            name: p.name.clone(),
            revisions: p
                .revisions
                .iter()
                .map(|r| v1::Revision {
                    name: r.name.clone(),
                    version: r.version.clone(),
                    latest: r.latest,
                    created_at: r.created_at,
                })
                .collect(),
        }
    }

    fn request(r: &contract::Request) -> v1::Request {
        v1::Request {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            labels: pairs(&r.labels),
            annotations: pairs(&r.annotations),
        }
    }

    fn binding(b: &contract::Binding) -> v1::Binding {
        v1::Binding {
            namespace: b.namespace.clone(),
            name: b.name.clone(),
            request: request(&b.request),
            version: b.version.clone(),
            last_applied_version: b.last_applied_version.clone(),
            in_flight_version: b.in_flight_version.clone(),
            failed_version: b.failed_version.clone(),
            failed_versions: b.failed_versions.clone(),
            state: match b.state {
                contract::UpgradeState::None => v1::UpgradeState::None,
                contract::UpgradeState::InProgress => v1::UpgradeState::InProgress,
                contract::UpgradeState::Succeeded => v1::UpgradeState::Succeeded,
                contract::UpgradeState::Failed => v1::UpgradeState::Failed,
            },
            labels: pairs(&b.labels),
            annotations: pairs(&b.annotations),
        }
    }

    fn bindings(bindings: &[contract::Binding]) -> Vec<v1::Binding> {
        bindings.iter().map(binding).collect()
    }

    pub(super) fn initial_version_input(
        i: &contract::InitialVersionInput,
    ) -> v1::InitialVersionInput {
        v1::InitialVersionInput {
            now: i.now,
            settings: settings(&i.settings),
            promise: promise(&i.promise),
            request: request(&i.request),
            previous_version: i.previous_version.clone(),
        }
    }

    pub(super) fn plan_input(i: &contract::PlanInput) -> v1::PlanInput {
        v1::PlanInput {
            now: i.now,
            settings: settings(&i.settings),
            promise: promise(&i.promise),
            bindings: bindings(&i.bindings),
            trigger: match i.trigger {
                contract::PlanTrigger::RevisionsChanged => v1::PlanTrigger::RevisionsChanged,
                contract::PlanTrigger::Timer => v1::PlanTrigger::Timer,
                // 0.1 has none of these triggers (nor sees Promise
                // metadata): to its policies it is one more re-check.
                contract::PlanTrigger::PromiseChanged
                | contract::PlanTrigger::PolicyChanged
                | contract::PlanTrigger::BindingsChanged => v1::PlanTrigger::Timer,
            },
        }
    }

    pub(super) fn edit_input(i: &contract::EditInput) -> v1::EditInput {
        v1::EditInput {
            now: i.now,
            settings: settings(&i.settings),
            promise: promise(&i.promise),
            binding: binding(&i.binding),
            requested_version: i.requested_version.clone(),
        }
    }

    pub(super) fn failure_input(i: &contract::FailureInput) -> v1::FailureInput {
        v1::FailureInput {
            now: i.now,
            settings: settings(&i.settings),
            promise: promise(&i.promise),
            binding: binding(&i.binding),
            failed_version: i.failed_version.clone(),
            message: i.message.clone(),
            attempts: i.attempts,
            failed_at: i.failed_at,
        }
    }

    pub(super) fn spec_change_input(i: &contract::SpecChangeInput) -> v1::SpecChangeInput {
        v1::SpecChangeInput {
            now: i.now,
            settings: settings(&i.settings),
            promise: promise(&i.promise),
            changed_version: i.changed_version.clone(),
            bindings: bindings(&i.bindings),
        }
    }
}

/// A 0.1 policy's answers as the current contract's records.
mod up {
    use super::{contract, old};
    use old::kbind::policy::types as v1;

    fn binding_ref(r: v1::BindingRef) -> contract::BindingRef {
        contract::BindingRef {
            namespace: r.namespace,
            name: r.name,
        }
    }

    pub(super) fn policy_info(i: v1::PolicyInfo) -> contract::PolicyInfo {
        contract::PolicyInfo {
            name: i.name,
            version: i.version,
            description: i.description,
            settings: i
                .settings
                .into_iter()
                .map(|s| contract::SettingSpec {
                    name: s.name,
                    description: s.description,
                    default_value: s.default_value,
                    allowed_values: s.allowed_values,
                })
                .collect(),
        }
    }

    pub(super) fn version_choice(c: v1::VersionChoice) -> contract::VersionChoice {
        contract::VersionChoice {
            version: c.version,
            reason: c.reason,
        }
    }

    pub(super) fn upgrade_plan(p: v1::UpgradePlan) -> contract::UpgradePlan {
        contract::UpgradePlan {
            upgrades: p
                .upgrades
                .into_iter()
                .map(|u| contract::Upgrade {
                    binding: binding_ref(u.binding),
                    version: u.version,
                    reason: u.reason,
                })
                .collect(),
            recheck_after_ms: p.recheck_after_ms,
            reason: p.reason,
            // 0.1 has no rollouts to report.
            rollouts: Vec::new(),
        }
    }

    pub(super) fn review(r: v1::Review) -> contract::Review {
        contract::Review {
            allowed: r.allowed,
            reason: r.reason,
        }
    }

    pub(super) fn failure_decision(d: v1::FailureDecision) -> contract::FailureDecision {
        contract::FailureDecision {
            action: match d.action {
                v1::FailureAction::Hold => contract::FailureAction::Hold,
                v1::FailureAction::RetryAfter(ms) => contract::FailureAction::RetryAfter(ms),
                v1::FailureAction::RollBack => contract::FailureAction::RollBack,
            },
            reason: d.reason,
        }
    }

    pub(super) fn rerun_selection(s: v1::RerunSelection) -> contract::RerunSelection {
        contract::RerunSelection {
            rerun: s.rerun.into_iter().map(binding_ref).collect(),
            reason: s.reason,
        }
    }
}

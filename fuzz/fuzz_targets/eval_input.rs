//! Decision inputs (`kbind eval`): parsed, then decided by the native
//! kratix-default for every decision, so the conversion into the contract's
//! records and the policy's answer handling see arbitrary documents.
#![no_main]
use kbind::eval::{DecisionKind, InputDoc};
use kbind::policy::native::NativeKratixDefault;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = kbind::yaml::from_str::<InputDoc>(text) else {
        return;
    };
    let policy = NativeKratixDefault::new(vec![]);
    for decision in [
        DecisionKind::InitialVersion,
        DecisionKind::PlanUpgrades,
        DecisionKind::ReviewEdit,
        DecisionKind::AfterFailure,
        DecisionKind::RerunOnSpecChange,
    ] {
        let _ = kbind::eval::decide(&policy, decision, &doc);
    }
});

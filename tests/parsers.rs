//! The user-written formats never panic, whatever bytes they get: suites,
//! scenarios, eval inputs, state journals. These property tests run on
//! every `cargo test`; the cargo-fuzz targets in `fuzz/` search longer.

use kbind::eval::InputDoc;
use kbind::sim::scenario::Scenario;
use kbind::suite::SuiteDoc;
use proptest::prelude::*;

/// YAML-shaped noise: keys the formats know, brackets, odd scalars.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("name: ".to_string()),
        Just("cases:\n".to_string()),
        Just("  - ".to_string()),
        Just("decision: initial-version\n".to_string()),
        Just("steps:\n".to_string()),
        Just("input: {".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("now: 2026-01-01T00:00:00Z\n".to_string()),
        Just("promise: {name: redis, revisions: [{version: v1}]}\n".to_string()),
        Just("&a ".to_string()),
        Just("*a ".to_string()),
        Just("!!binary ".to_string()),
        Just("\n".to_string()),
        "[a-z0-9:\\-\\[\\]{}\"' ,.]{0,12}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

fn cases() -> u32 {
    std::env::var("KBIND_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn parsers_return_errors_not_panics(text in prop_oneof![yamlish(), ".{0,200}"]) {
        let _ = kbind::yaml::from_str::<SuiteDoc>(&text);
        let _ = kbind::yaml::from_str::<Scenario>(&text);
        let _ = kbind::yaml::from_str::<InputDoc>(&text);
        let _ = kbind::yaml::from_str::<serde_json::Value>(&text);
    }

    #[test]
    fn errors_are_one_line(text in yamlish()) {
        if let Err(e) = kbind::yaml::from_str::<SuiteDoc>(&text) {
            prop_assert!(!e.contains('\n'), "{}", e);
        }
    }

    #[test]
    fn a_state_journal_of_noise_is_refused_or_replayed_never_a_panic(lines in prop::collection::vec(".{0,80}", 0..8)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let _ = kbind::apiserver::ObjectStore::with_state_file(&path);
    }
}

//! `{{name}}`: pins new bindings to the newest revision; every other
//! decision is Kratix's (the SDK's defaults).
#![cfg_attr(target_arch = "wasm32", no_std)]

use kbind_policy_sdk::*;

pub struct Mine;

impl Policy for Mine {
    fn metadata() -> PolicyInfo {
        PolicyInfo::new("{{name}}", "0.1.0", "pins new bindings to the newest revision")
    }

    fn initial_version(input: InitialVersionInput) -> Result<VersionChoice, String> {
        pin_to_newest(&input)
    }
}

export_policy!(Mine);

#[cfg(test)]
mod tests {
    use super::*;
    use kbind_policy_sdk::testing::*;

    fn initial(p: Promise) -> Result<VersionChoice, String> {
        Mine::initial_version(InitialVersionInput {
            now: NOW,
            settings: vec![],
            promise: p,
            request: request("default", "example"),
            previous_version: None,
        })
    }

    #[test]
    fn new_bindings_pin_the_newest_revision() {
        let p = promise("redis").latest("v1.0.0").revision("v1.1.0").build();
        assert_eq!(initial(p).unwrap().version, "v1.1.0");
    }

    #[test]
    fn a_promise_without_revisions_is_declined() {
        assert!(initial(promise("redis").build()).is_err());
    }
}

//! The kbind policy SDK: everything a policy author needs to write a
//! revision/upgrade policy in one Rust file.
//!
//! ```
//! use kbind_policy_sdk::*;
//!
//! struct MyPolicy;
//! impl Policy for MyPolicy {
//!     fn metadata() -> PolicyInfo {
//!         PolicyInfo::new("my-policy", "0.1.0", "pins new bindings to the newest revision")
//!     }
//!     fn initial_version(input: InitialVersionInput) -> Result<VersionChoice, String> {
//!         let rev = newest_revision(&input.promise).ok_or("no revisions")?;
//!         Ok(VersionChoice::new(rev.version.clone(), "newest revision"))
//!     }
//! }
//! export_policy!(MyPolicy);
//!
//! # fn main() {
//! use kbind_policy_sdk::testing::*;
//! let choice = MyPolicy::initial_version(InitialVersionInput {
//!     now: NOW,
//!     settings: vec![],
//!     promise: promise("redis").latest("v1.0.0").revision("v1.1.0").build(),
//!     request: request("default", "example"),
//!     previous_version: None,
//! })
//! .unwrap();
//! assert_eq!(choice.version, "v1.1.0");
//! # }
//! ```
//!
//! Policies are `no_std` + `alloc` so the built component imports nothing:
//! the SDK brings the allocator, the panic handler and `cabi_realloc`.
//! Unit tests run natively with `cargo test` by calling the `Policy` methods
//! directly (see [`testing`]).
#![no_std]

extern crate alloc;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "policy",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "kbind_policy_sdk::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

mod helpers;
mod policy;
mod upgrades;
// Linked for its allocator, panic handler and `cabi_realloc`.
#[cfg(feature = "runtime")]
extern crate kbind_guest_runtime as _;
pub mod testing;

pub use alloc::{format, string::String, string::ToString, vec, vec::Vec};
pub use bindings::kbind::policy::host::{LogLevel, log};
pub use bindings::kbind::policy::types::*;
pub use helpers::*;
pub use policy::{Policy, default_rerun_selection};
pub use upgrades::*;

/// The floating version: a binding on `latest` follows the latest revision.
pub const LATEST: &str = "latest";

/// The contract version this SDK was built against (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Exports a type implementing [`Policy`] as the component's `decisions`.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        // Component exports have names like `kbind:policy/decisions@0.2.0#...`
        // that only a wasm linker accepts; native builds (unit tests) skip
        // them but still check that the type implements `Policy`.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::PolicyInfo = <$policy as $crate::Policy>::metadata;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __kbind_export {
            #[allow(unused_imports)]
            use super::*;

            pub struct __KbindExport;

            impl $crate::bindings::exports::kbind::policy::decisions::Guest for __KbindExport {
                fn metadata() -> $crate::PolicyInfo {
                    <$policy as $crate::Policy>::metadata()
                }
                fn validate_settings(
                    settings: $crate::Vec<$crate::Setting>,
                ) -> ::core::result::Result<(), $crate::String> {
                    <$policy as $crate::Policy>::validate_settings(settings)
                }
                fn initial_version(
                    input: $crate::InitialVersionInput,
                ) -> ::core::result::Result<$crate::VersionChoice, $crate::String> {
                    <$policy as $crate::Policy>::initial_version(input)
                }
                fn plan_upgrades(
                    input: $crate::PlanInput,
                ) -> ::core::result::Result<$crate::UpgradePlan, $crate::String> {
                    <$policy as $crate::Policy>::plan_upgrades(input)
                }
                fn review_edit(
                    input: $crate::EditInput,
                ) -> ::core::result::Result<$crate::Review, $crate::String> {
                    <$policy as $crate::Policy>::review_edit(input)
                }
                fn after_failure(
                    input: $crate::FailureInput,
                ) -> ::core::result::Result<$crate::FailureDecision, $crate::String> {
                    <$policy as $crate::Policy>::after_failure(input)
                }
                fn rerun_on_spec_change(
                    input: $crate::SpecChangeInput,
                ) -> ::core::result::Result<$crate::RerunSelection, $crate::String> {
                    <$policy as $crate::Policy>::rerun_on_spec_change(input)
                }
            }

            $crate::bindings::__export_policy_world!(__KbindExport with_types_in $crate::bindings);
        }
    };
}

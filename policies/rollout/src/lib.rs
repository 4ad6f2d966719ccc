//! `rollout`: progressive upgrades of a promise's bindings (issue 14).
//!
//! What is here so far is the part of the policy that needs no new contract:
//! - [`budget`]: `maxInFlight` / `maxFailures` values, a count or a percent
//!   of the promise's bindings;
//! - [`duration`]: `soak` values (`10m`, `1h30m`);
//! - [`waves`]: the waves, each a label selector over the request's labels,
//!   a stable percent of the bindings still unassigned, or a catch-all, and
//!   the assignment of every binding to the first wave that selects it;
//! - [`gate`]: which bindings start now, from where each stands with the
//!   target: one wave at a time, the soak between waves, the in-flight and
//!   failure budgets and the pause by hand.
//!
//! Each parser names the field it refuses (`waves[1].percent: …`), which is
//! what `validate-settings` will answer. Feeding the gate needs the
//! Promise's annotations and each binding's last success and failure, which
//! come with contract `kbind:policy@0.2.0`; approval and windows are not
//! built yet.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod budget;
pub mod duration;
pub mod gate;
pub mod waves;

use alloc::string::String;

/// A setting the policy refuses, with the field it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// Where in the settings: `soak`, `waves[2].percent`, …
    pub field: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl core::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "settings.{}: {}", self.field, self.message)
    }
}

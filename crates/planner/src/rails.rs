//! The host's safety rails: what stands between a policy's answer and the
//! cluster, whatever the policy says (DESIGN.md, "Safety rails stay in the
//! host"). A binding only ever names `latest` or a version that has a
//! PromiseRevision; an answer about a binding that was not in the policy's
//! input is refused; a failed policy changes nothing; a policy's text is cut
//! before it reaches an Event or a condition. Each refusal is a Warning Event
//! `PolicyFailed` that says why; the callers leave the binding as it was.

use std::collections::HashMap;

use kbind_contract::policy::Policy;
use kbind_contract::{BindingRef, Promise};
use kbind_model::api::{LATEST_VERSION, ResourceBinding, events};
use kbind_model::key::ObjKey;

use crate::{Action, event};

/// The longest message kbind writes into an Event or a condition: a
/// policy's reason is text of its choosing, and a megabyte of it must not
/// reach the API server (client-go's recorder cuts Events at 1 KiB too).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `message`, cut to `MAX_MESSAGE_BYTES` on a char boundary.
pub(crate) fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut cut = MAX_MESSAGE_BYTES - 40;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}… ({} more bytes cut)",
        &message[..cut],
        message.len() - cut
    )
}

/// The Event that reports a refused answer or a failed policy, on `regarding`.
pub(crate) fn refusal(regarding: &ObjKey, message: impl Into<String>) -> Action {
    event(regarding, true, events::POLICY_FAILED, message)
}

/// Whether a binding may name `version`: `latest`, or a version that has a
/// PromiseRevision.
fn bindable(promise: &Promise, version: &str) -> bool {
    version == LATEST_VERSION || promise.has_version(version)
}

/// What a policy chose a version for.
#[derive(Clone, Copy)]
pub(crate) enum Chosen {
    /// A new binding (`initial-version`): no binding is created.
    NewBinding,
    /// Moving a binding (`plan-upgrades`): the move is refused.
    Upgrade,
}

/// The version a policy chose, if a binding may name it.
pub(crate) fn chosen_version(
    policy: &dyn Policy,
    promise: &Promise,
    version: &str,
    chosen: Chosen,
) -> Result<(), String> {
    if bindable(promise, version) {
        return Ok(());
    }
    Err(match chosen {
        Chosen::NewBinding => format!(
            "policy {} chose version {version:?} for a new binding, which has no PromiseRevision; no binding created",
            policy.id()
        ),
        Chosen::Upgrade => format!(
            "policy {} chose version {version} which has no PromiseRevision; refused",
            policy.id()
        ),
    })
}

/// What a policy's answer named a binding for.
#[derive(Clone, Copy)]
pub(crate) enum Named {
    /// An upgrade (`plan-upgrades`): refused.
    Upgrade,
    /// A re-run after a spec change (`rerun-on-spec-change`): ignored.
    Rerun,
}

/// The binding an answer names, if it was in the policy's input.
pub(crate) fn named_binding<'v>(
    policy: &dyn Policy,
    bindings: &HashMap<(&str, &str), &'v ResourceBinding>,
    named: &BindingRef,
    what: Named,
) -> Result<&'v ResourceBinding, String> {
    if let Some(b) = bindings.get(&(named.namespace.as_str(), named.name.as_str())) {
        return Ok(b);
    }
    Err(match what {
        Named::Upgrade => format!(
            "policy {} planned an upgrade of {named} which was not in its input; refused",
            policy.id()
        ),
        Named::Rerun => format!(
            "policy {} selected binding {named} which was not in its input; ignored",
            policy.id()
        ),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(2000);
        let cut = super::bounded(long.clone());
        assert!(cut.len() <= super::MAX_MESSAGE_BYTES);
        assert!(cut.ends_with("more bytes cut)"));
        assert_eq!(super::bounded("short".into()), "short");
    }
}

//! The CRD naming and establishing controllers' decisions. A CRD's names
//! are accepted unless another CRD of its group has accepted them first,
//! and its kind is served only under accepted names. Two CRDs of one group
//! declaring the same kind is the case that matters: the second is not
//! served, and says why in its `NamesAccepted` condition. Accepted names
//! make a CRD `Established` in a second write, as the real establishing
//! controller does: only then is the kind in discovery. The store runs
//! both after the write that asks for them, not inside it.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use kbind_model::crd_conditions::{ESTABLISHED, NAMES_ACCEPTED, condition, condition_true};
pub use kbind_model::crd_conditions::{established, served};

fn text<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Whether every requested name is accepted (nothing left for the naming
/// controller to retry when its group changes).
pub fn all_accepted(crd: &Value) -> bool {
    condition_true(crd, NAMES_ACCEPTED)
}

/// A name is fine when it is the one already accepted, or no other CRD of
/// the group has it (`equalToAcceptedOrFresh`).
fn fresh(requested: &str, accepted: &str, used: &BTreeSet<String>) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("\"{requested}\" is already in use"))
    }
}

/// The names a CRD asks for, checked one by one against those another CRD
/// of its group has accepted; each conflict found replaces the one
/// before, as in the real code.
struct Claims<'a> {
    requested: &'a Value,
    accepted: &'a Value,
    names: Value,
    refused: Option<(&'static str, String)>,
}

impl Claims<'_> {
    /// Takes the requested name at `key` unless another CRD has it.
    fn claim(&mut self, key: &str, used: &BTreeSet<String>, reason: &'static str) {
        let wanted = self.requested[key].as_str().unwrap_or_default();
        match fresh(
            wanted,
            self.accepted[key].as_str().unwrap_or_default(),
            used,
        ) {
            Ok(()) if !wanted.is_empty() => self.names[key] = json!(wanted),
            Ok(()) => {}
            Err(message) => self.refused = Some((reason, message)),
        }
    }

    /// Short names are taken together, each new one checked.
    fn claim_short_names(&mut self, used: &BTreeSet<String>) {
        let wanted = strings(self.requested.get("shortNames"));
        let held = strings(self.accepted.get("shortNames"));
        if wanted == held {
            return;
        }
        let clashes: Vec<String> = wanted
            .iter()
            .filter(|s| !held.contains(s))
            .filter_map(|s| fresh(s, "", used).err())
            .collect();
        if clashes.is_empty() {
            self.names["shortNames"] = json!(wanted);
        } else {
            // utilerrors' aggregate: one message alone, several in brackets.
            let message = if clashes.len() == 1 {
                clashes[0].clone()
            } else {
                format!("[{}]", clashes.join(", "))
            };
            self.refused = Some(("ShortNamesConflict", message));
        }
    }
}

/// The establishing controller: a CRD whose names are accepted becomes
/// `Established`. Whether that changed anything.
pub fn establish(crd: &mut Value, now: &str) -> bool {
    if !all_accepted(crd) || established(crd) {
        return false;
    }
    set_condition(
        crd,
        ESTABLISHED,
        "True",
        "InitialNamesAccepted",
        "the initial names have been accepted",
        now,
    );
    true
}

/// The naming controller (`calculateNamesAndConditions`): sets
/// `status.acceptedNames` and the `NamesAccepted` condition of `crd`, given
/// the other CRDs of any group, and `Established` to `Installing` when its
/// names are newly accepted (the establishing controller makes it true).
pub fn accept(crd: &mut Value, others: &[&Value], now: &str) {
    let group = text(crd, "/spec/group").to_string();
    let name = text(crd, "/metadata/name").to_string();
    let mut resources = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for other in others
        .iter()
        .filter(|o| text(o, "/spec/group") == group && text(o, "/metadata/name") != name)
    {
        let accepted = &other["status"]["acceptedNames"];
        for key in ["plural", "singular"] {
            resources.insert(accepted[key].as_str().unwrap_or_default().to_string());
        }
        resources.extend(strings(accepted.get("shortNames")));
        for key in ["kind", "listKind"] {
            kinds.insert(accepted[key].as_str().unwrap_or_default().to_string());
        }
    }
    resources.remove("");
    kinds.remove("");
    let requested = crd["spec"]["names"].clone();
    let accepted = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or_else(|| json!({"kind": "", "plural": ""}));
    let mut claims = Claims {
        requested: &requested,
        accepted: &accepted,
        names: accepted.clone(),
        refused: None,
    };
    claims.claim("plural", &resources, "PluralConflict");
    claims.claim("singular", &resources, "SingularConflict");
    claims.claim_short_names(&resources);
    claims.claim("kind", &kinds, "KindConflict");
    claims.claim("listKind", &kinds, "ListKindConflict");
    let Claims {
        mut names, refused, ..
    } = claims;
    if names["shortNames"].as_array().is_some_and(Vec::is_empty)
        && let Some(m) = names.as_object_mut()
    {
        m.remove("shortNames");
    }
    match requested.get("categories") {
        Some(c) => names["categories"] = c.clone(),
        None => {
            if let Some(m) = names.as_object_mut() {
                m.remove("categories");
            }
        }
    }
    let (names_status, names_reason, names_message) = match &refused {
        None => ("True", "NoConflicts", "no conflicts found".to_string()),
        Some((reason, message)) => ("False", *reason, message.clone()),
    };
    // Established is never taken back once true; a condition already
    // there is kept unless the names are now accepted.
    let established = if established(crd) {
        None
    } else if refused.is_none() {
        Some((
            "False",
            "Installing",
            "the initial names have been accepted",
        ))
    } else if condition(crd, ESTABLISHED).is_some() {
        None
    } else {
        Some(("False", "NotAccepted", "not all names are accepted"))
    };
    crd["status"]["acceptedNames"] = names;
    set_condition(
        crd,
        NAMES_ACCEPTED,
        names_status,
        names_reason,
        &names_message,
        now,
    );
    if let Some((status, reason, message)) = established {
        set_condition(crd, ESTABLISHED, status, reason, message, now);
    }
}

/// `SetCRDCondition`: the transition time moves only with the status.
fn set_condition(
    crd: &mut Value,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    let since = match condition(crd, kind) {
        Some(old) if old["status"] == status => old["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let new = json!({"type": kind, "status": status, "lastTransitionTime": since,
        "reason": reason, "message": message});
    if !crd["status"]["conditions"].is_array() {
        crd["status"]["conditions"] = json!([]);
    }
    if let Some(list) = crd["status"]["conditions"].as_array_mut() {
        match list.iter_mut().find(|c| c["type"] == kind) {
            Some(slot) => *slot = new,
            None => list.push(new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(plural: &str, kind: &str, short: &[&str]) -> Value {
        json!({"metadata": {"name": format!("{plural}.example.com")},
            "spec": {"group": "example.com", "names": {"plural": plural, "singular": plural.trim_end_matches('s'),
                "kind": kind, "listKind": format!("{kind}List"), "shortNames": short}}})
    }

    #[test]
    fn a_second_crd_of_a_group_cannot_take_a_kind_or_short_name_already_accepted() {
        let now = "2026-01-01T00:00:00Z";
        let mut first = crd("widgets", "Widget", &["wd"]);
        accept(&mut first, &[], now);
        assert!(served(&first));
        assert!(!established(&first));
        assert_eq!(
            condition(&first, ESTABLISHED).unwrap()["reason"],
            "Installing"
        );
        assert!(establish(&mut first, now));
        assert!(established(&first));
        assert!(!establish(&mut first, now));
        assert_eq!(first["status"]["acceptedNames"]["kind"], "Widget");
        let mut second = crd("widgetz", "Widget", &[]);
        accept(&mut second, &[&first], now);
        assert!(!served(&second));
        let names = condition(&second, NAMES_ACCEPTED).unwrap();
        assert_eq!(names["reason"], "ListKindConflict");
        assert_eq!(names["message"], "\"WidgetList\" is already in use");
        assert_eq!(
            condition(&second, ESTABLISHED).unwrap()["reason"],
            "NotAccepted"
        );
        assert_eq!(second["status"]["acceptedNames"]["kind"], "");
        let mut third = crd("gadgets", "Gadget", &["wd"]);
        accept(&mut third, &[&first, &second], now);
        assert_eq!(
            condition(&third, NAMES_ACCEPTED).unwrap()["reason"],
            "ShortNamesConflict"
        );
        // Once the first goes, the second is accepted.
        accept(&mut second, &[], "2026-01-01T00:01:00Z");
        assert!(served(&second));
        assert_eq!(
            condition(&second, NAMES_ACCEPTED).unwrap()["lastTransitionTime"],
            "2026-01-01T00:01:00Z"
        );
    }
}

//! Events as the in-server controllers record them, through client-go's
//! recorder: a core/v1 Event named `<object>.<hex nanoseconds>` about the
//! object, from the controller's component; an Event the same as one
//! already recorded (same object, type, reason, message and source) is
//! counted again (`count`, `lastTimestamp`) instead, as the recorder's
//! correlator does.

use serde_json::{Value, json};

use super::state::{Key, ObjectStore};

/// The correlator's key for an Event: what makes two Events the same.
fn event_key(
    involved: &Value,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
) -> String {
    serde_json::json!([involved["uid"], component, type_, reason, message]).to_string()
}

/// How many Events the recorder remembers (client-go's correlator keeps an
/// LRU cache of 4096).
const REMEMBERED: usize = 4096;

impl ObjectStore {
    /// Records an Event about `object` (in its namespace) as `component`.
    pub(super) fn record_event(
        &mut self,
        object: &Value,
        component: &str,
        type_: &str,
        reason: &str,
        message: &str,
    ) {
        let Some(events) = self.resource("", "v1", "events").cloned() else {
            return;
        };
        let meta = &object["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or("default").to_string();
        let name = meta["name"].as_str().unwrap_or_default();
        let involved = json!({
            "kind": object["kind"], "namespace": meta["namespace"], "name": name,
            "uid": meta["uid"], "apiVersion": object["apiVersion"],
            "resourceVersion": meta["resourceVersion"]});
        let now = self.now();
        let correlated = event_key(&involved, component, type_, reason, message);
        let manager = super::namespace_defaults::controller_manager();
        let earlier = self
            .recorded_event(&correlated)
            .and_then(|key| self.objects_get(&key).map(|e| (key, e)));
        if let Some((key, mut event)) = earlier {
            event["count"] = json!(event["count"].as_i64().unwrap_or(1) + 1);
            event["lastTimestamp"] = json!(now);
            let (written, _) = self.serving(manager.clone(), |s| {
                s.update(&events, &key.namespace, &key.name, event, false)
                    .is_ok()
            });
            if written {
                return;
            }
        }
        let nanos = self.now_millis().saturating_mul(1_000_000)
            + (self.resource_version() % 1_000_000) as i64;
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{nanos:x}")},
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
            "count": 1, "type": type_, "eventTime": null,
            "reportingComponent": component, "reportingInstance": ""});
        let (created, _) = self.serving(manager, |s| s.create(&events, &namespace, event));
        if let Ok(created) = created {
            let key = Key {
                group: String::new(),
                plural: "events".into(),
                namespace,
                name: created["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            };
            self.remember_event(correlated, key, REMEMBERED);
        }
    }
}

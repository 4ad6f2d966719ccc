//! Events as the in-server controllers record them, through client-go's
//! recorder: a core/v1 Event named `<object>.<hex nanoseconds>` about the
//! object, from the controller's component; an Event the same as one
//! already recorded (same object, type, reason, message and source) is
//! counted again (`count`, `lastTimestamp`) instead, as the recorder's
//! correlator does.

use serde_json::{Value, json};

use super::state::{Key, ObjectStore};

fn same_event(
    event: &Value,
    involved: &Value,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
) -> bool {
    event["involvedObject"]["uid"] == involved["uid"]
        && event["source"]["component"] == component
        && event["type"] == type_
        && event["reason"] == reason
        && event["message"] == message
}

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
        let earlier = self
            .objects_in("", "events", &namespace)
            .into_iter()
            .find(|(_, e)| same_event(e, &involved, component, type_, reason, message));
        let manager = super::namespace_defaults::controller_manager();
        if let Some((key, mut event)) = earlier {
            event["count"] = json!(event["count"].as_i64().unwrap_or(1) + 1);
            event["lastTimestamp"] = json!(now);
            self.serving(manager, |s| {
                let _ = s.update(&events, &key.namespace, &key.name, event, false);
            });
            return;
        }
        let nanos = self.now_millis().saturating_mul(1_000_000)
            + (self.resource_version() % 1_000_000) as i64;
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{nanos:x}")},
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
            "count": 1, "type": type_, "eventTime": null,
            "reportingComponent": component, "reportingInstance": ""});
        self.serving(manager, |s| {
            let _ = s.create(&events, &namespace, event);
        });
    }

    /// The objects of one kind in one namespace, with their keys.
    pub(super) fn objects_in(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
    ) -> Vec<(Key, Value)> {
        let from = Key {
            group: group.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: String::new(),
        };
        self.objects_from(&from)
            .take_while(|(k, _)| k.group == group && k.plural == plural && k.namespace == namespace)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

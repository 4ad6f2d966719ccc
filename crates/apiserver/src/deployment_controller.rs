//! The Deployment and ReplicaSet controllers (1.32, `pkg/controller/
//! deployment` and `replicaset`), for what `kubectl apply` of a Deployment
//! and `kubectl rollout status` need: a Deployment's template gets its own
//! ReplicaSet (`<name>-<pod-template-hash>`, owned by the Deployment, the
//! hash label on its selector and pods, `deployment.kubernetes.io/revision`
//! counted up), scaled to the Deployment's replicas while the older ones go
//! to zero (at once, where a rolling update steps by `maxSurge` and
//! `maxUnavailable`), and a ReplicaSet keeps as many pods as it asks for.
//! Their statuses count the pods a node reports ready, with the
//! `Available` and `Progressing` conditions `kubectl rollout status`
//! reads. No kubelet runs here: a pod is ready when whatever node stands
//! in (the sandbox's simulated one) says so.

use serde_json::{Value, json};

use super::collector::Work;
use super::deletion::{BACKGROUND, DeleteOptions};
use super::pods::{deleting, ready};
use super::state::{Key, ObjectStore};

const DEPLOYMENT_COMPONENT: &str = "deployment-controller";
const REPLICA_SET_COMPONENT: &str = "replicaset-controller";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
/// How long a ReplicaSet whose pod could not be made waits to try again.
const CREATE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// The key of the `kind` (apps/v1) that `object`'s controller reference
/// names, in its namespace.
fn controller_key(key: &Key, object: &Value, kind: &str, plural: &str) -> Option<Key> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .filter(|r| r["kind"] == kind && r["apiVersion"] == "apps/v1")
        .and_then(|r| r["name"].as_str())
        .map(|name| Key {
            group: "apps".into(),
            plural: plural.into(),
            namespace: key.namespace.clone(),
            name: name.into(),
        })
}

fn controlled_by(object: &Value, uid: &Value) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["controller"] == true && &r["uid"] == uid)
}

fn active(pod: &Value) -> bool {
    !deleting(pod)
        && !matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded") | Some("Failed")
        )
}

fn count(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// A template's hash as the label carries it: FNV-1a over the template's
/// JSON (and the collision count), written in `rand.SafeEncodeString`'s
/// alphabet. The real controller hashes Go's printing of the struct, so
/// the value differs from a cluster's; what it is for (one ReplicaSet per
/// template) is the same.
fn template_hash(template: &Value, collisions: i64) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let text = format!("{template}{collisions}");
    for b in text.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|d| ALPHABET[usize::from(d) % ALPHABET.len()] as char)
        .collect()
}

/// A template without the hash label, to compare with a Deployment's.
fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, at: &str) -> Value {
    json!({"type": kind, "status": status, "lastUpdateTime": at, "lastTransitionTime": at,
        "reason": reason, "message": message})
}

/// Conditions keep their transition time while their status holds.
fn merge_condition(conditions: &mut Vec<Value>, new: Value) {
    match conditions.iter_mut().find(|c| c["type"] == new["type"]) {
        Some(old) if old["status"] == new["status"] && old["reason"] == new["reason"] => {}
        Some(old) if old["status"] == new["status"] => {
            let since = old["lastTransitionTime"].clone();
            *old = new;
            old["lastTransitionTime"] = since;
        }
        Some(old) => *old = new,
        None => conditions.push(new),
    }
}

impl ObjectStore {
    /// A write the Deployment and ReplicaSet controllers follow.
    pub(super) fn follow_deployment_controller(&mut self, key: &Key, object: &Value) {
        match (key.group.as_str(), key.plural.as_str()) {
            ("apps", "deployments") => self.queue_work(Work::Deployment(key.clone())),
            ("apps", "replicasets") => {
                self.queue_work(Work::ReplicaSet(key.clone()));
                if let Some(owner) = controller_key(key, object, "Deployment", "deployments") {
                    self.queue_work(Work::Deployment(owner));
                }
            }
            ("", "pods") => {
                if let Some(owner) = controller_key(key, object, "ReplicaSet", "replicasets") {
                    self.queue_work(Work::ReplicaSet(owner));
                }
            }
            _ => {}
        }
    }

    /// The `group`/`plural` objects whose controller is the object with
    /// `uid` (the garbage collector's owner index finds them).
    fn owned(&self, namespace: &str, plural: &str, group: &str, uid: &Value) -> Vec<(Key, Value)> {
        self.dependent_keys(uid.as_str().unwrap_or_default())
            .into_iter()
            .filter(|k| k.group == group && k.plural == plural && k.namespace == namespace)
            .filter_map(|k| {
                let o = self.objects_get(&k)?;
                controlled_by(&o, uid).then_some((k, o))
            })
            .collect()
    }

    /// `syncDeployment`: the ReplicaSet of the current template made (or
    /// found) and scaled, the others scaled to zero, the status counted.
    pub(super) fn sync_deployment(&mut self, key: &Key) {
        let Some(deployment) = self.objects_get(key) else {
            return;
        };
        if deleting(&deployment) {
            return;
        }
        let Some(rs_resource) = self.resource("apps", "v1", "replicasets").cloned() else {
            return;
        };
        let uid = deployment["metadata"]["uid"].clone();
        let owned = self.owned(&key.namespace, "replicasets", "apps", &uid);
        let template = &deployment["spec"]["template"];
        let replicas = count(&deployment, "/spec/replicas");
        let current = owned
            .iter()
            .find(|(_, rs)| without_hash(&rs["spec"]["template"]) == *template)
            .cloned();
        let revision = |rs: &Value| {
            rs["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|r| r.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let mut events = vec![];
        let paused = deployment["spec"]["paused"] == true;
        if paused && current.is_none() {
            // A paused Deployment makes no ReplicaSet for a new template;
            // the one that runs its pods follows its replica count.
            let active = owned
                .iter()
                .filter(|(_, rs)| count(rs, "/spec/replicas") > 0)
                .max_by_key(|(_, rs)| revision(rs))
                .cloned();
            if let Some((rs_key, rs)) = active
                && count(&rs, "/spec/replicas") != replicas
            {
                let mut next = rs.clone();
                next["spec"]["replicas"] = json!(replicas);
                self.write_as_controller(&rs_key, next);
            }
            self.deployment_status(key, "");
            return;
        }
        let new_rs = match current {
            Some((rs_key, rs)) => {
                // An older template back again (`kubectl rollout undo`)
                // takes the next revision, as `SetNewReplicaSetAnnotations`
                // gives it.
                let newest_other = owned
                    .iter()
                    .filter(|(k, _)| k.name != rs_key.name)
                    .map(|(_, other)| revision(other))
                    .max()
                    .unwrap_or(0);
                let mut next = rs.clone();
                if revision(&rs) <= newest_other {
                    next["metadata"]["annotations"][REVISION] =
                        json!((newest_other + 1).to_string());
                }
                if count(&rs, "/spec/replicas") != replicas {
                    next["spec"]["replicas"] = json!(replicas);
                    if self.write_as_controller(&rs_key, next) {
                        events.push(format!(
                            "Scaled {} replica set {} from {} to {replicas}",
                            if count(&rs, "/spec/replicas") < replicas {
                                "up"
                            } else {
                                "down"
                            },
                            rs_key.name,
                            count(&rs, "/spec/replicas")
                        ));
                    }
                } else if next != rs {
                    self.write_as_controller(&rs_key, next);
                }
                rs_key.name
            }
            None => {
                let collisions = count(&deployment, "/status/collisionCount");
                let hash = template_hash(template, collisions);
                let name = format!(
                    "{}-{hash}",
                    deployment["metadata"]["name"].as_str().unwrap_or_default()
                );
                let next_revision = owned.iter().map(|(_, rs)| revision(rs)).max().unwrap_or(0) + 1;
                let mut rs_template = template.clone();
                rs_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
                let mut selector = deployment["spec"]["selector"].clone();
                selector["matchLabels"][HASH_LABEL] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": name,
                        "namespace": key.namespace,
                        "labels": rs_template["metadata"]["labels"],
                        "annotations": {
                            REVISION: next_revision.to_string(),
                            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        },
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                            "name": deployment["metadata"]["name"], "uid": uid,
                            "controller": true, "blockOwnerDeletion": true}],
                    },
                    "spec": {
                        "replicas": replicas,
                        "minReadySeconds": count(&deployment, "/spec/minReadySeconds"),
                        "selector": selector,
                        "template": rs_template,
                    },
                });
                let created = self
                    .serving(super::namespace_defaults::controller_manager(), |s| {
                        s.create(&rs_resource, &key.namespace, rs)
                    })
                    .0;
                if created.is_err() {
                    return;
                }
                events.push(format!("Scaled up replica set {name} from 0 to {replicas}"));
                name
            }
        };
        for (rs_key, rs) in owned.iter().filter(|_| !paused) {
            if rs_key.name != new_rs && count(rs, "/spec/replicas") != 0 {
                let mut next = rs.clone();
                next["spec"]["replicas"] = json!(0);
                if self.write_as_controller(rs_key, next) {
                    events.push(format!(
                        "Scaled down replica set {} from {} to 0",
                        rs_key.name,
                        count(rs, "/spec/replicas")
                    ));
                }
            }
        }
        if let Some(deployment) = self.objects_get(key) {
            for message in events {
                self.record_event(
                    &deployment,
                    DEPLOYMENT_COMPONENT,
                    "Normal",
                    "ScalingReplicaSet",
                    &message,
                );
            }
            // `SetDeploymentRevision`: the Deployment carries its current
            // ReplicaSet's revision (`kubectl rollout undo` patches it).
            let rs_key = Key {
                group: "apps".into(),
                plural: "replicasets".into(),
                namespace: key.namespace.clone(),
                name: new_rs.clone(),
            };
            let current = self
                .objects_get(&rs_key)
                .map(|rs| rs["metadata"]["annotations"][REVISION].clone());
            if let Some(current) = current.filter(|r| !r.is_null())
                && deployment["metadata"]["annotations"][REVISION] != current
            {
                let mut next = deployment;
                next["metadata"]["annotations"][REVISION] = current;
                self.write_as_controller(key, next);
            }
        }
        self.deployment_status(key, &new_rs);
    }

    /// `syncDeploymentStatus` with the conditions `kubectl rollout status`
    /// reads.
    fn deployment_status(&mut self, key: &Key, new_rs: &str) {
        let Some(deployment) = self.objects_get(key) else {
            return;
        };
        let uid = deployment["metadata"]["uid"].clone();
        let owned = self.owned(&key.namespace, "replicasets", "apps", &uid);
        let sum = |pointer: &str| owned.iter().map(|(_, rs)| count(rs, pointer)).sum::<i64>();
        let replicas = count(&deployment, "/spec/replicas");
        let updated = owned
            .iter()
            .find(|(k, _)| k.name == new_rs)
            .map_or(0, |(_, rs)| count(rs, "/status/replicas"));
        let available = sum("/status/availableReplicas");
        let total = sum("/status/replicas");
        let max_unavailable = match &deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"]
        {
            Value::String(p) => p
                .strip_suffix('%')
                .and_then(|p| p.parse::<i64>().ok())
                .map_or(0, |p| replicas * p / 100),
            other => other.as_i64().unwrap_or(0),
        };
        let at = kbind_model::time::rfc3339(self.now_millis());
        let mut conditions: Vec<Value> = deployment["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        merge_condition(
            &mut conditions,
            if available >= replicas - max_unavailable {
                condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    &at,
                )
            } else {
                condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    &at,
                )
            },
        );
        let complete = updated == replicas && available == replicas && total == replicas;
        let was_paused = conditions
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "DeploymentPaused");
        merge_condition(
            &mut conditions,
            if deployment["spec"]["paused"] == true {
                condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentPaused",
                    "Deployment is paused",
                    &at,
                )
            } else if was_paused {
                condition(
                    "Progressing",
                    "True",
                    "DeploymentResumed",
                    "Deployment is resumed",
                    &at,
                )
            } else if complete {
                condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{new_rs}\" has successfully progressed."),
                    &at,
                )
            } else {
                condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{new_rs}\" is progressing."),
                    &at,
                )
            },
        );
        let mut status = json!({
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": sum("/status/readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": (replicas - available).max(0),
            "conditions": conditions,
        });
        if let Some(map) = status.as_object_mut() {
            // Go leaves zero counters out.
            map.retain(|_, v| v != &json!(0));
        }
        // A status write that changes nothing but times is not made.
        let strip = |s: &Value| {
            let mut s = s.clone();
            for c in s["conditions"].as_array_mut().into_iter().flatten() {
                if let Some(c) = c.as_object_mut() {
                    c.remove("lastUpdateTime");
                    c.remove("lastTransitionTime");
                }
            }
            s
        };
        if strip(&status) == strip(&deployment["status"]) {
            return;
        }
        let mut next = deployment;
        next["status"] = status;
        self.write_status_as_controller(key, next);
    }

    /// `syncReplicaSet`: as many active pods as it asks for, made from its
    /// template or deleted, newest first; its status counted.
    pub(super) fn sync_replica_set(&mut self, key: &Key) {
        let Some(rs) = self.objects_get(key) else {
            return;
        };
        if deleting(&rs) {
            return;
        }
        let Some(pods_resource) = self.resource("", "v1", "pods").cloned() else {
            return;
        };
        let uid = rs["metadata"]["uid"].clone();
        let mut pods: Vec<(Key, Value)> = self
            .owned(&key.namespace, "pods", "", &uid)
            .into_iter()
            .filter(|(_, p)| active(p))
            .collect();
        let wanted = count(&rs, "/spec/replicas");
        let have = i64::try_from(pods.len()).unwrap_or(i64::MAX);
        let name = rs["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut events = vec![];
        let mut failure: Option<String> = None;
        if have < wanted {
            let template = &rs["spec"]["template"];
            for _ in have..wanted {
                let mut metadata = json!({
                    "generateName": format!("{name}-"),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                        "uid": uid, "controller": true, "blockOwnerDeletion": true}],
                });
                for field in ["labels", "annotations"] {
                    if template["metadata"][field].is_object() {
                        metadata[field] = template["metadata"][field].clone();
                    }
                }
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                    "spec": template["spec"].clone()});
                match self
                    .serving(super::namespace_defaults::controller_manager(), |s| {
                        s.create(&pods_resource, &key.namespace, pod)
                    })
                    .0
                {
                    Ok(created) => events.push((
                        "Normal",
                        "SuccessfulCreate",
                        format!(
                            "Created pod: {}",
                            created["metadata"]["name"].as_str().unwrap_or_default()
                        ),
                    )),
                    Err(e) => {
                        events.push((
                            "Warning",
                            "FailedCreate",
                            format!("Error creating: {}", e.message),
                        ));
                        failure = Some(e.message);
                        // Tried again later, as the controller's rate-limited
                        // queue does (a missing ServiceAccount made since …).
                        self.queue_work_at(
                            Work::ReplicaSet(key.clone()),
                            std::time::Instant::now() + CREATE_RETRY,
                        );
                        break;
                    }
                }
            }
        } else if have > wanted {
            pods.sort_by(|a, b| {
                b.1["metadata"]["creationTimestamp"]
                    .as_str()
                    .cmp(&a.1["metadata"]["creationTimestamp"].as_str())
            });
            let excess = usize::try_from(have - wanted).unwrap_or(0);
            for (pod_key, pod) in pods.drain(..excess) {
                let options = DeleteOptions {
                    uid: pod["metadata"]["uid"].as_str().map(str::to_string),
                    ..BACKGROUND.clone()
                };
                let deleted = self
                    .serving(super::namespace_defaults::controller_manager(), |s| {
                        s.delete_with(&pods_resource, &pod_key.namespace, &pod_key.name, &options)
                            .is_ok()
                    })
                    .0;
                if deleted {
                    events.push((
                        "Normal",
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", pod_key.name),
                    ));
                }
            }
        }
        for (type_, reason, message) in events {
            self.record_event(&rs, REPLICA_SET_COMPONENT, type_, reason, &message);
        }
        let pods: Vec<Value> = self
            .owned(&key.namespace, "pods", "", &uid)
            .into_iter()
            .map(|(_, p)| p)
            .filter(active)
            .collect();
        let n = |f: &dyn Fn(&Value) -> bool| {
            i64::try_from(pods.iter().filter(|p| f(p)).count()).unwrap_or(0)
        };
        let mut status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": pods.len(),
            "readyReplicas": n(&ready),
            "availableReplicas": n(&ready),
            "observedGeneration": rs["metadata"]["generation"],
        });
        if let Some(map) = status.as_object_mut() {
            map.retain(|k, v| k == "replicas" || v != &json!(0));
        }
        let Some(current) = self.objects_get(key) else {
            return;
        };
        // `ReplicaFailure` while pods cannot be made, gone once they can.
        if let Some(message) = failure {
            let at = kbind_model::time::rfc3339(self.now_millis());
            let since = current["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "ReplicaFailure"))
                .map_or(json!(at), |c| c["lastTransitionTime"].clone());
            status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True",
                "lastTransitionTime": since, "reason": "FailedCreate", "message": message}]);
        }
        if current["status"] == status {
            return;
        }
        let mut next = current;
        next["status"] = status;
        self.write_status_as_controller(key, next);
    }

    fn write_as_controller(&mut self, key: &Key, object: Value) -> bool {
        self.serving(super::namespace_defaults::controller_manager(), |s| {
            s.resource_of(key).is_some_and(|r| {
                s.update(&r, &key.namespace, &key.name, object, false)
                    .is_ok()
            })
        })
        .0
    }

    fn write_status_as_controller(&mut self, key: &Key, object: Value) {
        self.serving(super::namespace_defaults::controller_manager(), |s| {
            if let Some(r) = s.resource_of(key) {
                let _ = s.update(&r, &key.namespace, &key.name, object, true);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_templates_hash_is_stable_and_changes_with_it() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}});
        let mut b = a.clone();
        b["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_eq!(template_hash(&a, 0), template_hash(&a, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&b, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&a, 1));
        assert!(
            template_hash(&a, 0)
                .bytes()
                .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c))
        );
    }
}

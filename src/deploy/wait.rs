//! Readiness, as Helm's `kube/ready.go` and kstatus define it, and the early
//! failures (a pod that cannot pull its image, crashes, a failed Job) that
//! make waiting pointless.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::Cluster;
use super::objects::ObjectId;
use super::DeployError;

/// What the live state says about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Ready.
    Ready,
    /// Not yet; why.
    Pending(String),
    /// Failed for good; why.
    Failed(String),
}

fn int(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

fn condition<'a>(value: &'a Value, kind: &str) -> Option<&'a Value> {
    value
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn condition_true(value: &Value, kind: &str) -> bool {
    condition(value, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

/// Whether a condition type is `True` (explicit wait targets).
pub fn condition_state(live: &Value, kind: &str) -> Readiness {
    match condition(live, kind) {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => Readiness::Ready,
        Some(c) => Readiness::Pending(format!(
            "condition {kind} is {}{}",
            c.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
            c.get("message")
                .and_then(Value::as_str)
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        )),
        None => Readiness::Pending(format!("no condition {kind} yet")),
    }
}

/// The readiness of a live object by its kind's rule.
pub fn readiness(kind: &str, live: &Value) -> Readiness {
    let generation = int(live, "/metadata/generation").unwrap_or(0);
    let observed = int(live, "/status/observedGeneration");
    let stale = |observed: Option<i64>| match observed {
        Some(seen) => seen < generation,
        None => generation > 0,
    };
    let pending = |text: String| Readiness::Pending(text);
    match kind {
        "Deployment" => {
            if live.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
                return Readiness::Ready;
            }
            if stale(observed) {
                return pending("the controller has not seen the latest spec".into());
            }
            let want = int(live, "/spec/replicas").unwrap_or(1);
            let updated = int(live, "/status/updatedReplicas").unwrap_or(0);
            let available = int(live, "/status/availableReplicas").unwrap_or(0);
            if updated < want {
                return pending(format!("{updated} of {want} replicas updated"));
            }
            if available < want {
                return pending(format!("{available} of {want} replicas available"));
            }
            Readiness::Ready
        }
        "StatefulSet" => {
            if stale(observed) {
                return pending("the controller has not seen the latest spec".into());
            }
            let want = int(live, "/spec/replicas").unwrap_or(1);
            let partition = int(live, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
            let updated = int(live, "/status/updatedReplicas").unwrap_or(0);
            let ready = int(live, "/status/readyReplicas").unwrap_or(0);
            if updated < want - partition {
                return pending(format!(
                    "{updated} of {} replicas updated",
                    want - partition
                ));
            }
            if ready < want {
                return pending(format!("{ready} of {want} replicas ready"));
            }
            Readiness::Ready
        }
        "DaemonSet" => {
            if stale(observed) {
                return pending("the controller has not seen the latest spec".into());
            }
            let want = int(live, "/status/desiredNumberScheduled").unwrap_or(0);
            let updated = int(live, "/status/updatedNumberScheduled").unwrap_or(0);
            let ready = int(live, "/status/numberReady").unwrap_or(0);
            if updated < want {
                return pending(format!("{updated} of {want} pods updated"));
            }
            if ready < want {
                return pending(format!("{ready} of {want} pods ready"));
            }
            Readiness::Ready
        }
        "Job" => {
            if condition_true(live, "Failed") {
                let message = condition(live, "Failed")
                    .and_then(|c| c.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("the job failed");
                return Readiness::Failed(message.to_owned());
            }
            if condition_true(live, "Complete") {
                Readiness::Ready
            } else {
                pending("not complete".into())
            }
        }
        "PersistentVolumeClaim" => match live.pointer("/status/phase").and_then(Value::as_str) {
            Some("Bound") => Readiness::Ready,
            phase => pending(format!("phase {}", phase.unwrap_or("Pending"))),
        },
        "Service" => {
            let kind = live
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            if kind == "ExternalName" {
                return Readiness::Ready;
            }
            if kind == "LoadBalancer"
                && live
                    .pointer("/spec/externalIPs")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                && live
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            {
                return pending("no load balancer address yet".into());
            }
            Readiness::Ready
        }
        "CustomResourceDefinition" => {
            if condition_true(live, "Established") {
                Readiness::Ready
            } else {
                pending("not Established".into())
            }
        }
        "APIService" => {
            if condition_true(live, "Available") {
                Readiness::Ready
            } else {
                pending("not Available".into())
            }
        }
        "Pod" => {
            if live.pointer("/status/phase").and_then(Value::as_str) == Some("Succeeded")
                || condition_true(live, "Ready")
            {
                Readiness::Ready
            } else {
                match pod_failure(live) {
                    Some(reason) => Readiness::Failed(reason),
                    None => pending("not Ready".into()),
                }
            }
        }
        _ => {
            // kstatus: a Ready condition decides; otherwise current once observed.
            if observed.is_some() && stale(observed) {
                return pending("the controller has not seen the latest spec".into());
            }
            match condition(live, "Ready") {
                Some(_) if condition_true(live, "Ready") => Readiness::Ready,
                Some(_) => condition_state(live, "Ready"),
                None => Readiness::Ready,
            }
        }
    }
}

/// Kinds whose readiness deploy waits for.
pub fn has_rule(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "PersistentVolumeClaim"
            | "Service"
            | "CustomResourceDefinition"
            | "APIService"
            | "Pod"
    )
}

/// Waiting reasons that do not resolve by waiting.
const FATAL_WAITING: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "ErrImageNeverPull",
];

/// Why a pod cannot become ready, naming pod, container and image.
pub fn pod_failure(pod: &Value) -> Option<String> {
    let name = format!(
        "pod {}/{}",
        pod.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(""),
        pod.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    for list in ["initContainerStatuses", "containerStatuses"] {
        let Some(statuses) = pod
            .pointer(&format!("/status/{list}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for status in statuses {
            let Some(waiting) = status.pointer("/state/waiting") else {
                continue;
            };
            let reason = waiting.get("reason").and_then(Value::as_str).unwrap_or("");
            if FATAL_WAITING.contains(&reason) {
                let container = status.get("name").and_then(Value::as_str).unwrap_or("?");
                let image = status.get("image").and_then(Value::as_str).unwrap_or("?");
                let message = waiting
                    .get("message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                let restarts = status
                    .get("restartCount")
                    .and_then(Value::as_i64)
                    .filter(|n| *n > 0)
                    .map(|n| format!(" after {n} restart(s)"))
                    .unwrap_or_default();
                return Some(format!(
                    "{name} container {container} (image {image}): {reason}{restarts}{message}"
                ));
            }
        }
    }
    None
}

/// The label selector of a workload's pods (its `matchLabels`).
fn pod_selector(live: &Value) -> Option<Vec<(String, String)>> {
    let labels = live
        .pointer("/spec/selector/matchLabels")
        .or_else(|| {
            live.pointer("/spec/selector")
                .filter(|_| live.get("kind").and_then(Value::as_str) == Some("Job"))
        })
        .and_then(Value::as_object)?;
    let parts: Vec<(String, String)> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .collect();
    (!parts.is_empty()).then_some(parts)
}

/// Waits until every object is ready, failing early when a pod cannot start.
///
/// Each poll reads the pending objects with one list per kind and namespace (one GET where a
/// kind has a single object there) and the pods of a namespace with one list, matched to
/// their workloads here: the requests per poll grow with the kinds and namespaces waited
/// on, not with the objects.
pub async fn wait_ready(
    cluster: &Cluster,
    objects: &[(ObjectId, Option<String>)],
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<(), DeployError> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&(ObjectId, Option<String>)> = objects.iter().collect();
    let mut delay = Duration::from_millis(100);
    let mut last_reason: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let mut still = Vec::new();
        last_reason.clear();
        let live_objects = read_live(cluster, &pending).await?;
        let mut pods = Pods::default();
        for entry in pending {
            let (id, wanted) = entry;
            let live = live_objects.get(&key(id)).and_then(|m| m.get(&id.name));
            let state = match (live, wanted) {
                (None, _) => Readiness::Pending("it does not exist yet".into()),
                (Some(live), Some(cond)) => condition_state(live, cond),
                (Some(live), None) => readiness(&id.kind, live),
            };
            match state {
                Readiness::Ready => {}
                Readiness::Failed(reason) => {
                    let pod = match live {
                        Some(live) => pods.failure(cluster, id, live).await.ok().flatten(),
                        None => None,
                    };
                    let reason = match pod {
                        Some(pod) => format!("{reason}; {pod}"),
                        None => reason,
                    };
                    return Err(DeployError::Failed {
                        object: id.to_string(),
                        reason,
                    });
                }
                Readiness::Pending(reason) => {
                    if let Some(live) = live {
                        if let Some(failure) = pods.failure(cluster, id, live).await? {
                            return Err(DeployError::Failed {
                                object: id.to_string(),
                                reason: failure,
                            });
                        }
                    }
                    last_reason.push(format!("{id}: {reason}"));
                    still.push(entry);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if cancelled() {
            return Err(DeployError::Interrupted {
                component: pending[0].0.to_string(),
            });
        }
        if Instant::now() >= deadline {
            let (id, _) = pending[0];
            return Err(DeployError::Timeout {
                object: id.to_string(),
                seconds: timeout.as_secs(),
                reason: last_reason.join("; "),
            });
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    Ok(())
}

/// apiVersion, kind, namespace.
type Key = (String, String, Option<String>);

fn key(id: &ObjectId) -> Key {
    (
        id.api_version.clone(),
        id.kind.clone(),
        id.namespace.clone(),
    )
}

/// The live copies of `pending`, by kind and namespace, then name.
async fn read_live(
    cluster: &Cluster,
    pending: &[&(ObjectId, Option<String>)],
) -> Result<HashMap<Key, HashMap<String, Value>>, DeployError> {
    let mut groups: HashMap<Key, Vec<&ObjectId>> = HashMap::new();
    for (id, _) in pending {
        groups.entry(key(id)).or_default().push(id);
    }
    let mut out = HashMap::new();
    for (group, ids) in groups {
        let mut found = HashMap::new();
        if let [id] = ids.as_slice() {
            if let Some(live) = cluster.get(id).await? {
                found.insert(id.name.clone(), live);
            }
        } else {
            for live in cluster
                .list(&group.0, &group.1, group.2.as_deref(), "")
                .await?
            {
                if let Some(name) = live.pointer("/metadata/name").and_then(Value::as_str) {
                    found.insert(name.to_owned(), live);
                }
            }
        }
        out.insert(group, found);
    }
    Ok(out)
}

/// The pods of each namespace, listed once per poll when a workload needs them.
#[derive(Default)]
struct Pods {
    by_namespace: HashMap<Option<String>, Vec<Value>>,
}

impl Pods {
    /// The first fatal pod failure of a workload's pods.
    async fn failure(
        &mut self,
        cluster: &Cluster,
        id: &ObjectId,
        live: &Value,
    ) -> Result<Option<String>, DeployError> {
        if !matches!(
            id.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "Job"
        ) {
            return Ok(None);
        }
        let Some(selector) = pod_selector(live) else {
            return Ok(None);
        };
        if !self.by_namespace.contains_key(&id.namespace) {
            let pods = cluster
                .list("v1", "Pod", id.namespace.as_deref(), "")
                .await?;
            self.by_namespace.insert(id.namespace.clone(), pods);
        }
        let pods = self
            .by_namespace
            .get(&id.namespace)
            .map_or(&[][..], Vec::as_slice);
        Ok(pods
            .iter()
            .filter(|pod| selects(&selector, pod))
            .find_map(pod_failure))
    }
}

/// Whether every `key=value` of a selector is a label of the pod.
fn selects(selector: &[(String, String)], pod: &Value) -> bool {
    let labels = pod.pointer("/metadata/labels");
    selector.iter().all(|(k, v)| {
        labels
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .is_some_and(|l| l == v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_follow_helm_and_kstatus() {
        let deployment = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2}});
        assert!(
            matches!(readiness("Deployment", &deployment), Readiness::Pending(r) if r.contains("not seen"))
        );
        let deployment = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}});
        assert_eq!(
            readiness("Deployment", &deployment),
            Readiness::Pending("1 of 2 replicas available".into())
        );
        let job = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert_eq!(
            readiness("Job", &job),
            Readiness::Failed("BackoffLimitExceeded".into())
        );
        let crd = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(
            readiness("CustomResourceDefinition", &crd),
            Readiness::Ready
        );
        assert_eq!(readiness("ConfigMap", &json!({})), Readiness::Ready);
        let lb = json!({"spec": {"type": "LoadBalancer"}, "status": {}});
        assert!(matches!(readiness("Service", &lb), Readiness::Pending(_)));
    }

    #[test]
    fn pods_are_matched_to_their_workload_by_its_match_labels() {
        let deployment =
            json!({"spec": {"selector": {"matchLabels": {"app": "core", "tier": "a"}}}});
        let selector = pod_selector(&deployment).unwrap();
        let pod = |labels: Value| json!({"metadata": {"labels": labels}});
        assert!(selects(
            &selector,
            &pod(json!({"app": "core", "tier": "a", "x": "y"}))
        ));
        assert!(!selects(&selector, &pod(json!({"app": "core"}))));
        assert!(!selects(
            &selector,
            &pod(json!({"app": "core", "tier": "b"}))
        ));
        assert_eq!(pod_selector(&json!({"spec": {}})), None);
    }

    #[test]
    fn a_pod_that_cannot_pull_names_container_and_image() {
        let pod = json!({"metadata": {"namespace": "harbor", "name": "core-1"},
            "status": {"containerStatuses": [{"name": "core", "image": "h/core:1",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]}});
        assert_eq!(
            pod_failure(&pod).unwrap(),
            "pod harbor/core-1 container core (image h/core:1): ImagePullBackOff: not found"
        );
        let ok = json!({"status": {"containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(pod_failure(&ok), None);
    }
}

//! Applying one step's objects: CRDs first and Established, then the rest in
//! Helm's order, webhook configurations and APIServices once the Service
//! behind them has ready endpoints, Helm hooks around them. An object whose
//! live copy carries the same applied hash is not written again.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::cluster::Cluster;
use super::objects::{self, Object, ObjectId, LABEL_COMPONENT};
use super::wait;
use super::DeployError;

/// What applying did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Applied {
    /// Objects written.
    pub written: usize,
    /// Objects already as wanted.
    pub unchanged: usize,
    /// Hooks run.
    pub hooks: usize,
}

/// The live objects of a component, by id, read with one list per kind.
pub async fn live_index(
    cluster: &Cluster,
    component: &str,
    objects: &[&Object],
) -> Result<HashMap<ObjectId, Value>, DeployError> {
    let mut kinds: Vec<(String, String)> = objects
        .iter()
        .map(|o| (o.id.api_version.clone(), o.id.kind.clone()))
        .collect();
    kinds.sort();
    kinds.dedup();
    let mut index = HashMap::new();
    let selector = format!("{LABEL_COMPONENT}={component}");
    for (api_version, kind) in kinds {
        let listed = match cluster.list(&api_version, &kind, None, &selector).await {
            Ok(list) => list,
            // A kind whose CRD this very step installs is not served yet.
            Err(super::ClusterError::UnknownKind { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        for live in listed {
            let namespace = live
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let name = live
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            index.insert(
                ObjectId {
                    api_version: api_version.clone(),
                    kind: kind.clone(),
                    namespace,
                    name,
                },
                live,
            );
        }
    }
    Ok(index)
}

/// Puts each object's namespace right for the cluster (cluster-scoped kinds lose theirs).
/// A kind the cluster does not serve yet takes its scope from a CRD in `defining` (the step
/// installs it); one no CRD defines is left as written, and applying it names the missing kind.
pub async fn fix_scope(
    cluster: &Cluster,
    objects: &mut [Object],
    defining: &[Object],
) -> Result<(), DeployError> {
    for object in objects {
        if object.id.namespace.is_none() {
            continue;
        }
        let namespaced = match cluster.namespaced(&object.id).await {
            Ok(namespaced) => namespaced,
            Err(super::ClusterError::UnknownKind { .. }) => {
                match crd_scope(defining, object.id.group(), &object.id.kind) {
                    Some(namespaced) => namespaced,
                    None => continue,
                }
            }
            Err(e) => return Err(e.into()),
        };
        if !namespaced {
            object.clear_namespace();
        }
    }
    Ok(())
}

/// Whether a CRD among `objects` defines `group`/`kind` as namespaced (`None`: none defines it).
fn crd_scope(objects: &[Object], group: &str, kind: &str) -> Option<bool> {
    objects
        .iter()
        .filter(|o| o.id.kind == "CustomResourceDefinition")
        .find(|o| {
            o.body.pointer("/spec/group").and_then(Value::as_str) == Some(group)
                && o.body.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind)
        })
        .map(|o| o.body.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster"))
}

/// Applies one object unless the live copy already has its hash; returns whether it wrote.
pub async fn apply_one(
    cluster: &Cluster,
    object: &Object,
    live: Option<&Value>,
) -> Result<bool, DeployError> {
    if object.is_current(live) {
        return Ok(false);
    }
    cluster.apply(&object.id, &object.body, false).await?;
    Ok(true)
}

/// Waits for a Service to have at least one ready endpoint address.
async fn wait_endpoints(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<(), DeployError> {
    let id = ObjectId {
        api_version: "v1".to_owned(),
        kind: "Endpoints".to_owned(),
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
    };
    let started = std::time::Instant::now();
    loop {
        if let Some(live) = cluster.get(&id).await? {
            let ready = live
                .get("subsets")
                .and_then(Value::as_array)
                .is_some_and(|subsets| {
                    subsets.iter().any(|s| {
                        s.get("addresses")
                            .and_then(Value::as_array)
                            .is_some_and(|a| !a.is_empty())
                    })
                });
            if ready {
                return Ok(());
            }
        }
        if cancelled() {
            return Err(DeployError::Interrupted {
                component: format!("Service {namespace}/{name}"),
            });
        }
        if started.elapsed() >= timeout {
            return Err(DeployError::Timeout {
                object: format!("Service {namespace}/{name}"),
                seconds: timeout.as_secs(),
                reason: "no ready endpoints for the webhook or APIService behind it".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Applies a step's ordinary objects.
pub async fn apply_objects(
    cluster: &Cluster,
    objects: &[Object],
    live: &HashMap<ObjectId, Value>,
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
    applied: &mut Applied,
) -> Result<(), DeployError> {
    let (crds, rest): (Vec<&Object>, Vec<&Object>) = objects
        .iter()
        .partition(|o| o.id.kind == "CustomResourceDefinition");
    let mut new_crds = Vec::new();
    for crd in &crds {
        let live_copy = live.get(&crd.id);
        let written = apply_one(cluster, crd, live_copy).await?;
        if written {
            applied.written += 1;
        } else {
            applied.unchanged += 1;
        }
        // Wait for what was written, or is not yet Established.
        let established = live_copy.is_some_and(|l| {
            wait::readiness("CustomResourceDefinition", l) == wait::Readiness::Ready
        });
        if written || !established {
            new_crds.push((crd.id.clone(), None));
        }
    }
    if !new_crds.is_empty() {
        wait::wait_ready(cluster, &new_crds, timeout, cancelled).await?;
    }
    for object in rest {
        if cancelled() {
            return Err(DeployError::Interrupted {
                component: object.id.to_string(),
            });
        }
        let live_copy = live.get(&object.id);
        if objects::is_served_by_service(&object.id.kind) && !object.is_current(live_copy) {
            for (namespace, name) in objects::backing_services(object) {
                wait_endpoints(cluster, &namespace, &name, timeout, cancelled).await?;
            }
        }
        if apply_one(cluster, object, live_copy).await? {
            applied.written += 1;
        } else {
            applied.unchanged += 1;
        }
    }
    Ok(())
}

/// Runs the hooks of one event (`pre-install`, `post-upgrade`, ...) in weight order, as Helm does:
/// `before-hook-creation` deletes an old copy first, Jobs and Pods are waited for,
/// `hook-succeeded` / `hook-failed` delete afterwards.
pub async fn run_hooks(
    cluster: &Cluster,
    hooks: &[Object],
    event: &str,
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
    applied: &mut Applied,
) -> Result<(), DeployError> {
    let mut selected: Vec<&Object> = hooks
        .iter()
        .filter(|h| {
            h.hook
                .as_ref()
                .is_some_and(|h| h.events.iter().any(|e| e == event))
        })
        .collect();
    selected.sort_by_key(|h| h.hook.as_ref().map_or(0, |h| h.weight));
    for hook in selected {
        let policies = hook
            .hook
            .as_ref()
            .map(|h| h.delete_policies.clone())
            .unwrap_or_default();
        let has = |p: &str| policies.iter().any(|x| x == p);
        if has("before-hook-creation") {
            cluster.delete(&hook.id).await?;
            wait_gone(cluster, &hook.id, timeout).await?;
        }
        cluster.apply(&hook.id, &hook.body, false).await?;
        applied.hooks += 1;
        let outcome = if matches!(hook.id.kind.as_str(), "Job" | "Pod") {
            wait::wait_ready(cluster, &[(hook.id.clone(), None)], timeout, cancelled).await
        } else {
            Ok(())
        };
        match &outcome {
            Ok(()) if has("hook-succeeded") => cluster.delete(&hook.id).await?,
            Err(_) if has("hook-failed") => cluster.delete(&hook.id).await?,
            _ => {}
        }
        outcome.map_err(|e| DeployError::Step {
            component: format!("{event} hook"),
            step: hook.id.to_string(),
            cause: Box::new(e),
        })?;
    }
    Ok(())
}

async fn wait_gone(cluster: &Cluster, id: &ObjectId, timeout: Duration) -> Result<(), DeployError> {
    let started = std::time::Instant::now();
    while cluster.get(id).await?.is_some() {
        if started.elapsed() >= timeout {
            return Err(DeployError::Timeout {
                object: id.to_string(),
                seconds: timeout.as_secs(),
                reason: "the old hook object is still being deleted".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The objects of a step whose readiness is waited for.
pub fn wait_list(objects: &[Object]) -> Vec<(ObjectId, Option<String>)> {
    objects
        .iter()
        .filter(|o| wait::has_rule(&o.id.kind))
        .map(|o| (o.id.clone(), None))
        .collect()
}

//! `ferry deploy --diff`: what applying would change, object by object, as
//! the API server itself works it out (a server-side dry-run apply compared
//! with the live object).

use serde::Serialize;
use serde_json::Value;

use super::cluster::{Cluster, ClusterError, KubeconfigSource};
use super::plan::Plan;
use super::DeployError;

/// One object that would change.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectDiff {
    /// The component.
    pub component: String,
    /// The object.
    pub object: String,
    /// `create` or `change`.
    pub change: String,
    /// A unified diff of the live and the resulting object (YAML).
    pub diff: String,
}

/// Fields the server sets that say nothing about what was applied.
fn strip(mut value: Value) -> Value {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            meta.remove(key);
        }
    }
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    value
}

/// The objects of the plan that applying would create or change.
pub async fn diff(
    plan: &Plan,
    kubeconfig: &KubeconfigSource,
) -> Result<Vec<ObjectDiff>, DeployError> {
    let cluster = Cluster::connect(kubeconfig).await?;
    let mut out = Vec::new();
    for (component, _, object) in plan.objects() {
        if object.hook.is_some() {
            continue;
        }
        let mut object = object.clone();
        match cluster.namespaced(&object.id).await {
            Ok(false) => object.clear_namespace(),
            Ok(true) => {}
            // A kind an earlier step's CRD brings: it will be created.
            Err(ClusterError::UnknownKind { .. }) => {
                out.push(ObjectDiff {
                    component: component.to_owned(),
                    object: object.id.to_string(),
                    change: "create".into(),
                    diff: serde_norway::to_string(&object.body).unwrap_or_default(),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let live = cluster.get(&object.id).await?;
        let after = match cluster.apply(&object.id, &object.body, true).await {
            Ok(after) => after,
            // The namespace is created by an earlier step: the whole object is new.
            Err(e) if e.code() == Some(404) => object.body.clone(),
            Err(e) => return Err(e.into()),
        };
        let before_text = live
            .clone()
            .map(|l| serde_norway::to_string(&strip(l)).unwrap_or_default())
            .unwrap_or_default();
        let after_text = serde_norway::to_string(&strip(after)).unwrap_or_default();
        if before_text == after_text {
            continue;
        }
        let text = similar::TextDiff::from_lines(&before_text, &after_text)
            .unified_diff()
            .context_radius(3)
            .header("live", "applied")
            .to_string();
        out.push(ObjectDiff {
            component: component.to_owned(),
            object: object.id.to_string(),
            change: if live.is_some() { "change" } else { "create" }.into(),
            diff: text,
        });
    }
    Ok(out)
}

//! The deployment record in the cluster (namespace `ferry-system`): which
//! bundle is deployed, and per component its revision, status and the
//! inventory of objects applied. Each component revision's objects are kept
//! in a Secret of their own, so a rollback re-applies exactly them.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cluster::Cluster;
use super::objects::{Object, ObjectId, LABEL_COMPONENT};
use super::DeployError;

/// Namespace of ferry's records and lock.
pub const RECORD_NAMESPACE: &str = "ferry-system";
/// Name of the deployment record Secret.
const RECORD_NAME: &str = "ferry-deployment";
/// Revisions kept per component.
pub const HISTORY: i64 = 10;
/// The largest decoded record ferry reads back.
const MAX_RECORD: u64 = 64 << 20;

/// The bundle deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Bundle name.
    pub bundle: String,
    /// Bundle version.
    #[serde(default)]
    pub version: Option<String>,
    /// The bundle root digest.
    pub root: String,
    /// The lock's spec fingerprint.
    pub lock_fingerprint: String,
    /// `deploying`, `deployed`, `failed`, `interrupted`.
    pub status: String,
    /// When the last deploy started (RFC 3339).
    pub started: String,
    /// When it ended.
    #[serde(default)]
    pub finished: Option<String>,
    /// Where it stopped, when it did not finish.
    #[serde(default)]
    pub stopped_at: Option<String>,
    /// The render clock used (RFC 3339).
    pub render_clock: String,
    /// SHA-256 of the site seed (identifies it without revealing it).
    pub seed_fingerprint: String,
    /// Who ran the last deploy when not an operator's machine: the
    /// in-cluster unpacker's Job (`in-cluster job ferry-system/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_by: Option<String>,
    /// Per component, in deploy order.
    pub components: Vec<ComponentRecord>,
}

/// One component's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRecord {
    /// Component name.
    pub name: String,
    /// Component version.
    pub version: String,
    /// Revision (1 for the first deploy, +1 for each change or rollback).
    pub revision: i64,
    /// `deployed`, `failed`, `pending`.
    pub status: String,
    /// Why, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Objects applied (hooks not included).
    pub objects: Vec<ObjectId>,
    /// Helm releases: (name, namespace, Helm revision).
    #[serde(default)]
    pub releases: Vec<(String, String, i64)>,
}

impl DeploymentRecord {
    /// A component's entry.
    pub fn component(&self, name: &str) -> Option<&ComponentRecord> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Inserts or replaces a component's entry, keeping the order.
    pub fn put(&mut self, record: ComponentRecord) {
        match self.components.iter_mut().find(|c| c.name == record.name) {
            Some(slot) => *slot = record,
            None => self.components.push(record),
        }
    }
}

fn secret(name: &str) -> ObjectId {
    ObjectId {
        api_version: "v1".to_owned(),
        kind: "Secret".to_owned(),
        namespace: Some(RECORD_NAMESPACE.to_owned()),
        name: name.to_owned(),
    }
}

fn revision_name(component: &str, revision: i64) -> String {
    format!("ferry.component.{component}.v{revision}")
}

fn pack(value: &impl Serialize) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(&serde_json::to_vec(value).unwrap_or_default());
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap_or_default())
}

fn unpack<T: serde::de::DeserializeOwned>(name: &str, data: &str) -> Result<T, DeployError> {
    let bad = |detail: String| DeployError::Record {
        name: format!("{RECORD_NAMESPACE}/{name}"),
        detail,
    };
    let zipped = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| bad(format!("not base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .take(MAX_RECORD)
        .read_to_end(&mut json)
        .map_err(|e| bad(format!("not gzip: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| bad(format!("not a ferry record: {e}")))
}

/// Makes sure `ferry-system` exists.
pub async fn ensure_namespace(cluster: &Cluster) -> Result<(), DeployError> {
    let id = ObjectId {
        api_version: "v1".to_owned(),
        kind: "Namespace".to_owned(),
        namespace: None,
        name: RECORD_NAMESPACE.to_owned(),
    };
    // Read first: an unchanged redeploy writes nothing it does not have to.
    if cluster.get(&id).await?.is_some() {
        return Ok(());
    }
    let body =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RECORD_NAMESPACE}});
    cluster.apply(&id, &body, false).await?;
    Ok(())
}

/// Reads the deployment record, if there is one.
pub async fn read(cluster: &Cluster) -> Result<Option<DeploymentRecord>, DeployError> {
    let Some(found) = cluster.get(&secret(RECORD_NAME)).await? else {
        return Ok(None);
    };
    let data = found
        .pointer("/data/record")
        .and_then(Value::as_str)
        .ok_or_else(|| DeployError::Record {
            name: format!("{RECORD_NAMESPACE}/{RECORD_NAME}"),
            detail: "it holds no record".into(),
        })?;
    unpack(RECORD_NAME, data).map(Some)
}

/// Writes the deployment record (one Secret, replaced whole).
pub async fn write(cluster: &Cluster, record: &DeploymentRecord) -> Result<(), DeployError> {
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": RECORD_NAME,
            "namespace": RECORD_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "ferry", "ferry.dev/status": record.status},
            "annotations": {"ferry.dev/bundle": format!("{} {}", record.bundle, record.version.clone().unwrap_or_default()), "ferry.dev/root": record.root},
        },
        "type": "ferry.dev/deployment.v1",
        "data": {"record": pack(record)},
    });
    cluster.apply(&secret(RECORD_NAME), &body, false).await?;
    Ok(())
}

/// What a component revision holds: its objects and its Helm releases.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionData {
    /// The objects applied (hooks not included).
    pub objects: Vec<Object>,
    /// Helm releases: (name, namespace, Helm revision).
    pub releases: Vec<(String, String, i64)>,
}

/// Stores a component revision (for rollback) and drops revisions beyond [`HISTORY`].
pub async fn write_revision(
    cluster: &Cluster,
    component: &str,
    revision: i64,
    data: &RevisionData,
) -> Result<(), DeployError> {
    let name = revision_name(component, revision);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": RECORD_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "ferry", LABEL_COMPONENT: component, "ferry.dev/revision": revision.to_string()},
        },
        "type": "ferry.dev/component.v1",
        "data": {"objects": pack(data)},
    });
    cluster.apply(&secret(&name), &body, false).await?;
    if revision > HISTORY {
        cluster
            .delete(&secret(&revision_name(component, revision - HISTORY)))
            .await?;
    }
    Ok(())
}

/// Reads a component revision.
pub async fn read_revision(
    cluster: &Cluster,
    component: &str,
    revision: i64,
) -> Result<Option<RevisionData>, DeployError> {
    let name = revision_name(component, revision);
    let Some(found) = cluster.get(&secret(&name)).await? else {
        return Ok(None);
    };
    let data = found
        .pointer("/data/objects")
        .and_then(Value::as_str)
        .ok_or_else(|| DeployError::Record {
            name: format!("{RECORD_NAMESPACE}/{name}"),
            detail: "it holds no objects".into(),
        })?;
    unpack(&name, data).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_packs_small_and_reads_back() {
        let mut record = DeploymentRecord {
            bundle: "k-paas".into(),
            status: "deployed".into(),
            ..Default::default()
        };
        for i in 0..2000 {
            record.put(ComponentRecord {
                name: format!("c{}", i % 20),
                revision: 1,
                objects: (0..30)
                    .map(|n| ObjectId {
                        api_version: "apps/v1".into(),
                        kind: "Deployment".into(),
                        namespace: Some("platform".into()),
                        name: format!("workload-{n}"),
                    })
                    .collect(),
                ..Default::default()
            });
        }
        assert_eq!(record.components.len(), 20);
        let packed = pack(&record);
        assert!(packed.len() < 64 << 10, "{} bytes", packed.len());
        let back: DeploymentRecord = unpack("x", &packed).unwrap();
        assert_eq!(back, record);
        assert!(unpack::<DeploymentRecord>("x", "AAAA").is_err());
    }
}

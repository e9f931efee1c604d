//! Chart releases recorded in Helm's own storage format, so that `helm list`,
//! `helm history`, `helm get manifest`, `helm rollback` and `helm uninstall`
//! work on what ferry installed, and a release Helm installed is continued.
//!
//! Helm 3's Secret driver keeps revision N of release R in namespace NS as the
//! Secret `NS/sh.helm.release.v1.R.vN`, type `helm.sh/release.v1`, labelled
//! `name=R, owner=helm, status=<status>, version=N`, whose `release` key holds
//! base64 of gzip of the release as JSON.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use serde_json::{json, Value};

use super::cluster::Cluster;
use super::objects::{ObjectId, LABEL_COMPONENT};
use super::plan::{Release, StepPlan};
use super::DeployError;

/// The largest decoded release ferry reads back.
const MAX_RELEASE_JSON: u64 = 64 << 20;

/// A release revision read from the cluster.
#[derive(Clone, Debug)]
pub struct Revision {
    /// Revision number.
    pub version: i64,
    /// `deployed`, `superseded`, `failed`, `pending-install`, ...
    pub status: String,
    /// The release JSON.
    pub release: Value,
    /// Whether ferry wrote it.
    pub by_ferry: bool,
}

impl Revision {
    /// Whether this revision makes the release installed (a later deploy upgrades it).
    pub fn is_installed(&self) -> bool {
        matches!(self.status.as_str(), "deployed" | "superseded")
    }
}

/// The Secret holding revision `version` of a release.
pub fn secret_id(name: &str, namespace: &str, version: i64) -> ObjectId {
    ObjectId {
        api_version: "v1".to_owned(),
        kind: "Secret".to_owned(),
        namespace: Some(namespace.to_owned()),
        name: format!("sh.helm.release.v1.{name}.v{version}"),
    }
}

/// Every revision of a release, oldest first.
pub async fn revisions(
    cluster: &Cluster,
    name: &str,
    namespace: &str,
) -> Result<Vec<Revision>, DeployError> {
    let secrets = cluster
        .list(
            "v1",
            "Secret",
            Some(namespace),
            &format!("owner=helm,name={name}"),
        )
        .await?;
    let mut out = Vec::new();
    for secret in secrets {
        let secret_name = secret
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let bad = |detail: String| DeployError::Record {
            name: format!("{namespace}/{secret_name}"),
            detail,
        };
        let data = secret
            .pointer("/data/release")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("it holds no release".into()))?;
        let release = decode(data).map_err(bad)?;
        let version = release.get("version").and_then(Value::as_i64).unwrap_or(0);
        let status = release
            .pointer("/info/status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let by_ferry = secret
            .pointer(&format!(
                "/metadata/labels/{}",
                LABEL_COMPONENT.replace('/', "~1")
            ))
            .is_some();
        out.push(Revision {
            version,
            status,
            release,
            by_ferry,
        });
    }
    out.sort_by_key(|r| r.version);
    Ok(out)
}

/// Decodes a Secret's `release` value (Kubernetes base64, then Helm's base64 of gzip of JSON).
pub fn decode(data: &str) -> Result<Value, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let outer = engine
        .decode(data)
        .map_err(|e| format!("not base64: {e}"))?;
    let inner = engine
        .decode(&outer)
        .map_err(|e| format!("not Helm's base64: {e}"))?;
    let mut json = Vec::new();
    if inner.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&inner[..])
            .take(MAX_RELEASE_JSON)
            .read_to_end(&mut json)
            .map_err(|e| format!("not gzip: {e}"))?;
    } else {
        json = inner;
    }
    serde_json::from_slice(&json).map_err(|e| format!("not a release: {e}"))
}

/// Encodes a release as a Secret's `release` value.
pub fn encode(release: &Value) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let json = serde_json::to_vec(release).unwrap_or_default();
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(&json);
    let zipped = gz.finish().unwrap_or_default();
    engine.encode(engine.encode(zipped))
}

/// The release JSON Helm stores for a revision.
pub fn release_json(
    release: &Release,
    step: &StepPlan,
    version: i64,
    status: &str,
    first_deployed: &str,
    now: &str,
    description: &str,
) -> Value {
    let hooks: Vec<Value> = step
        .hooks
        .iter()
        .filter_map(|h| {
            let hook = h.hook.as_ref()?;
            Some(json!({
                "name": h.id.name,
                "kind": h.id.kind,
                "path": h.source,
                "manifest": serde_norway::to_string(&h.body).unwrap_or_default(),
                "events": hook.events,
                "last_run": {"started_at": "0001-01-01T00:00:00Z", "completed_at": "0001-01-01T00:00:00Z", "phase": ""},
                "weight": hook.weight,
                "delete_policies": hook.delete_policies,
            }))
        })
        .collect();
    json!({
        "name": release.name,
        "info": {
            "first_deployed": first_deployed,
            "last_deployed": now,
            "deleted": "",
            "description": description,
            "status": status,
        },
        "chart": {
            "metadata": release.chart_metadata,
            "lock": null,
            "templates": [],
            "values": release.chart_values,
            "schema": null,
            "files": [],
        },
        "config": if release.values.is_null() { json!({}) } else { release.values.clone() },
        "manifest": release.manifest,
        "hooks": hooks,
        "version": version,
        "namespace": release.namespace,
    })
}

/// Writes (creates or overwrites) the Secret of a revision.
pub async fn write(
    cluster: &Cluster,
    release: &Value,
    component: &str,
    now_unix: i64,
) -> Result<(), DeployError> {
    let name = release
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = release
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let version = release.get("version").and_then(Value::as_i64).unwrap_or(1);
    let status = release
        .pointer("/info/status")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let id = secret_id(name, namespace, version);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": id.name,
            "namespace": namespace,
            "labels": {
                "name": name,
                "owner": "helm",
                "status": status,
                "version": version.to_string(),
                "modifiedAt": now_unix.to_string(),
                LABEL_COMPONENT: component,
            },
        },
        "type": "helm.sh/release.v1",
        "data": {"release": encode(release)},
    });
    cluster.apply(&id, &body, false).await?;
    Ok(())
}

/// Sets the status of an existing revision (e.g. `superseded`).
pub async fn set_status(
    cluster: &Cluster,
    revision: &Revision,
    status: &str,
    component: &str,
    now_unix: i64,
) -> Result<(), DeployError> {
    let mut release = revision.release.clone();
    if let Some(info) = release.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("status".to_owned(), Value::String(status.to_owned()));
    }
    write(cluster, &release, component, now_unix).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_helm_does_and_reads_it_back() {
        let release = json!({"name": "harbor", "version": 3, "info": {"status": "deployed"}});
        let data = encode(&release);
        let engine = base64::engine::general_purpose::STANDARD;
        let inner = engine.decode(engine.decode(&data).unwrap()).unwrap();
        assert_eq!(&inner[..2], &[0x1f, 0x8b], "gzip inside Helm's base64");
        assert_eq!(decode(&data).unwrap(), release);
        assert!(decode("!!").unwrap_err().contains("not base64"));
    }
}

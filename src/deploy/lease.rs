//! One deploy at a time per cluster: a `coordination.k8s.io/v1` Lease in
//! `ferry-system`, renewed while the deploy runs. A holder that died stops
//! renewing and the lease expires; a holder on this host whose process is
//! gone is taken over at once.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::cluster::Cluster;
use super::objects::ObjectId;
use super::record::RECORD_NAMESPACE;
use super::DeployError;

/// Lease name.
const LEASE_NAME: &str = "ferry-deploy";
/// Seconds a lease lasts without renewal.
pub const LEASE_SECONDS: i64 = 60;
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(15);

fn lease_id() -> ObjectId {
    ObjectId {
        api_version: "coordination.k8s.io/v1".to_owned(),
        kind: "Lease".to_owned(),
        namespace: Some(RECORD_NAMESPACE.to_owned()),
        name: LEASE_NAME.to_owned(),
    }
}

/// This process's holder identity: `host/pid`.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".to_owned());
    format!("{host}/{}", std::process::id())
}

fn this_host() -> String {
    identity()
        .rsplit_once('/')
        .map(|(h, _)| h.to_owned())
        .unwrap_or_default()
}

/// Whether a holder on this host has no living process.
fn dead_here(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once('/') else {
        return false;
    };
    host == this_host()
        && pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

fn body(holder: &str, acquired: &str, resource_version: Option<&str>) -> Value {
    let mut metadata = json!({"name": LEASE_NAME, "namespace": RECORD_NAMESPACE});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = Value::String(rv.to_owned());
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": acquired,
            "renewTime": micro_time(SystemTime::now()),
        },
    })
}

/// Takes the lease, or says who holds it.
pub async fn acquire(cluster: &Cluster, holder: &str) -> Result<(), DeployError> {
    let id = lease_id();
    let now = micro_time(SystemTime::now());
    match cluster.get(&id).await? {
        None => match cluster.create(&id, &body(holder, &now, None)).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(409) => Err(locked(
                "another deploy took it just now".into(),
                LEASE_SECONDS,
            )),
            Err(e) => Err(e.into()),
        },
        Some(live) => {
            let current = live
                .pointer("/spec/holderIdentity")
                .and_then(Value::as_str)
                .unwrap_or("");
            let renewed = live
                .pointer("/spec/renewTime")
                .and_then(Value::as_str)
                .and_then(crate::clock::parse_rfc3339)
                .unwrap_or(0);
            let duration = live
                .pointer("/spec/leaseDurationSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(LEASE_SECONDS);
            let left = renewed + duration - unix_now();
            if !current.is_empty() && current != holder && left > 0 && !dead_here(current) {
                let since = live
                    .pointer("/spec/acquireTime")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                return Err(locked(format!("held by {current} since {since}"), left));
            }
            let rv = live
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str);
            match cluster.replace(&id, &body(holder, &now, rv)).await {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(409) => Err(locked(
                    "another deploy took it just now".into(),
                    LEASE_SECONDS,
                )),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Renews the lease (the holder keeps it).
pub async fn renew(cluster: &Cluster, holder: &str) -> Result<(), DeployError> {
    let id = lease_id();
    let live = cluster.get(&id).await?;
    let acquired = live
        .as_ref()
        .and_then(|l| l.pointer("/spec/acquireTime"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| micro_time(SystemTime::now()));
    let rv = live
        .as_ref()
        .and_then(|l| l.pointer("/metadata/resourceVersion"))
        .and_then(Value::as_str);
    cluster.replace(&id, &body(holder, &acquired, rv)).await?;
    Ok(())
}

/// Gives the lease up.
pub async fn release(cluster: &Cluster) -> Result<(), DeployError> {
    cluster.delete(&lease_id()).await?;
    Ok(())
}

fn locked(holder: String, expires_in: i64) -> DeployError {
    DeployError::Locked {
        namespace: RECORD_NAMESPACE.to_owned(),
        name: LEASE_NAME.to_owned(),
        holder,
        expires_in,
    }
}

pub use crate::clock::{micro_time, unix_now};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_holder_on_this_host_is_taken_over() {
        let host = this_host();
        assert!(dead_here(&format!("{host}/4000000000")));
        assert!(!dead_here(&identity()));
        assert!(!dead_here("other-host/1"));
    }
}

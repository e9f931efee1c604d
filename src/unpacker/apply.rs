//! `ferry deploy --in-cluster` against a cluster: the unpacker's objects
//! applied server-side (the same client and field manager as deploy), and
//! the Job followed to its end.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::deploy::{Cluster, ClusterError, KubeconfigSource, Object, RECORD_NAMESPACE};

/// What applying did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Applied {
    /// The API server.
    pub server: String,
    /// Each object applied (`Kind namespace/name`).
    pub objects: Vec<String>,
}

/// How the Job ended.
#[derive(Clone, Debug, serde::Serialize)]
pub struct JobOutcome {
    /// The Job.
    pub job: String,
    /// `Complete` or `Failed`.
    pub condition: String,
    /// The condition's reason and message.
    pub message: String,
}

/// Errors of the in-cluster path.
#[derive(Debug, thiserror::Error)]
pub enum InClusterError {
    /// The cluster refused or failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// An object is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The Job failed.
    #[error("the unpacker Job {RECORD_NAMESPACE}/{job} failed: {message}\nhint: kubectl -n {RECORD_NAMESPACE} logs job/{job}")]
    JobFailed {
        /// The Job.
        job: String,
        /// Its Failed condition.
        message: String,
    },
    /// The Job did not finish in time.
    #[error("the unpacker Job {RECORD_NAMESPACE}/{job} has not finished after {seconds}s\nhint: kubectl -n {RECORD_NAMESPACE} logs job/{job}; ferry status")]
    Timeout {
        /// The Job.
        job: String,
        /// How long it was followed.
        seconds: u64,
    },
}

/// Applies `objects` in order with server-side apply.
pub async fn apply(
    objects: &[Value],
    kubeconfig: &KubeconfigSource,
) -> Result<Applied, InClusterError> {
    let cluster = Cluster::connect(kubeconfig).await?;
    let mut applied = Vec::new();
    for body in objects {
        let object = Object::from_value(body.clone(), "ferry deploy --in-cluster")
            .map_err(|e| InClusterError::Invalid(e.to_string()))?
            .ok_or_else(|| InClusterError::Invalid("an empty unpacker object".to_owned()))?;
        cluster.apply(&object.id, &object.body, false).await?;
        applied.push(object.id.to_string());
    }
    Ok(Applied {
        server: cluster.server().to_owned(),
        objects: applied,
    })
}

/// Follows the Job `name` in `ferry-system` until it is Complete or Failed.
pub async fn follow_job(
    kubeconfig: &KubeconfigSource,
    name: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<JobOutcome, InClusterError> {
    let cluster = Cluster::connect(kubeconfig).await?;
    let id = crate::deploy::ObjectId {
        api_version: "batch/v1".to_owned(),
        kind: "Job".to_owned(),
        namespace: Some(RECORD_NAMESPACE.to_owned()),
        name: name.to_owned(),
    };
    let started = Instant::now();
    loop {
        if let Some(job) = cluster.get(&id).await? {
            let conditions = job
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for condition in conditions {
                let kind = condition.get("type").and_then(Value::as_str).unwrap_or("");
                let status = condition.get("status").and_then(Value::as_str) == Some("True");
                let text = |key: &str| {
                    condition
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let message = format!("{}: {}", text("reason"), text("message"));
                match kind {
                    "Complete" if status => {
                        return Ok(JobOutcome {
                            job: name.to_owned(),
                            condition: kind.to_owned(),
                            message,
                        })
                    }
                    "Failed" if status => {
                        return Err(InClusterError::JobFailed {
                            job: name.to_owned(),
                            message,
                        })
                    }
                    _ => {}
                }
            }
        }
        if started.elapsed() >= timeout {
            return Err(InClusterError::Timeout {
                job: name.to_owned(),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

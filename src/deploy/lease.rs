//! One deploy at a time per cluster: a `coordination.k8s.io/v1` Lease in
//! `ferry-system`, renewed while the deploy runs. A holder that died stops
//! renewing and the lease expires; a holder on this host whose process is
//! gone is taken over at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
                .and_then(parse_time)
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (Kubernetes MicroTime).
pub fn micro_time(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(since.as_secs() as i64);
    format!("{date}T{time}.{:06}Z", since.subsec_micros())
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn rfc3339(seconds: i64) -> String {
    let (date, time) = civil(seconds);
    format!("{date}T{time}Z")
}

fn civil(seconds: i64) -> (String, String) {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Unix seconds of an RFC 3339 UTC time (`...Z`, fractions ignored).
pub fn parse_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_601_600), "2026-12-07T00:00:00Z");
        assert_eq!(
            parse_time("2026-12-07T00:00:00.123456Z"),
            Some(1_796_601_600)
        );
        assert_eq!(parse_time("2024-02-29T12:30:01Z"), Some(1_709_209_801));
        assert_eq!(parse_time("garbage"), None);
    }

    #[test]
    fn only_a_dead_holder_on_this_host_is_taken_over() {
        let host = this_host();
        assert!(dead_here(&format!("{host}/4000000000")));
        assert!(!dead_here(&identity()));
        assert!(!dead_here("other-host/1"));
    }
}

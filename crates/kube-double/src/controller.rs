//! The scripted controller: plays the controller manager, scheduler and kubelet well enough for
//! readiness checks. Every tick it brings workloads, Pods, Services, PVCs, APIServices and
//! terminating Namespaces one step towards what the real controllers would make of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::Shared;
use crate::kinds::Resource;
use crate::ops::{self, Target, Write};
use crate::selector::LabelSelector;
use crate::store::{name_of, Store};
use crate::types::{Controller, PodFailure};
use crate::util::{now_rfc3339, short_hash};

const TICK: Duration = Duration::from_millis(40);
const MANAGER: &str = "kube-controller-manager";

/// Runs the controller until the runtime stops.
pub async fn run(shared: Arc<Shared>, settings: Controller) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let mut store = shared.lock();
        reconcile(&mut store, settings.ready_after);
    }
}

/// One pass over everything.
pub fn reconcile(store: &mut Store, ready_after: Duration) {
    namespaces(store);
    deployments(store);
    replicasets(store);
    statefulsets(store);
    daemonsets(store);
    jobs(store);
    pods(store, ready_after);
    services(store);
    simple_statuses(store);
}

fn res(store: &Store, group: &str, plural: &str) -> Option<Resource> {
    store
        .builtin
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .cloned()
}

fn ns_of(o: &Value) -> String {
    o.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn uid_of(o: &Value) -> String {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some()
}

fn int(o: &Value, pointer: &str, default: i64) -> i64 {
    o.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

fn target(r: &Resource, ns: &str) -> Target {
    Target {
        res: r.clone(),
        version: r.versions[0].clone(),
        namespace: ns.to_string(),
    }
}

fn owner_ref(owner: &Value) -> Value {
    json!([{"apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"), "name": name_of(owner),
        "uid": uid_of(owner), "controller": true, "blockOwnerDeletion": true}])
}

fn owned_by<'a>(objects: &'a [Value], owner: &Value) -> Vec<&'a Value> {
    let uid = uid_of(owner);
    objects
        .iter()
        .filter(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
                })
        })
        .collect()
}

fn all(store: &Store, r: &Resource) -> Vec<Value> {
    store.list(r, None).into_iter().cloned().collect()
}

fn create(store: &mut Store, r: &Resource, ns: &str, object: Value) {
    let w = Write {
        manager: MANAGER.into(),
        ..Write::default()
    };
    let _ = ops::create(store, &target(r, ns), object, &w);
}

/// Replaces `status` (no write when it is unchanged).
fn set_status(store: &mut Store, r: &Resource, o: &Value, status: Value) {
    if o.get("status") == Some(&status) {
        return;
    }
    let mut new = o.clone();
    if let Some(m) = new.as_object_mut() {
        m.insert("status".into(), status);
    }
    let _ = ops::commit(
        store,
        &target(r, &ns_of(o)),
        name_of(o),
        o.clone(),
        new,
        false,
    );
}

/// Replaces the object with `new` (no write when unchanged).
fn set_object(store: &mut Store, r: &Resource, o: &Value, new: Value) {
    let _ = ops::commit(
        store,
        &target(r, &ns_of(o)),
        name_of(o),
        o.clone(),
        new,
        false,
    );
}

fn delete(store: &mut Store, r: &Resource, o: &Value) {
    let _ = ops::delete(
        store,
        &target(r, &ns_of(o)),
        name_of(o),
        "Background",
        false,
    );
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, since: &str) -> Value {
    json!({"type": kind, "status": if status { "True" } else { "False" }, "reason": reason, "message": message,
        "lastUpdateTime": since, "lastTransitionTime": since})
}

/// A Pod for a workload: the template, labelled, owned.
fn pod_from(owner: &Value, name: &str, extra_labels: Value) -> Value {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    let mut labels = meta.get("labels").cloned().unwrap_or(json!({}));
    if let (Some(l), Some(extra)) = (labels.as_object_mut(), extra_labels.as_object()) {
        l.extend(extra.clone());
    }
    if let Some(m) = meta.as_object_mut() {
        m.insert("name".into(), json!(name));
        m.insert("namespace".into(), json!(ns_of(owner)));
        m.insert("labels".into(), labels);
        m.insert("ownerReferences".into(), owner_ref(owner));
    }
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    if let Some(s) = spec.as_object_mut() {
        s.insert("nodeName".into(), json!("double-node"));
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

fn template_hash(o: &Value) -> String {
    short_hash(
        &o.pointer("/spec/template")
            .cloned()
            .unwrap_or(json!({}))
            .to_string(),
    )
}

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type") == Some(&json!("Ready")) && c.get("status") == Some(&json!("True"))
            })
        })
}

fn deployments(store: &mut Store) {
    let (Some(dr), Some(rr)) = (
        res(store, "apps", "deployments"),
        res(store, "apps", "replicasets"),
    ) else {
        return;
    };
    for d in all(store, &dr).into_iter().filter(|d| !deleting(d)) {
        let ns = ns_of(&d);
        let hash = template_hash(&d);
        let rs_name = format!("{}-{}", name_of(&d), hash);
        let replicas = int(&d, "/spec/replicas", 1);
        let sets: Vec<Value> = owned_by(
            &store
                .list(&rr, Some(&ns))
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            &d,
        )
        .into_iter()
        .cloned()
        .collect();
        let current = sets.iter().find(|s| name_of(s) == rs_name).cloned();
        match &current {
            None => {
                let mut template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
                crate::defaults::set(
                    &mut template,
                    "/metadata/labels/pod-template-hash",
                    json!(hash),
                );
                let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
                crate::defaults::set(&mut selector, "/matchLabels/pod-template-hash", json!(hash));
                let labels = template
                    .pointer("/metadata/labels")
                    .cloned()
                    .unwrap_or(json!({}));
                let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": rs_name, "namespace": ns, "labels": labels, "ownerReferences": owner_ref(&d),
                        "annotations": {"deployment.kubernetes.io/revision": (sets.len() + 1).to_string()}},
                    "spec": {"replicas": replicas, "selector": selector, "template": template}});
                create(store, &rr, &ns, rs);
            }
            Some(s) if int(s, "/spec/replicas", 1) != replicas => {
                let mut new = s.clone();
                crate::defaults::set(&mut new, "/spec/replicas", json!(replicas));
                set_object(store, &rr, s, new);
            }
            Some(_) => {}
        }
        for old in sets
            .iter()
            .filter(|s| name_of(s) != rs_name && int(s, "/spec/replicas", 1) != 0)
        {
            let mut new = old.clone();
            crate::defaults::set(&mut new, "/spec/replicas", json!(0));
            set_object(store, &rr, old, new);
        }
        // status from the ReplicaSets as they are now
        let sets: Vec<Value> = owned_by(
            &store
                .list(&rr, Some(&ns))
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            &d,
        )
        .into_iter()
        .cloned()
        .collect();
        let sum = |p: &str| sets.iter().map(|s| int(s, p, 0)).sum::<i64>();
        let updated = sets
            .iter()
            .find(|s| name_of(s) == rs_name)
            .map(|s| int(s, "/status/replicas", 0))
            .unwrap_or(0);
        let new_ready = sets
            .iter()
            .find(|s| name_of(s) == rs_name)
            .map(|s| int(s, "/status/availableReplicas", 0))
            .unwrap_or(0);
        let (total, ready, available) = (
            sum("/status/replicas"),
            sum("/status/readyReplicas"),
            sum("/status/availableReplicas"),
        );
        let since = d
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let is_available = available >= replicas;
        let complete =
            is_available && updated == replicas && new_ready == replicas && total == replicas;
        let mut status = json!({
            "observedGeneration": int(&d, "/metadata/generation", 1),
            "replicas": total, "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
            "unavailableReplicas": (replicas - available).max(0),
            "conditions": [
                if is_available { condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.", &since) }
                else { condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", &since) },
                if complete { condition("Progressing", true, "NewReplicaSetAvailable", &format!("ReplicaSet \"{rs_name}\" has successfully progressed."), &since) }
                else { condition("Progressing", true, "ReplicaSetUpdated", &format!("ReplicaSet \"{rs_name}\" is progressing."), &since) },
            ],
        });
        drop_zero(
            &mut status,
            &[
                "readyReplicas",
                "availableReplicas",
                "unavailableReplicas",
                "updatedReplicas",
                "replicas",
            ],
        );
        set_status(store, &dr, &d, status);
    }
}

/// The real controllers omit zero counts.
fn drop_zero(status: &mut Value, keys: &[&str]) {
    if let Some(m) = status.as_object_mut() {
        for k in keys {
            if m.get(*k) == Some(&json!(0)) {
                m.remove(*k);
            }
        }
    }
}

/// Keeps `want` Pods for an owner: creates missing ones (names from `name_for`), deletes extras
/// and Pods whose revision label is stale; returns the Pods now owned.
fn keep_pods(
    store: &mut Store,
    owner: &Value,
    names: &[String],
    revision: (&str, &str),
    extra: Value,
) -> Vec<Value> {
    let Some(pr) = res(store, "", "pods") else {
        return Vec::new();
    };
    let ns = ns_of(owner);
    let pods: Vec<Value> = store.list(&pr, Some(&ns)).into_iter().cloned().collect();
    let mine: Vec<Value> = owned_by(&pods, owner).into_iter().cloned().collect();
    let (label, rev) = revision;
    for p in &mine {
        let stale = p
            .pointer(&format!("/metadata/labels/{}", label.replace('/', "~1")))
            .and_then(Value::as_str)
            != Some(rev);
        if (stale || !names.iter().any(|n| n == name_of(p))) && !deleting(p) {
            delete(store, &pr, p);
        }
    }
    for name in names {
        if store.get(&pr, &ns, name).is_none() {
            let mut labels = extra.clone();
            crate::defaults::set(
                &mut labels,
                &format!("/{}", label.replace('/', "~1")),
                json!(rev),
            );
            create(store, &pr, &ns, pod_from(owner, name, labels));
        }
    }
    let pods: Vec<Value> = store.list(&pr, Some(&ns)).into_iter().cloned().collect();
    owned_by(&pods, owner).into_iter().cloned().collect()
}

fn replicasets(store: &mut Store) {
    let (Some(rr), Some(pr)) = (res(store, "apps", "replicasets"), res(store, "", "pods")) else {
        return;
    };
    for rs in all(store, &rr).into_iter().filter(|r| !deleting(r)) {
        let ns = ns_of(&rs);
        let want = int(&rs, "/spec/replicas", 1).max(0) as usize;
        let pods: Vec<Value> = store.list(&pr, Some(&ns)).into_iter().cloned().collect();
        let mut mine: Vec<Value> = owned_by(&pods, &rs)
            .into_iter()
            .filter(|p| !deleting(p))
            .cloned()
            .collect();
        while mine.len() > want {
            if let Some(p) = mine.pop() {
                delete(store, &pr, &p);
            }
        }
        for _ in mine.len()..want {
            let name = format!("{}-{}", name_of(&rs), store.rng.suffix(5));
            create(store, &pr, &ns, pod_from(&rs, &name, json!({})));
        }
        let pods: Vec<Value> = store.list(&pr, Some(&ns)).into_iter().cloned().collect();
        let mine: Vec<&Value> = owned_by(&pods, &rs)
            .into_iter()
            .filter(|p| !deleting(p))
            .collect();
        let ready = mine.iter().filter(|p| pod_ready(p)).count();
        let mut status = json!({"replicas": mine.len(), "fullyLabeledReplicas": mine.len(), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": int(&rs, "/metadata/generation", 1)});
        drop_zero(
            &mut status,
            &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
        );
        set_status(store, &rr, &rs, status);
    }
}

fn statefulsets(store: &mut Store) {
    let Some(sr) = res(store, "apps", "statefulsets") else {
        return;
    };
    for s in all(store, &sr).into_iter().filter(|s| !deleting(s)) {
        let replicas = int(&s, "/spec/replicas", 1).max(0);
        let revision = format!("{}-{}", name_of(&s), template_hash(&s));
        let names: Vec<String> = (0..replicas)
            .map(|i| format!("{}-{i}", name_of(&s)))
            .collect();
        let pods = keep_pods(
            store,
            &s,
            &names,
            ("controller-revision-hash", &revision),
            json!({}),
        );
        let live: Vec<&Value> = pods.iter().filter(|p| !deleting(p)).collect();
        let ready = live.iter().filter(|p| pod_ready(p)).count();
        let mut status = json!({"observedGeneration": int(&s, "/metadata/generation", 1), "replicas": live.len(),
            "readyReplicas": ready, "currentReplicas": live.len(), "updatedReplicas": live.len(), "availableReplicas": ready,
            "currentRevision": revision, "updateRevision": revision, "collisionCount": 0});
        drop_zero(
            &mut status,
            &[
                "readyReplicas",
                "currentReplicas",
                "updatedReplicas",
                "availableReplicas",
            ],
        );
        set_status(store, &sr, &s, status);
    }
}

fn daemonsets(store: &mut Store) {
    let Some(dr) = res(store, "apps", "daemonsets") else {
        return;
    };
    for d in all(store, &dr).into_iter().filter(|d| !deleting(d)) {
        let hash = template_hash(&d);
        let name = format!("{}-{}", name_of(&d), &hash[..5]);
        let pods = keep_pods(
            store,
            &d,
            &[name],
            ("controller-revision-hash", &hash),
            json!({}),
        );
        let live: Vec<&Value> = pods.iter().filter(|p| !deleting(p)).collect();
        let ready = live.iter().filter(|p| pod_ready(p)).count();
        let mut status = json!({"observedGeneration": int(&d, "/metadata/generation", 1), "desiredNumberScheduled": 1,
            "currentNumberScheduled": live.len(), "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
            "updatedNumberScheduled": live.len()});
        if ready == 0 {
            if let Some(m) = status.as_object_mut() {
                m.remove("numberAvailable");
                m.insert("numberUnavailable".into(), json!(1));
            }
        }
        set_status(store, &dr, &d, status);
    }
}

fn jobs(store: &mut Store) {
    let (Some(jr), Some(pr)) = (res(store, "batch", "jobs"), res(store, "", "pods")) else {
        return;
    };
    for j in all(store, &jr).into_iter().filter(|j| !deleting(j)) {
        let done = j.pointer("/status/completionTime").is_some();
        let ns = ns_of(&j);
        let pods: Vec<Value> = store.list(&pr, Some(&ns)).into_iter().cloned().collect();
        let mine: Vec<Value> = owned_by(&pods, &j).into_iter().cloned().collect();
        if mine.is_empty() && !done {
            let name = format!("{}-{}", name_of(&j), store.rng.suffix(5));
            let labels = json!({"job-name": name_of(&j), "batch.kubernetes.io/job-name": name_of(&j), "controller-uid": uid_of(&j)});
            let mut pod = pod_from(&j, &name, labels);
            crate::defaults::set(&mut pod, "/spec/restartPolicy", json!("Never"));
            create(store, &pr, &ns, pod);
            continue;
        }
        let succeeded = mine
            .iter()
            .filter(|p| p.pointer("/status/phase") == Some(&json!("Succeeded")))
            .count();
        let active = mine
            .iter()
            .filter(|p| {
                matches!(
                    p.pointer("/status/phase").and_then(Value::as_str),
                    Some("Pending" | "Running")
                )
            })
            .count();
        let start = j
            .pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(json!(""));
        let mut status = json!({"startTime": start, "active": active, "ready": mine.iter().filter(|p| pod_ready(p)).count(),
            "terminating": 0, "uncountedTerminatedPods": {}});
        if succeeded > 0 || done {
            let now = j
                .pointer("/status/completionTime")
                .cloned()
                .unwrap_or(json!(now_rfc3339()));
            let at = now.as_str().unwrap_or_default().to_string();
            status = json!({"startTime": start, "completionTime": now, "succeeded": succeeded.max(1), "ready": 0, "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": [condition("SuccessCriteriaMet", true, "CompletionsReached", "Reached expected number of succeeded pods", &at),
                               condition("Complete", true, "CompletionsReached", "Reached expected number of succeeded pods", &at)]});
        }
        drop_zero(&mut status, &["active"]);
        set_status(store, &jr, &j, status);
    }
}

fn failure_for(store: &Store, pod: &Value) -> Option<(String, String, PodFailure)> {
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
        if let Some((_, f)) = store
            .failures
            .iter()
            .find(|(s, _)| image.contains(s.as_str()))
        {
            return Some((
                c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                image.to_string(),
                *f,
            ));
        }
    }
    None
}

fn pod_ip(uid: &str) -> String {
    let h = short_hash(uid)
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.244.{}.{}", (h >> 8) % 250, h % 250 + 2)
}

fn pods(store: &mut Store, ready_after: Duration) {
    let Some(pr) = res(store, "", "pods") else {
        return;
    };
    let now = Instant::now();
    for p in all(store, &pr).into_iter().filter(|p| !deleting(p)) {
        let uid = uid_of(&p);
        let born = *store.born.entry(uid.clone()).or_insert(now);
        if now.duration_since(born) < ready_after {
            continue;
        }
        let phase = p
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending");
        if matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        let since = p
            .pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(json!(""));
        let job = p.pointer("/metadata/ownerReferences/0/kind") == Some(&json!("Job"));
        let failure = failure_for(store, &p);
        let containers: Vec<Value> = p
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut statuses = Vec::new();
        for c in &containers {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let base = json!({"name": name, "image": image, "imageID": format!("{image}@sha256:{}", "0".repeat(64)),
                "containerID": format!("containerd://{}", short_hash(&format!("{uid}{name}")))});
            let mut s = base;
            let m = s.as_object_mut();
            let Some(m) = m else { continue };
            match &failure {
                Some((fname, fimage, PodFailure::ImagePullBackOff)) if fname == name => {
                    m.remove("imageID");
                    m.remove("containerID");
                    m.insert("ready".into(), json!(false));
                    m.insert("started".into(), json!(false));
                    m.insert("restartCount".into(), json!(0));
                    m.insert("state".into(), json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{fimage}\"")}}));
                }
                Some((fname, _, PodFailure::CrashLoopBackOff)) if fname == name => {
                    m.insert("ready".into(), json!(false));
                    m.insert("started".into(), json!(false));
                    m.insert("restartCount".into(), json!(3));
                    m.insert("state".into(), json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 40s restarting failed container={name} pod={}", name_of(&p))}}));
                    m.insert("lastState".into(), json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": since, "finishedAt": since}}));
                }
                _ if job => {
                    m.insert("ready".into(), json!(false));
                    m.insert("started".into(), json!(false));
                    m.insert("restartCount".into(), json!(0));
                    m.insert("state".into(), json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": since, "finishedAt": since}}));
                }
                _ => {
                    m.insert("ready".into(), json!(true));
                    m.insert("started".into(), json!(true));
                    m.insert("restartCount".into(), json!(0));
                    m.insert("state".into(), json!({"running": {"startedAt": since}}));
                }
            }
            statuses.push(s);
        }
        let ready = failure.is_none() && !job;
        let phase = match (&failure, job) {
            (Some((_, _, PodFailure::ImagePullBackOff)), _) => "Pending",
            (None, true) => "Succeeded",
            _ => "Running",
        };
        let ip = pod_ip(&uid);
        let cond = |t: &str, ok: bool, reason: &str| {
            let mut c = json!({"type": t, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": since});
            if !reason.is_empty() {
                crate::defaults::set(&mut c, "/reason", json!(reason));
            }
            c
        };
        let not_ready = if job {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        let status = json!({
            "phase": phase,
            "conditions": [cond("PodReadyToStartContainers", true, ""), cond("Initialized", true, ""),
                cond("Ready", ready, if ready { "" } else { not_ready }), cond("ContainersReady", ready, if ready { "" } else { not_ready }),
                cond("PodScheduled", true, "")],
            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": since, "containerStatuses": statuses, "qosClass": "BestEffort",
        });
        set_status(store, &pr, &p, status);
    }
}

fn services(store: &mut Store) {
    let (Some(sr), Some(pr), Some(er), Some(esr)) = (
        res(store, "", "services"),
        res(store, "", "pods"),
        res(store, "", "endpoints"),
        res(store, "discovery.k8s.io", "endpointslices"),
    ) else {
        return;
    };
    for s in all(store, &sr).into_iter().filter(|s| !deleting(s)) {
        let Some(selector) = s
            .pointer("/spec/selector")
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        else {
            continue;
        };
        let selector = LabelSelector::from_map(selector);
        let ns = ns_of(&s);
        let pods: Vec<Value> = store
            .list(&pr, Some(&ns))
            .into_iter()
            .filter(|p| selector.matches(p) && !deleting(p) && p.pointer("/status/podIP").is_some())
            .cloned()
            .collect();
        let address = |p: &Value| {
            json!({"ip": p.pointer("/status/podIP"), "nodeName": "double-node",
            "targetRef": {"kind": "Pod", "namespace": ns, "name": name_of(p), "uid": uid_of(p)}})
        };
        let ready: Vec<Value> = pods.iter().filter(|p| pod_ready(p)).map(address).collect();
        let not_ready: Vec<Value> = pods.iter().filter(|p| !pod_ready(p)).map(address).collect();
        let ports: Vec<Value> = s
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let target = p.get("targetPort").filter(|t| t.is_number()).or_else(|| p.get("port")).cloned();
                let mut port = json!({"port": target, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(n) = p.get("name") {
                    crate::defaults::set(&mut port, "/name", n.clone());
                }
                port
            })
            .collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            crate::defaults::set(&mut subset, "/addresses", json!(ready));
        }
        if !not_ready.is_empty() {
            crate::defaults::set(&mut subset, "/notReadyAddresses", json!(not_ready));
        }
        let subsets = if pods.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        let name = name_of(&s).to_string();
        let labels = s.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
        let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets});
        upsert(store, &er, &ns, &name, endpoints, &["subsets"]);
        let slice_name = format!("{name}-{}", &short_hash(&uid_of(&s))[..5]);
        let eps: Vec<Value> = pods
            .iter()
            .map(|p| json!({"addresses": [p.pointer("/status/podIP")], "nodeName": "double-node",
                "conditions": {"ready": pod_ready(p), "serving": pod_ready(p), "terminating": false},
                "targetRef": {"kind": "Pod", "namespace": ns, "name": name_of(p), "uid": uid_of(p)}}))
            .collect();
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name, "namespace": ns, "ownerReferences": owner_ref(&s),
                "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": eps, "ports": ports});
        upsert(
            store,
            &esr,
            &ns,
            &slice_name,
            slice,
            &["endpoints", "ports"],
        );
    }
}

/// Creates the object, or updates the given top-level fields of an existing one.
fn upsert(store: &mut Store, r: &Resource, ns: &str, name: &str, object: Value, fields: &[&str]) {
    match store.get(r, ns, name).cloned() {
        None => create(store, r, ns, object),
        Some(old) => {
            let mut new = old.clone();
            for f in fields {
                if let (Some(m), Some(v)) = (new.as_object_mut(), object.get(*f)) {
                    m.insert((*f).to_string(), v.clone());
                }
            }
            set_object(store, r, &old, new);
        }
    }
}

fn simple_statuses(store: &mut Store) {
    if let Some(pvcr) = res(store, "", "persistentvolumeclaims") {
        for c in all(store, &pvcr).into_iter().filter(|c| !deleting(c)) {
            let size = c
                .pointer("/spec/resources/requests/storage")
                .cloned()
                .unwrap_or(json!("1Gi"));
            let modes = c
                .pointer("/spec/accessModes")
                .cloned()
                .unwrap_or(json!(["ReadWriteOnce"]));
            set_status(
                store,
                &pvcr,
                &c,
                json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}),
            );
        }
    }
    if let Some(ar) = res(store, "apiregistration.k8s.io", "apiservices") {
        for a in all(store, &ar).into_iter().filter(|a| !deleting(a)) {
            let since = a
                .pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(json!(""));
            let status = json!({"conditions": [{"type": "Available", "status": "True", "reason": "Passed",
                "message": "all checks passed", "lastTransitionTime": since}]});
            set_status(store, &ar, &a, status);
        }
    }
}

fn namespaces(store: &mut Store) {
    let (Some(nr), Some(sar)) = (
        res(store, "", "namespaces"),
        res(store, "", "serviceaccounts"),
    ) else {
        return;
    };
    for n in all(store, &nr) {
        let name = name_of(&n).to_string();
        if !deleting(&n) {
            if store.get(&sar, &name, "default").is_none() {
                create(
                    store,
                    &sar,
                    &name,
                    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}}),
                );
            }
            continue;
        }
        let contents: Vec<(Resource, String, String, Value)> = store
            .all()
            .into_iter()
            .filter(|(r, ns, _, _)| r.namespaced && *ns == name)
            .collect();
        for (r, _, _, o) in &contents {
            if !deleting(o) {
                delete(store, r, o);
            }
        }
        let left = store
            .all()
            .into_iter()
            .any(|(r, ns, _, _)| r.namespaced && ns == name);
        let finalizers = n
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if !left && !finalizers {
            ops::remove_cascading(store, &nr, "", &name, "Background");
        }
    }
}

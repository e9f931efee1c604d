//! The double's behaviour through its HTTP API and library handle: server-side apply,
//! resourceVersion conflicts, generation, finalizers, the controller, fail_image, faults, auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{eventually, managers, Client};
use kube_double::{Controller, Double, Fault, Options, PodFailure};
use serde_json::{json, Value};

const CM: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";

fn double() -> Double {
    Double::spawn(Options::default()).unwrap()
}

fn quiet() -> Double {
    Double::spawn(Options {
        controller: Controller {
            enabled: false,
            ..Controller::default()
        },
        ..Options::default()
    })
    .unwrap()
}

fn deployment(name: &str, image: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

#[test]
fn apply_tracks_managers_conflicts_and_dropped_fields() {
    let d = quiet();
    let c = Client::new(&d);
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
    let (code, created) = c.apply(
        &format!("{CM}/c"),
        "alice",
        false,
        &cm(json!({"a": "1", "b": "2"})),
    );
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        managers(&created),
        vec![("alice".to_string(), "Apply".to_string())]
    );
    let fields = &created["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields, &json!({"f:data": {"f:a": {}, "f:b": {}}}));

    // bob sets a to another value: conflict naming alice and the field
    let (code, status) = c.apply(&format!("{CM}/c"), "bob", false, &cm(json!({"a": "9"})));
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"alice\": .data.a"
    );
    assert_eq!(status["details"]["causes"][0]["field"], ".data.a");
    assert_eq!(
        d.get("v1", "ConfigMap", Some("default"), "c").unwrap()["data"]["a"],
        "1"
    );

    // the same value is shared ownership, not a conflict
    let (code, _) = c.apply(&format!("{CM}/c"), "carol", false, &cm(json!({"b": "2"})));
    assert_eq!(code, 200);

    // force takes the field from alice
    let (code, forced) = c.apply(&format!("{CM}/c"), "bob", true, &cm(json!({"a": "9"})));
    assert_eq!(code, 200, "{forced}");
    assert_eq!(forced["data"]["a"], "9");
    let alice = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["fieldsV1"], json!({"f:data": {"f:b": {}}}));

    // alice drops b: carol still owns it, so it stays; carol drops it too: it goes
    let (code, kept) = c.apply(&format!("{CM}/c"), "alice", false, &cm(json!({"x": "1"})));
    assert_eq!(code, 200);
    assert_eq!(kept["data"], json!({"a": "9", "b": "2", "x": "1"}));
    let (code, dropped) = c.apply(&format!("{CM}/c"), "carol", false, &cm(json!({"y": "1"})));
    assert_eq!(code, 200);
    assert_eq!(dropped["data"], json!({"a": "9", "x": "1", "y": "1"}));

    // an unchanged re-apply keeps the resourceVersion
    let rv = dropped["metadata"]["resourceVersion"].clone();
    let (_, again) = c.apply(&format!("{CM}/c"), "carol", false, &cm(json!({"y": "1"})));
    assert_eq!(again["metadata"]["resourceVersion"], rv);

    // apply without a field manager is refused
    let (code, _) = c.patch(
        &format!("{CM}/c"),
        "application/apply-patch+yaml",
        &cm(json!({})),
    );
    assert_eq!(code, 400);
}

#[test]
fn apply_merges_containers_by_name() {
    let d = quiet();
    let c = Client::new(&d);
    let mut two = deployment("web", "nginx:1", 1);
    two["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "app", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]);
    assert_eq!(
        c.apply(&format!("{DEPLOY}/web"), "ferry", false, &two).0,
        201
    );
    // another manager applies only the image of one container
    let partial = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}}}});
    let (code, status) = c.apply(&format!("{DEPLOY}/web"), "ops", false, &partial);
    assert_eq!(code, 409);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains(r#".spec.template.spec.containers[name="side"].image"#),
        "{status}"
    );
    let (code, merged) = c.apply(&format!("{DEPLOY}/web"), "ops", true, &partial);
    assert_eq!(code, 200);
    let containers = merged["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2, "{merged}");
    assert_eq!(containers[1]["image"], "busybox:2");
    assert_eq!(merged["metadata"]["generation"], 2);
}

#[test]
fn stale_resource_version_is_a_conflict_and_generation_follows_spec() {
    let d = quiet();
    let c = Client::new(&d);
    let (code, created) = c.post(DEPLOY, &deployment("g", "nginx", 1));
    assert_eq!(code, 201);
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        managers(&created),
        vec![("library-test".to_string(), "Update".to_string())]
    );
    let rv: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut labelled = created.clone();
    labelled["metadata"]["labels"] = json!({"x": "y"});
    let (code, updated) = c.put(&format!("{DEPLOY}/g"), &labelled);
    assert_eq!(code, 200, "{updated}");
    assert_eq!(
        updated["metadata"]["generation"], 1,
        "a metadata change keeps the generation"
    );
    let rv2: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv);

    // the first version is stale now
    let (code, status) = c.put(&format!("{DEPLOY}/g"), &labelled);
    assert_eq!(code, 409);
    assert_eq!(status["reason"], "Conflict");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));

    let (code, scaled) = c.patch(
        &format!("{DEPLOY}/g"),
        "application/merge-patch+json",
        &json!({"spec": {"replicas": 4}}),
    );
    assert_eq!(code, 200);
    assert_eq!(scaled["metadata"]["generation"], 2);

    // status writes go through /status only, and keep the generation
    let (code, st) = c.patch(
        &format!("{DEPLOY}/g/status"),
        "application/merge-patch+json",
        &json!({"status": {"replicas": 7}}),
    );
    assert_eq!(code, 200);
    assert_eq!(st["status"]["replicas"], 7);
    assert_eq!(st["metadata"]["generation"], 2);
    let (_, main) = c.patch(
        &format!("{DEPLOY}/g"),
        "application/merge-patch+json",
        &json!({"status": {"replicas": 1}}),
    );
    assert_eq!(
        main["status"]["replicas"], 7,
        "the main resource ignores status"
    );

    // strategic merge keeps the other containers; JSON patch edits by index
    let (_, smp) = c.patch(
        &format!("{DEPLOY}/g"),
        "application/strategic-merge-patch+json",
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "extra", "image": "busybox"}]}}}}),
    );
    assert_eq!(
        smp["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, jp) = c.patch(
        &format!("{DEPLOY}/g"),
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:2"}]),
    );
    assert_eq!(
        jp["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );

    assert_eq!(
        c.post(DEPLOY, &deployment("g", "nginx", 1)).1["reason"],
        "AlreadyExists"
    );
    assert_eq!(c.get(&format!("{DEPLOY}/missing")).1["reason"], "NotFound");
}

#[test]
fn dry_run_stores_nothing() {
    let d = quiet();
    let c = Client::new(&d);
    let (code, out) = c.post(
        &format!("{CM}?dryRun=All"),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}}),
    );
    assert_eq!(code, 201);
    assert_eq!(out["metadata"]["name"], "dry");
    assert!(d.get("v1", "ConfigMap", Some("default"), "dry").is_none());
    assert!(d.requests().iter().any(|r| r.verb == "create" && r.dry_run));
}

#[test]
fn finalizers_hold_deletion_until_cleared() {
    let d = quiet();
    let c = Client::new(&d);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f", "finalizers": ["example.com/hold"]}});
    assert_eq!(c.post(CM, &cm).0, 201);
    let (code, deleting) = c.delete(&format!("{CM}/f"));
    assert_eq!(code, 200);
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    assert!(
        d.get("v1", "ConfigMap", None, "f").is_some(),
        "still there while the finalizer is"
    );
    let (code, _) = c.patch(
        &format!("{CM}/f"),
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": null}}),
    );
    assert_eq!(code, 200);
    assert!(d.get("v1", "ConfigMap", None, "f").is_none());
    assert_eq!(c.delete(&format!("{CM}/f")).0, 404);
}

#[test]
fn namespace_deletion_terminates_then_removes_contents() {
    let d = double();
    let c = Client::new(&d);
    assert_eq!(
        c.post(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})
        )
        .0,
        201
    );
    assert_eq!(
        c.post(
            "/api/v1/namespaces/tmp/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        )
        .0,
        201
    );
    let (_, ns) = c.delete("/api/v1/namespaces/tmp");
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(eventually(Duration::from_secs(5), || d
        .get("v1", "Namespace", None, "tmp")
        .is_none()));
    assert!(d.get("v1", "ConfigMap", Some("tmp"), "x").is_none());
    let (code, _) = c.post(
        "/api/v1/namespaces/nope/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
    );
    assert_eq!(code, 404, "no content in a namespace that does not exist");
}

#[test]
fn controller_brings_workloads_to_ready() {
    let d = double();
    let c = Client::new(&d);
    assert_eq!(c.post(DEPLOY, &deployment("web", "nginx:1.27", 2)).0, 201);
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let (_, svc) = c.post("/api/v1/namespaces/default/services", &svc);
    assert!(svc["spec"]["clusterIP"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.96.")));
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "j", "image": "busybox"}]}}}});
    assert_eq!(
        c.post("/apis/batch/v1/namespaces/default/jobs", &job).0,
        201
    );
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}});
    assert_eq!(
        c.post("/api/v1/namespaces/default/persistentvolumeclaims", &pvc)
            .0,
        201
    );

    let available = || {
        d.get("apps/v1", "Deployment", None, "web")
            .is_some_and(|dep| {
                dep["status"]["readyReplicas"] == 2
                    && dep["status"]["observedGeneration"] == 1
                    && dep["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Available" && c["status"] == "True")
                    })
            })
    };
    assert!(
        eventually(Duration::from_secs(5), available),
        "{:?}",
        d.get("apps/v1", "Deployment", None, "web")
    );
    let pods = d.list("v1", "Pod", Some("default"));
    let web: Vec<&Value> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "web")
        .collect();
    assert_eq!(web.len(), 2);
    for p in &web {
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    }
    assert_eq!(d.list("apps/v1", "ReplicaSet", Some("default")).len(), 1);
    assert!(eventually(Duration::from_secs(5), || d
        .get("v1", "Endpoints", None, "web")
        .is_some_and(|e| e["subsets"][0]["addresses"]
            .as_array()
            .is_some_and(|a| a.len() == 2)
            && e["subsets"][0]["ports"][0]["port"] == 8080)));
    assert!(eventually(Duration::from_secs(5), || d
        .list("discovery.k8s.io/v1", "EndpointSlice", Some("default"))
        .len()
        == 1));
    assert!(eventually(Duration::from_secs(5), || d
        .get("batch/v1", "Job", None, "once")
        .is_some_and(|j| j["status"]["succeeded"] == 1
            && j["status"]["conditions"].as_array().is_some_and(
                |cs| cs
                    .iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            ))));
    assert!(eventually(Duration::from_secs(5), || d
        .get("v1", "PersistentVolumeClaim", None, "data")
        .is_some_and(|p| p["status"]["phase"] == "Bound")));

    // a new template rolls out a new ReplicaSet; the old one is scaled to zero
    let (code, _) = c.patch(&format!("{DEPLOY}/web"), "application/strategic-merge-patch+json",
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}}));
    assert_eq!(code, 200);
    assert!(eventually(Duration::from_secs(5), || d
        .get("apps/v1", "Deployment", None, "web")
        .is_some_and(|dep| dep["status"]["observedGeneration"] == 2
            && dep["status"]["updatedReplicas"] == 2
            && dep["status"]["readyReplicas"] == 2
            && dep["status"]["replicas"] == 2)));
    let sets = d.list("apps/v1", "ReplicaSet", Some("default"));
    assert_eq!(sets.len(), 2);
    assert!(sets.iter().any(|s| s["spec"]["replicas"] == 0));

    // deleting the Deployment takes its ReplicaSets and Pods along
    assert_eq!(c.delete(&format!("{DEPLOY}/web")).0, 200);
    assert!(d.list("apps/v1", "ReplicaSet", Some("default")).is_empty());
    assert!(d
        .list("v1", "Pod", Some("default"))
        .iter()
        .all(|p| p["metadata"]["labels"]["app"] != "web"));
}

#[test]
fn crds_become_established_and_serve_their_resources() {
    let d = double();
    let c = Client::new(&d);
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    assert_eq!(c.get("/apis/example.com/v1/gadgets").0, 404);
    let (code, created) = c.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &crd,
    );
    assert_eq!(code, 201);
    let conditions = created["status"]["conditions"].as_array().unwrap();
    assert!(conditions
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True"));
    assert!(conditions
        .iter()
        .any(|c| c["type"] == "NamesAccepted" && c["status"] == "True"));
    let (_, discovery) = c.get("/apis/example.com/v1");
    assert_eq!(discovery["resources"][0]["name"], "gadgets");
    assert_eq!(discovery["resources"][0]["namespaced"], false);
    let g = json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"n": 1}});
    let (code, made) = c.post("/apis/example.com/v1/gadgets", &g);
    assert_eq!(code, 201, "{made}");
    assert_eq!(made["metadata"]["generation"], 1);
    assert!(made["metadata"].get("namespace").is_none());
    // deleting the CRD stops serving its resources and removes them
    assert_eq!(
        c.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com")
            .0,
        200
    );
    assert_eq!(c.get("/apis/example.com/v1/gadgets").0, 404);
}

#[test]
fn failing_images_keep_pods_unready() {
    let d = double();
    d.fail_image("broken/pull", PodFailure::ImagePullBackOff);
    d.fail_image("broken/crash", PodFailure::CrashLoopBackOff);
    let c = Client::new(&d);
    assert_eq!(
        c.post(
            DEPLOY,
            &deployment("pull", "registry.local/broken/pull:1", 1)
        )
        .0,
        201
    );
    assert_eq!(
        c.post(
            DEPLOY,
            &deployment("crash", "registry.local/broken/crash:1", 1)
        )
        .0,
        201
    );
    let waiting = |app: &str| {
        d.list("v1", "Pod", Some("default")).into_iter().find(|p| {
            p["metadata"]["labels"]["app"] == app && p["status"]["containerStatuses"].is_array()
        })
    };
    assert!(eventually(Duration::from_secs(5), || waiting("pull")
        .is_some()
        && waiting("crash").is_some()));
    let pull = waiting("pull").unwrap();
    let state = &pull["status"]["containerStatuses"][0];
    assert_eq!(state["ready"], false);
    assert_eq!(state["state"]["waiting"]["reason"], "ImagePullBackOff");
    assert!(state["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .contains("registry.local/broken/pull:1"));
    assert_eq!(pull["status"]["phase"], "Pending");
    let crash = waiting("crash").unwrap();
    let state = &crash["status"]["containerStatuses"][0];
    assert_eq!(state["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert!(state["restartCount"].as_i64().unwrap() > 0);
    std::thread::sleep(Duration::from_millis(400));
    let dep = d.get("apps/v1", "Deployment", None, "pull").unwrap();
    let available = dep["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Available")
        .unwrap()
        .clone();
    assert_eq!(available["status"], "False");
}

#[test]
fn injected_faults_answer_with_status_objects() {
    let d = quiet();
    let c = Client::new(&d);
    d.inject(Fault {
        method: Some("POST".into()),
        path_contains: "/configmaps".into(),
        status: 503,
        message: "etcd is down".into(),
        times: 1,
    });
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let (code, status) = c.post(CM, &cm);
    assert_eq!(code, 503);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "etcd is down", "reason": "ServiceUnavailable", "code": 503})
    );
    assert_eq!(c.get(CM).0, 200, "a GET does not match a POST fault");
    assert_eq!(c.post(CM, &cm).0, 201, "the fault fired once");
}

#[test]
fn a_wrong_token_is_unauthorized() {
    let d = quiet();
    let mut c = Client::new(&d);
    assert_eq!(c.get("/api/v1/namespaces").0, 200);
    c.token = Some("wrong".into());
    let (code, status) = c.get("/api/v1/namespaces");
    assert_eq!(code, 401);
    assert_eq!(status["reason"], "Unauthorized");
    c.token = None;
    assert_eq!(c.get("/version").0, 401);
}

#[test]
fn controls_work_over_http_and_seed_keeps_status() {
    let d = quiet();
    let c = Client::new(&d);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sh.helm.release.v1.old.v1",
        "labels": {"owner": "helm", "name": "old", "status": "deployed", "version": "1"}}, "type": "helm.sh/release.v1", "data": {"release": "e30="}});
    let seeded = d.seed(secret.clone()).unwrap();
    assert_eq!(seeded["metadata"]["namespace"], "default");
    assert!(d.seed(secret).is_err(), "seeding twice is AlreadyExists");
    let (code, list) = c.get(
        "/api/v1/namespaces/default/secrets?labelSelector=owner%3Dhelm,status+in+(deployed,failed)",
    );
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, none) = c.get("/api/v1/namespaces/default/secrets?labelSelector=owner%3Dhelm,!version");
    assert!(none["items"].as_array().unwrap().is_empty());
    let (_, by_name) =
        c.get("/api/v1/secrets?fieldSelector=metadata.name%3Dsh.helm.release.v1.old.v1");
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);

    let (code, _) = c.post("/_double/objects", &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s", "namespace": "default"},
        "spec": {}, "status": {"readyReplicas": 5}}));
    assert_eq!(code, 200);
    let (_, got) =
        c.get("/_double/objects?apiVersion=apps/v1&kind=Deployment&namespace=default&name=s");
    assert_eq!(got["status"]["readyReplicas"], 5);
    let (_, requests) = c.get("/_double/requests");
    let verbs: Vec<&str> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verb"].as_str().unwrap())
        .collect();
    assert_eq!(
        verbs,
        vec!["list", "list", "list"],
        "control requests are not recorded"
    );
    assert_eq!(c.send("DELETE", "/_double/requests", "", None).0, 200);
    assert!(d.requests().is_empty());
    let (code, _) = c.post(
        "/_double/inject",
        &json!({"path_contains": "/secrets", "status": 500, "message": "boom", "times": 1}),
    );
    assert_eq!(code, 200);
    assert_eq!(c.get("/api/v1/namespaces/default/secrets").0, 500);
}

#[test]
fn watch_streams_events_after_a_resource_version() {
    use std::io::{BufRead, BufReader};
    let d = quiet();
    let c = Client::new(&d);
    let (_, list) = c.get(CM);
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut req = c.http.get(format!(
        "{}{CM}?watch=1&resourceVersion={rv}&timeoutSeconds=5",
        c.base
    ));
    req = req.bearer_auth(c.token.clone().unwrap());
    let resp = req.send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "labels": {"a": "b"}}});
    assert_eq!(c.post(CM, &cm).0, 201);
    assert_eq!(
        c.patch(
            &format!("{CM}/w"),
            "application/merge-patch+json",
            &json!({"data": {"k": "v"}})
        )
        .0,
        200
    );
    assert_eq!(c.delete(&format!("{CM}/w")).0, 200);
    let mut lines = BufReader::new(resp).lines();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["object"]["metadata"]["name"], "w");
        kinds.push(event["type"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, vec!["ADDED", "MODIFIED", "DELETED"]);
}

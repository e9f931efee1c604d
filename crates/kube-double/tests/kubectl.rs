//! kubectl (/usr/bin/kubectl) against the double, unchanged: server-side apply, get, re-apply,
//! conflicts between field managers, --force-conflicts, wait, dry-run, label selectors, delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{env, kubectl, kubectl_ok, managers, Env};
use kube_double::Options;
use serde_json::Value;

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: demo
spec:
  size: 3
"#;

fn write(env: &Env, name: &str, text: &str) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn deployment_rv(env: &Env) -> String {
    let d = env
        .double
        .get("apps/v1", "Deployment", Some("demo"), "web")
        .unwrap();
    d["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn kubectl_server_side_apply_lifecycle() {
    let env = env(Options::default());
    let manifest = write(&env, "all.yaml", MANIFEST);

    // kubectl maps every document before applying any: the Widget's CRD is not served yet,
    // so the first apply applies the rest and fails on the Widget, exactly as with a real server
    let first = kubectl(&env, &["apply", "--server-side", "-f", &manifest]);
    assert!(!first.status.success());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("ensure CRDs are installed first"),
        "{stderr}"
    );
    let out = kubectl_ok(&env, &["apply", "--server-side", "-f", &manifest]);
    for line in [
        "namespace/demo serverside-applied",
        "deployment.apps/web serverside-applied",
        "service/web serverside-applied",
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied",
        "widget.example.com/w1 serverside-applied",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let dep = env
        .double
        .get("apps/v1", "Deployment", Some("demo"), "web")
        .unwrap();
    assert_eq!(
        managers(&dep),
        vec![("kubectl".to_string(), "Apply".to_string())]
    );
    assert!(env
        .double
        .requests()
        .iter()
        .any(|r| r.verb == "apply" && r.field_manager.as_deref() == Some("kubectl")));

    // get -o json
    let json: Value = serde_json::from_str(&kubectl_ok(
        &env,
        &["get", "deployment", "web", "-n", "demo", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(json["spec"]["replicas"], 2);
    assert_eq!(json["metadata"]["labels"]["tier"], "front");
    let widgets: Value = serde_json::from_str(&kubectl_ok(
        &env,
        &["get", "wd", "-n", "demo", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(widgets["items"][0]["spec"]["size"], 3);

    // re-applying the same manifest changes nothing (once the controller has settled the
    // Deployment's status)
    kubectl_ok(
        &env,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=20s",
        ],
    );
    let mut rv = deployment_rv(&env);
    let mut settled = false;
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = deployment_rv(&env);
        settled = now == rv;
        if settled {
            break;
        }
        rv = now;
    }
    assert!(settled, "the controller keeps rewriting the Deployment");
    let service_rv = env
        .double
        .get("v1", "Service", Some("demo"), "web")
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    kubectl_ok(&env, &["apply", "--server-side", "-f", &manifest]);
    assert_eq!(deployment_rv(&env), rv);
    assert_eq!(
        env.double
            .get("v1", "Service", Some("demo"), "web")
            .unwrap()["metadata"]["resourceVersion"],
        service_rv
    );

    // another field manager setting replicas conflicts with kubectl's ownership
    let scaled = write(
        &env,
        "scaled.yaml",
        &MANIFEST.replace("replicas: 2", "replicas: 3"),
    );
    let conflict = kubectl(
        &env,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "ops",
            "-f",
            &scaled,
        ],
    );
    assert!(!conflict.status.success());
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{stderr}"
    );
    assert_eq!(
        env.double
            .get("apps/v1", "Deployment", Some("demo"), "web")
            .unwrap()["spec"]["replicas"],
        2
    );
    kubectl_ok(
        &env,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "ops",
            "--force-conflicts",
            "-f",
            &scaled,
        ],
    );
    let dep = env
        .double
        .get("apps/v1", "Deployment", Some("demo"), "web")
        .unwrap();
    assert_eq!(dep["spec"]["replicas"], 3);
    let owners: Vec<Value> = dep["metadata"]["managedFields"].as_array().unwrap().clone();
    let owns_replicas = |m: &str| {
        owners
            .iter()
            .any(|e| e["manager"] == m && e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
    };
    assert!(owns_replicas("ops") && !owns_replicas("kubectl"));

    // wait for the controller's Available condition
    kubectl_ok(
        &env,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=20s",
        ],
    );
    let dep = env
        .double
        .get("apps/v1", "Deployment", Some("demo"), "web")
        .unwrap();
    assert_eq!(dep["status"]["readyReplicas"], 3);

    // label selectors
    let pods = kubectl_ok(
        &env,
        &[
            "get",
            "pods",
            "-n",
            "demo",
            "-l",
            "app=web,tier in (front,back)",
            "-o",
            "name",
        ],
    );
    assert_eq!(pods.lines().count(), 3, "{pods}");
    let none = kubectl_ok(
        &env,
        &["get", "pods", "-n", "demo", "-l", "app!=web", "-o", "name"],
    );
    assert!(none.trim().is_empty(), "{none}");
    let none = kubectl_ok(
        &env,
        &["get", "pods", "-n", "demo", "-l", "!app", "-o", "name"],
    );
    assert!(none.trim().is_empty(), "{none}");

    // a server-side dry run answers but stores nothing
    let five = write(
        &env,
        "five.yaml",
        &MANIFEST.replace("replicas: 2", "replicas: 5"),
    );
    let dry = kubectl_ok(
        &env,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            &five,
            "-o",
            "json",
        ],
    );
    assert!(dry.contains("\"replicas\": 5"), "{dry}");
    assert_eq!(
        env.double
            .get("apps/v1", "Deployment", Some("demo"), "web")
            .unwrap()["spec"]["replicas"],
        3
    );
    assert!(env
        .double
        .requests()
        .iter()
        .any(|r| r.verb == "apply" && r.dry_run));

    // delete: the Deployment and what it owns, then the namespace and its contents
    kubectl_ok(&env, &["delete", "deployment", "web", "-n", "demo"]);
    assert!(env
        .double
        .get("apps/v1", "Deployment", Some("demo"), "web")
        .is_none());
    assert!(env
        .double
        .list("apps/v1", "ReplicaSet", Some("demo"))
        .is_empty());
    let gone = kubectl(&env, &["get", "deployment", "web", "-n", "demo"]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    kubectl_ok(&env, &["delete", "namespace", "demo", "--timeout=20s"]);
    assert!(env.double.get("v1", "Namespace", None, "demo").is_none());
    assert!(env
        .double
        .list("example.com/v1", "Widget", Some("demo"))
        .is_empty());
}

#[test]
fn kubectl_without_the_token_is_refused() {
    let env = env(Options::default());
    let text = std::fs::read_to_string(&env.kubeconfig)
        .unwrap()
        .replace("token: double-token", "token: wrong");
    std::fs::write(&env.kubeconfig, text).unwrap();
    let out = kubectl(&env, &["get", "namespaces"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("provide credentials"),
        "{stderr}"
    );
}

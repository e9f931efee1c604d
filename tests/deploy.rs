//! `ferry deploy`, `status` and `rollback` against the Kubernetes API double
//! (`crates/kube-double`, no real API server can run here), with the real
//! Helm SDK and kubectl reading what ferry recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ferry_env, helm_python, Run};
use kube_double::{Double, Fault, Options, PodFailure};
use serde_json::Value;

/// A built example bundle and a double with a kubeconfig for it.
struct Env {
    dir: tempfile::TempDir,
    double: Double,
    bundle: PathBuf,
    kubeconfig: PathBuf,
}

impl Env {
    fn new() -> Self {
        Self::with(Options::default())
    }

    fn with(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("example.tar");
        common::build_example(&dir.path().join("cache"), &bundle);
        let double = Double::spawn(options).unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        double.write_kubeconfig(&kubeconfig).unwrap();
        Env {
            dir,
            double,
            bundle,
            kubeconfig,
        }
    }

    fn ferry(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kubeconfig", self.kubeconfig.to_str().unwrap()]);
        ferry_env(&self.dir.path().join("cache"), &[], &all)
    }

    fn deploy(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "deploy",
            self.bundle.to_str().unwrap(),
            "--insecure-skip-signature",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        self.ferry(&args)
    }

    fn deployment(&self) -> Option<Value> {
        self.double
            .get("apps/v1", "Deployment", Some("hello"), "hello-hello")
    }

    fn release_secrets(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .double
            .list("v1", "Secret", Some("hello"))
            .into_iter()
            .filter(|s| s.pointer("/metadata/labels/owner").and_then(Value::as_str) == Some("helm"))
            .map(|s| {
                (
                    s["metadata"]["name"].as_str().unwrap().to_owned(),
                    s["metadata"]["labels"]["status"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Runs a Helm SDK snippet with `cfg` bound to a Config on the double; returns its stdout JSON.
fn helm(env: &Env, body: &str) -> Value {
    let script = format!(
        "import json, sys\nfrom helm_python import Config, Chart\nwith Config(kubeconfig_path=sys.argv[1], namespace='hello') as cfg:\n{}\n",
        body.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
    );
    let output = Command::new(helm_python())
        .arg("-c")
        .arg(&script)
        .arg(&env.kubeconfig)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "Helm SDK failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Release Secrets as [`Env::release_secrets`] lists them.
fn releases(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

fn writes_outside_ferry_system(double: &Double) -> Vec<String> {
    double
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .filter(|r| !r.path.contains("/namespaces/ferry-system"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn plan_lists_steps_and_objects_without_a_cluster() {
    let env = Env::new();
    let run = env
        .ferry(&[
            "deploy",
            env.bundle.to_str().unwrap(),
            "--insecure-skip-signature",
            "--plan",
            "--json",
        ])
        .ok();
    let plan = run.json();
    assert_eq!(plan["components"].as_array().unwrap().len(), 1);
    let step = &plan["components"][0]["steps"][0];
    assert_eq!(step["release"]["name"], "hello");
    assert_eq!(step["objects"][0]["kind"], "Deployment");
    assert_eq!(step["objects"][0]["namespace"], "hello");
    assert_eq!(plan["not_deployed"], serde_json::json!(["hello-cli"]));
    assert!(
        env.double.requests().is_empty(),
        "the plan touched the cluster"
    );

    // --output-dir writes what would be applied, in order, as files another tool applies.
    let steps = env.dir.path().join("steps");
    env.ferry(&[
        "deploy",
        env.bundle.to_str().unwrap(),
        "--insecure-skip-signature",
        "--plan",
        "--output-dir",
        steps.to_str().unwrap(),
    ])
    .ok();
    let files: Vec<String> = std::fs::read_dir(&steps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["001-hello.yaml"]);
    let text = std::fs::read_to_string(steps.join("001-hello.yaml")).unwrap();
    assert!(
        text.contains("image: example.local/demo/hello:1.0@sha256:"),
        "{text}"
    );
    assert!(
        env.double.requests().is_empty(),
        "the plan touched the cluster"
    );
    let kubectl = |args: &[&str]| {
        let out = Command::new("/usr/bin/kubectl")
            .args(["--kubeconfig", env.kubeconfig.to_str().unwrap()])
            .args(args)
            .output()
            .expect("kubectl is on every machine of this kind");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let namespace = env.write(
        "namespace.json",
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"hello"}}"#,
    );
    kubectl(&["apply", "--server-side", "-f", namespace.to_str().unwrap()]);
    kubectl(&[
        "apply",
        "--server-side",
        "-f",
        steps.join("001-hello.yaml").to_str().unwrap(),
    ]);
    let applied = env
        .deployment()
        .expect("kubectl applied the exported Deployment");
    assert_eq!(applied["spec"]["replicas"], 2);
}

#[test]
fn deploys_records_for_helm_redeploys_nothing_upgrades_and_rolls_back() {
    let env = Env::new();
    let out = env.deploy(&[]).ok();
    assert!(out.stdout.contains("hello: revision 1"), "{}", out.stdout);
    let deployment = env.deployment().expect("the Deployment exists");
    let image = deployment
        .pointer("/spec/template/spec/containers/0/image")
        .unwrap()
        .as_str()
        .unwrap();
    assert!(
        image.starts_with("example.local/demo/hello:1.0@sha256:"),
        "image pinned by digest: {image}"
    );
    assert_eq!(deployment["spec"]["replicas"], 2);
    let managers: Vec<&str> = deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"ferry"), "{managers:?}");
    assert_eq!(
        env.release_secrets(),
        releases(&[("sh.helm.release.v1.hello.v1", "deployed")])
    );

    // kubectl reads it as it reads any object.
    let kubectl = Command::new("/usr/bin/kubectl")
        .args([
            "--kubeconfig",
            env.kubeconfig.to_str().unwrap(),
            "get",
            "deployment",
            "-n",
            "hello",
            "hello-hello",
            "-o",
            "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}",
        ])
        .output()
        .expect("kubectl is on every machine of this kind");
    assert_eq!(
        String::from_utf8_lossy(&kubectl.stdout),
        "Helm",
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );

    // The real Helm lists it, with ferry's chart and revision.
    let listed = helm(
        &env,
        "print(json.dumps(cfg.list(all_namespaces=True), default=str))",
    );
    assert_eq!(listed[0]["name"], "hello");
    assert_eq!(listed[0]["chart_name"], "hello");
    assert_eq!(listed[0]["revision"], 1);
    assert_eq!(listed[0]["status"], "deployed");

    // A second deploy of the same bundle writes nothing outside ferry's own records.
    env.double.clear_requests();
    let again = env.deploy(&[]).ok();
    assert!(
        again.stdout.contains("0 written, 1 unchanged"),
        "{}",
        again.stdout
    );
    assert_eq!(
        writes_outside_ferry_system(&env.double),
        Vec::<String>::new()
    );
    // Inside it: the lease taken and released, the record marked deploying and deployed.
    let mut own: Vec<String> = env
        .double
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    own.sort();
    assert_eq!(
        own,
        [
            "DELETE /apis/coordination.k8s.io/v1/namespaces/ferry-system/leases/ferry-deploy",
            "PATCH /api/v1/namespaces/ferry-system/secrets/ferry-deployment",
            "PATCH /api/v1/namespaces/ferry-system/secrets/ferry-deployment",
            "POST /apis/coordination.k8s.io/v1/namespaces/ferry-system/leases",
        ],
        "an unchanged redeploy writes only its lease and record"
    );

    // An upgrade: new values, a new Helm revision, the old one superseded.
    let values = env.write("values.yaml", "hello:\n  replicas: 3\n");
    let upgraded = env.deploy(&["--values", values.to_str().unwrap()]).ok();
    assert!(
        upgraded.stdout.contains("hello: revision 2"),
        "{}",
        upgraded.stdout
    );
    assert_eq!(env.deployment().unwrap()["spec"]["replicas"], 3);
    assert_eq!(
        env.release_secrets(),
        releases(&[
            ("sh.helm.release.v1.hello.v1", "superseded"),
            ("sh.helm.release.v1.hello.v2", "deployed")
        ])
    );
    let history = helm(&env, "print(json.dumps(cfg.history('hello'), default=str))");
    assert_eq!(history.as_array().unwrap().len(), 2);

    // ferry rollback returns to revision 1's objects as revision 3.
    let rolled = env.ferry(&["rollback", "hello"]).ok();
    assert!(
        rolled.stdout.contains("now revision 3"),
        "{}",
        rolled.stdout
    );
    assert_eq!(env.deployment().unwrap()["spec"]["replicas"], 2);
    let status = env.ferry(&["status", "--json"]).ok().json();
    let hello = &status["record"]["components"][0];
    assert_eq!(hello["revision"], 3);
    assert_eq!(hello["status"], "deployed");
    assert_eq!(status["not_ready"]["hello"], serde_json::json!([]));

    // Helm itself rolls back what ferry recorded.
    helm(
        &env,
        "cfg.rollback('hello', version=2)\nprint(json.dumps(cfg.status('hello'), default=str))",
    );
    assert_eq!(env.deployment().unwrap()["spec"]["replicas"], 3);
}

#[test]
fn a_release_helm_installed_is_adopted_and_continued() {
    let env = Env::new();
    let chart =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/upstream/charts/hello-0.1.0.tgz");
    helm(
        &env,
        &format!(
            "cfg.install('{}', 'hello', values={{'replicas': 1}}, create_namespace=True)\nprint(json.dumps(cfg.list(), default=str))",
            chart.display()
        ),
    );
    assert_eq!(env.deployment().unwrap()["spec"]["replicas"], 1);
    let out = env.deploy(&[]).ok();
    assert!(
        out.stdout.contains("hello: revision 1 (1 written"),
        "{}",
        out.stdout
    );
    assert_eq!(env.deployment().unwrap()["spec"]["replicas"], 2);
    assert_eq!(
        env.release_secrets(),
        releases(&[
            ("sh.helm.release.v1.hello.v1", "superseded"),
            ("sh.helm.release.v1.hello.v2", "deployed")
        ])
    );
}

#[test]
fn an_image_that_cannot_be_pulled_fails_early_naming_pod_container_and_image() {
    let env = Env::new();
    env.double
        .fail_image("demo/hello", PodFailure::ImagePullBackOff);
    let started = std::time::Instant::now();
    let failed = env.deploy(&[]).failed();
    assert!(
        started.elapsed().as_secs() < 60,
        "it waited for the timeout instead of failing early"
    );
    for needle in [
        "hello",
        "ImagePullBackOff",
        "container hello",
        "example.local/demo/hello",
    ] {
        assert!(
            failed.stderr.contains(needle),
            "{needle} not in:\n{}",
            failed.stderr
        );
    }
    let status = env.ferry(&["status", "--json"]).ok().json();
    assert_eq!(status["record"]["status"], "failed");
    assert_eq!(status["record"]["components"][0]["status"], "failed");
    assert_eq!(
        env.release_secrets(),
        releases(&[("sh.helm.release.v1.hello.v1", "failed")])
    );
}

#[test]
fn a_crash_looping_container_fails_early() {
    let env = Env::new();
    env.double
        .fail_image("demo/hello", PodFailure::CrashLoopBackOff);
    let failed = env.deploy(&[]).failed();
    assert!(
        failed.stderr.contains("CrashLoopBackOff"),
        "{}",
        failed.stderr
    );
}

#[test]
fn cluster_refusals_name_the_object_and_what_the_server_said() {
    let env = Env::new();
    env.double.inject(Fault {
        method: Some("PATCH".into()),
        path_contains: "/deployments/hello-hello".into(),
        status: 403,
        message: "deployments.apps is forbidden: User cannot patch".into(),
        times: 10,
    });
    let failed = env.deploy(&[]).failed();
    for needle in ["Deployment hello/hello-hello", "403", "forbidden"] {
        assert!(
            failed.stderr.contains(needle),
            "{needle} not in:\n{}",
            failed.stderr
        );
    }
    assert!(
        !failed.stderr.contains("ApiError"),
        "an internal type name leaked:\n{}",
        failed.stderr
    );
    let status = env.ferry(&["status", "--json"]).ok().json();
    assert_eq!(
        status["record"]["status"], "failed",
        "the record says it did not finish"
    );

    // A wrong token is a clear 401.
    let text = std::fs::read_to_string(&env.kubeconfig)
        .unwrap()
        .replace("double-token", "expired-token");
    std::fs::write(&env.kubeconfig, text).unwrap();
    let refused = env.deploy(&[]).failed();
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
}

#[test]
fn a_lease_held_by_another_deploy_is_respected_and_a_dead_one_expires() {
    let env = Env::new();
    env.double
        .seed(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ferry-system"}}))
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stamp = |secs: u64| {
        let out = Command::new("date")
            .args([
                "-u",
                "-d",
                &format!("@{secs}"),
                "+%Y-%m-%dT%H:%M:%S.000000Z",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    env.double
        .seed(
            serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "ferry-deploy", "namespace": "ferry-system"},
            "spec": {"holderIdentity": "operator-laptop/4242", "leaseDurationSeconds": 60,
                     "acquireTime": stamp(now), "renewTime": stamp(now)}}),
        )
        .unwrap();
    let refused = env.deploy(&[]).failed();
    assert!(
        refused.stderr.contains("another deploy holds the lock"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("operator-laptop/4242"),
        "{}",
        refused.stderr
    );
    assert!(
        env.deployment().is_none(),
        "nothing was applied while locked"
    );

    // A holder that stopped renewing long ago is taken over.
    let deleted = Command::new("/usr/bin/kubectl")
        .args([
            "--kubeconfig",
            env.kubeconfig.to_str().unwrap(),
            "delete",
            "lease",
            "-n",
            "ferry-system",
            "ferry-deploy",
        ])
        .output()
        .unwrap();
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    env.double
        .seed(
            serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "ferry-deploy", "namespace": "ferry-system"},
            "spec": {"holderIdentity": "operator-laptop/4242", "leaseDurationSeconds": 60,
                     "acquireTime": stamp(now - 900), "renewTime": stamp(now - 600)}}),
        )
        .unwrap();
    env.deploy(&[]).ok();
    assert!(env.deployment().is_some());
    assert!(
        env.double
            .get(
                "coordination.k8s.io/v1",
                "Lease",
                Some("ferry-system"),
                "ferry-deploy"
            )
            .is_none(),
        "the lease is given up after the deploy"
    );
}

#[test]
fn images_the_bundle_does_not_carry_are_refused_unless_no_strict() {
    let env = Env::new();
    let values = env.write(
        "values.yaml",
        "hello:\n  image:\n    repository: docker.io/library/nginx\n    tag: \"1.27\"\n",
    );
    let refused = env.deploy(&["--values", values.to_str().unwrap()]).failed();
    for needle in [
        "Deployment hello/hello-hello",
        "docker.io/library/nginx:1.27",
        "does not carry",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "{needle} not in:\n{}",
            refused.stderr
        );
    }
    assert!(env.deployment().is_none());
    env.deploy(&["--values", values.to_str().unwrap(), "--no-strict"])
        .ok();
    let image =
        env.deployment().unwrap()["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image, "docker.io/library/nginx:1.27");
}

#[test]
fn site_variables_must_be_given() {
    let env = Env::new();
    let values = env.write("values.yaml", "hello:\n  greeting: \"hello {SITE_NAME}\"\n");
    let refused = env.deploy(&["--values", values.to_str().unwrap()]).failed();
    assert!(
        refused.stderr.contains("{SITE_NAME} at .greeting"),
        "{}",
        refused.stderr
    );
    assert!(env.deployment().is_none());
    env.deploy(&[
        "--values",
        values.to_str().unwrap(),
        "--var",
        "SITE_NAME=daejeon",
    ])
    .ok();
    assert!(env.deployment().is_some());
}

/// A release the cluster already holds renders as `helm upgrade` renders it (`.Release.IsUpgrade`),
/// with its upgrade hooks; a first deploy renders as an install.
#[test]
fn a_release_already_installed_renders_as_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::copy_example(dir.path());
    let charts = dir.path().join("examples/upstream/charts");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-hello\n  annotations:\n    example/rendered-as: {{ if .Release.IsUpgrade }}upgrade{{ else }}install{{ end }}\n    example/is-install: {{ .Release.IsInstall | quote }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: hello}\n  template:\n    metadata:\n      labels: {app: hello}\n    spec:\n      containers:\n        - name: hello\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n";
    let hook = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hook-{{ if .Release.IsUpgrade }}upgrade{{ else }}install{{ end }}\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-delete-policy: before-hook-creation\ndata: {at: \"{{ .Release.Revision }}\"}\n";
    let entry = support::charts::write_chart(
        &charts,
        "hello",
        "0.1.0",
        &[("deployment.yaml", deployment), ("hook.yaml", hook)],
        "image:\n  repository: example.local/demo/hello\n  tag: \"1.0\"\nreplicas: 1\n",
    );
    support::charts::write_chart_index(&charts, "", &[entry]);
    let cache = dir.path().join("cache");
    let bundle = lock_and_build_copy(dir.path(), &spec, "upgrade");
    let double = Double::spawn(Options::default()).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    let deploy = || {
        common::ferry(
            &cache,
            &[
                "deploy",
                common::s(&bundle),
                "--insecure-skip-signature",
                "-q",
                "--kubeconfig",
                common::s(&kubeconfig),
            ],
        )
        .ok()
    };
    let annotation = |name: &str| {
        double
            .get("apps/v1", "Deployment", Some("hello"), "hello-hello")
            .and_then(|d| {
                d["metadata"]["annotations"][name]
                    .as_str()
                    .map(str::to_owned)
            })
    };
    let first = deploy();
    assert!(
        first.stdout.contains("hello: revision 1"),
        "{}",
        first.stdout
    );
    assert_eq!(
        annotation("example/rendered-as").as_deref(),
        Some("install")
    );
    assert_eq!(annotation("example/is-install").as_deref(), Some("true"));
    assert!(double
        .get("v1", "ConfigMap", Some("hello"), "hook-install")
        .is_some());
    assert!(double
        .get("v1", "ConfigMap", Some("hello"), "hook-upgrade")
        .is_none());

    // The same bundle again: Helm's `upgrade` renders IsUpgrade, so the manifest changes.
    let second = deploy();
    assert!(
        second.stdout.contains("hello: revision 2"),
        "{}",
        second.stdout
    );
    assert_eq!(
        annotation("example/rendered-as").as_deref(),
        Some("upgrade")
    );
    assert_eq!(annotation("example/is-install").as_deref(), Some("false"));
    assert!(double
        .get("v1", "ConfigMap", Some("hello"), "hook-upgrade")
        .is_some());

    // Once upgraded, the rendering is stable: a third deploy writes nothing.
    let third = deploy();
    assert!(
        third.stdout.contains("hello: revision 2 (0 written"),
        "{}",
        third.stdout
    );
}

/// The example bundle plus a component `extra` whose one deploy step applies `text` as the
/// manifest file `objects.yaml`; built into `dir`, returns the bundle.
fn bundle_with_manifest(dir: &Path, text: &str) -> PathBuf {
    let spec = common::copy_example(dir);
    let root = dir.join("examples");
    let manifests = root.join("vendor-manifests/extra");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("objects.yaml"), text).unwrap();
    let sha = common::sha256_file(&manifests.join("objects.yaml"));
    std::fs::write(
        manifests.join("1.0.0.yaml"),
        format!(
            "apiVersion: ferry/v1\nkind: Component\nname: extra\nversion: 1.0.0\nlicense: MIT\ndescription: a manifest step\ndependencies: [hello]\nfiles:\n  - name: objects.yaml\n    url: objects.yaml\n    sha256: {sha}\ndeploy:\n  - manifests: [objects.yaml]\n    timeout: 20s\n"
        ),
    )
    .unwrap();
    let mut bundle_spec = std::fs::read_to_string(&spec).unwrap();
    bundle_spec.push_str("  - name: extra\n    version: 1.0.0\n    namespace: extra\n");
    std::fs::write(&spec, bundle_spec).unwrap();
    lock_and_build_copy(dir, &spec, "extra")
}

fn deploy_to(dir: &Path, bundle: &Path, double: &Double) -> Run {
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    common::ferry(
        &dir.join("cache"),
        &[
            "deploy",
            common::s(bundle),
            "--insecure-skip-signature",
            "-q",
            "--kubeconfig",
            common::s(&kubeconfig),
        ],
    )
}

#[test]
fn a_manifest_that_is_not_yaml_names_the_file_and_step_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with_manifest(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n  namespace: [extra\n",
    );
    let double = Double::spawn(Options::default()).unwrap();
    let failed = deploy_to(dir.path(), &bundle, &double).failed();
    for needle in ["extra", "objects.yaml"] {
        assert!(
            failed.stderr.contains(needle),
            "{needle} not in:\n{}",
            failed.stderr
        );
    }
    // Rendering and parsing come before the cluster: nothing was written.
    let writes: Vec<_> = double
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
}

#[test]
fn an_unknown_kind_names_the_object_and_what_to_install_and_records_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with_manifest(
        dir.path(),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: extra}\nspec: {size: 1}\n",
    );
    let double = Double::spawn(Options::default()).unwrap();
    let failed = deploy_to(dir.path(), &bundle, &double).failed();
    for needle in [
        "Widget",
        "extra/w",
        "example.com/v1",
        "CustomResourceDefinition",
    ] {
        assert!(
            failed.stderr.contains(needle),
            "{needle} not in:\n{}",
            failed.stderr
        );
    }
    let kubeconfig = dir.path().join("kubeconfig");
    let status = common::ferry(
        &dir.path().join("cache"),
        &["status", "--json", "--kubeconfig", common::s(&kubeconfig)],
    )
    .ok()
    .json();
    let components = status["record"]["components"].as_array().unwrap();
    let state = |name: &str| {
        components
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(state("hello").as_deref(), Some("deployed"), "{status:#}");
    assert_eq!(state("extra").as_deref(), Some("failed"), "{status:#}");
    assert_eq!(status["record"]["status"], "failed", "{status:#}");
}

#[test]
fn a_persistent_server_error_is_named_with_the_object_and_a_rerun_converges() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with_manifest(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: extra}\ndata: {a: b}\n",
    );
    let double = Double::spawn(Options::default()).unwrap();
    // A server error that persists fails the deploy, naming object, status and message.
    double.inject(Fault {
        method: Some("PATCH".into()),
        path_contains: "/configmaps/settings".into(),
        status: 500,
        message: "etcdserver: request timed out".into(),
        times: 100,
    });
    let failed = deploy_to(dir.path(), &bundle, &double).failed();
    for needle in [
        "ConfigMap extra/settings",
        "500",
        "etcdserver: request timed out",
    ] {
        assert!(
            failed.stderr.contains(needle),
            "{needle} not in:\n{}",
            failed.stderr
        );
    }
    // Once the server recovers, a rerun converges.
    double.clear_faults();
    deploy_to(dir.path(), &bundle, &double).ok();
    assert!(double
        .get("v1", "ConfigMap", Some("extra"), "settings")
        .is_some());
}

/// Locks a copied spec into `dir/NAME.lock` and builds it into `dir/NAME.tar`.
fn lock_and_build_copy(dir: &Path, spec: &Path, name: &str) -> PathBuf {
    let cache = dir.join("cache");
    let lockfile = dir.join(format!("{name}.lock"));
    let bundle = dir.join(format!("{name}.tar"));
    let (spec, lock, out) = (common::s(spec), common::s(&lockfile), common::s(&bundle));
    common::ferry(&cache, &["lock", spec, "--lockfile", lock, "-q"]).ok();
    let build = [
        "build",
        spec,
        "--locked",
        "--lockfile",
        lock,
        "-o",
        out,
        "-q",
    ];
    common::ferry(&cache, &build).ok();
    bundle
}

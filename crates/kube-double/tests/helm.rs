//! The Helm SDK (Helm v4 through the `helm_python` package of the helm-template venv) against
//! the double: install, list, upgrade, history, rollback, and the release Secrets it keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::env;
use kube_double::Options;
use serde_json::Value;

/// The venv's python, creating the venv with the shared helm-template tool when needed.
fn python() -> PathBuf {
    let venv = std::env::var_os("HELM_TEMPLATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/helm-template-venv")
        });
    let python = venv.join("bin/python");
    let works = |p: &Path| {
        Command::new(p)
            .args(["-c", "import helm_python"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works(&python) {
        let tool =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/helm-template");
        let status = Command::new("bash")
            .arg(&tool)
            .arg("--help")
            .env("HELM_TEMPLATE_VENV", &venv)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && works(&python),
            "the Helm SDK venv at {} could not be created with {} (it needs PyPI's helm-python-sdk)",
            venv.display(),
            tool.display()
        );
    }
    python
}

const SCRIPT: &str = r#"
import json, sys
import helm_python as helm
kubeconfig, chart = sys.argv[1], sys.argv[2]
cfg = helm.Config(kubeconfig_path=kubeconfig, namespace="default")
out = {}
r = cfg.install(chart, "rel", {"replicas": 2}, wait="watcher", timeout=60)
out["install"] = r
out["list"] = cfg.list()
r = cfg.upgrade(chart, "rel", {"replicas": 3}, wait="watcher", timeout=60)
out["upgrade"] = r
out["history"] = cfg.history("rel")
cfg.rollback("rel", version=1, wait="watcher", timeout=60)
out["history_after_rollback"] = cfg.history("rel")
print(json.dumps(out, default=str))
"#;

fn write_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("demo");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        "replicas: 1\nimage: nginx:1.27\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/all.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
data:
  replicas: "{{ .Values.replicas }}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector: {app: {{ .Release.Name }}}
  ports:
  - port: 80
"#,
    )
    .unwrap();
    chart
}

#[test]
fn helm_install_upgrade_history_rollback() {
    let python = python();
    let env = env(Options::default());
    let chart = write_chart(env.dir.path());
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&env.kubeconfig)
        .arg(&chart)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Helm SDK failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(result["install"]["revision"], 1);
    assert_eq!(result["install"]["status"], "deployed");
    let listed: Vec<&str> = result["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["rel"]);
    assert_eq!(result["upgrade"]["revision"], 2);
    let statuses = |key: &str| -> Vec<(i64, String)> {
        result[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["revision"].as_i64().unwrap(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        statuses("history"),
        vec![(1, "superseded".to_string()), (2, "deployed".to_string())]
    );
    assert_eq!(
        statuses("history_after_rollback"),
        vec![
            (1, "superseded".to_string()),
            (2, "superseded".to_string()),
            (3, "deployed".to_string())
        ]
    );

    // the release Secrets, labelled as Helm labels them
    for (version, status) in [(1, "superseded"), (2, "superseded"), (3, "deployed")] {
        let name = format!("sh.helm.release.v1.rel.v{version}");
        let secret = env
            .double
            .get("v1", "Secret", Some("default"), &name)
            .unwrap_or_else(|| panic!("{name} exists"));
        let labels = &secret["metadata"]["labels"];
        assert_eq!(labels["owner"], "helm");
        assert_eq!(labels["name"], "rel");
        assert_eq!(labels["status"], status);
        assert_eq!(labels["version"], version.to_string());
        assert_eq!(secret["type"], "helm.sh/release.v1");
        assert!(secret["data"]["release"]
            .as_str()
            .is_some_and(|r| !r.is_empty()));
    }
    // the rollback to revision 1 brought its values back, and Helm applied server-side
    let dep = env
        .double
        .get("apps/v1", "Deployment", Some("default"), "rel-web")
        .unwrap();
    assert_eq!(dep["spec"]["replicas"], 2);
    let cm = env
        .double
        .get("v1", "ConfigMap", Some("default"), "rel-cfg")
        .unwrap();
    assert_eq!(cm["data"]["replicas"], "2");
    let requests = env.double.requests();
    assert!(requests
        .iter()
        .any(|r| r.verb == "apply" && r.path.ends_with("/deployments/rel-web")));
    assert!(
        requests.iter().any(|r| r.verb == "watch"),
        "waiting watched the resources"
    );
}

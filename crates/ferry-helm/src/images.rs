//! Image discovery in rendered manifests.

use std::collections::BTreeSet;

use crate::chart::Chart;
use crate::error::Error;

/// Keys whose value is a list of containers, each with an `image`.
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Every container, initContainer and ephemeralContainer image in the rendered manifests
/// (`---`-separated YAML documents), at any depth of any document: Pods, Deployments,
/// StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and custom resources that embed pod
/// specs. Images that only appear inside strings are not counted.
pub fn discover_images(rendered: &str) -> Result<BTreeSet<String>, Error> {
    let mut out = BTreeSet::new();
    for (i, doc) in split_documents(rendered).iter().enumerate() {
        if doc.trim().is_empty() {
            continue;
        }
        let v: serde_norway::Value = serde_norway::from_str(doc).map_err(|e| Error::Yaml {
            template: format!("document {}", i + 1),
            message: e.to_string(),
        })?;
        walk(&v, &mut out);
    }
    Ok(out)
}

/// Image fields of well-known operators' custom resources that are not container lists:
/// (kind, dotted path to a string image reference or to a `{repository, tag}`/`{image}` map).
pub const KNOWN_OPERATOR_FIELDS: &[(&str, &str)] = &[
    ("CephCluster", "spec.cephVersion.image"),
    ("Prometheus", "spec.image"),
    ("Alertmanager", "spec.image"),
    ("ThanosRuler", "spec.image"),
    ("PrometheusAgent", "spec.image"),
    ("Kafka", "spec.kafka.image"),
    ("Kafka", "spec.zookeeper.image"),
    ("Elasticsearch", "spec.image"),
    ("Kibana", "spec.image"),
    ("Postgresql", "spec.dockerImage"),
    ("Cluster", "spec.imageName"),
    ("RedisFailover", "spec.redis.image"),
    ("RedisFailover", "spec.sentinel.image"),
    ("Grafana", "spec.baseImage"),
    ("Keycloak", "spec.image"),
];

/// Like [`discover_images`], and also the image fields of well-known operators' custom resources
/// ([`KNOWN_OPERATOR_FIELDS`]), which are not container lists.
pub fn discover_images_with_operators(rendered: &str) -> Result<BTreeSet<String>, Error> {
    let mut out = discover_images(rendered)?;
    for doc in split_documents(rendered) {
        if doc.trim().is_empty() {
            continue;
        }
        let Ok(v) = serde_norway::from_str::<serde_norway::Value>(&doc) else {
            continue;
        };
        let Some(kind) = v.get("kind").and_then(|k| k.as_str()) else {
            continue;
        };
        for (k, path) in KNOWN_OPERATOR_FIELDS {
            if *k != kind || path.is_empty() {
                continue;
            }
            let mut cur = Some(&v);
            for part in path.split('.') {
                cur = cur.and_then(|c| c.get(part));
            }
            if let Some(serde_norway::Value::String(img)) = cur {
                if !img.is_empty() {
                    out.insert(img.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Images listed in the chart's `helm.sh/images` annotation (and its dependencies').
pub fn annotation_images(chart: &Chart) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, v) in &chart.metadata.annotations {
        if k == "helm.sh/images" {
            if let Ok(serde_norway::Value::Sequence(items)) =
                serde_norway::from_str::<serde_norway::Value>(v)
            {
                for it in items {
                    if let Some(serde_norway::Value::String(img)) = it.get("image") {
                        out.insert(img.clone());
                    }
                }
            }
        }
    }
    for d in &chart.dependencies {
        out.extend(annotation_images(d));
    }
    out
}

fn split_documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            docs.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push_str(line);
    }
    docs.push(cur);
    docs
}

fn walk(v: &serde_norway::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_norway::Value::Mapping(m) => {
            for (k, x) in m {
                if let serde_norway::Value::String(key) = k {
                    if CONTAINER_LISTS.contains(&key.as_str()) {
                        if let serde_norway::Value::Sequence(items) = x {
                            for c in items {
                                if let Some(serde_norway::Value::String(img)) = c.get("image") {
                                    if !img.is_empty() {
                                        out.insert(img.clone());
                                    }
                                }
                            }
                        }
                    }
                }
                walk(x, out);
            }
        }
        serde_norway::Value::Sequence(s) => {
            for x in s {
                walk(x, out);
            }
        }
        serde_norway::Value::Tagged(t) => walk(&t.value, out),
        _ => {}
    }
}

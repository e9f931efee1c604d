//! The in-cluster unpacker: ferry running inside the cluster as a Job of its
//! own image, reading the bundle, verifying it, pushing it into Harbor over
//! the cluster network and deploying it with a service account.
//!
//! [`objects`] lists what `ferry deploy --in-cluster` creates in
//! `ferry-system` (the ServiceAccount, the RBAC [`rbac::derive`]d from the
//! plan, the Secret with the trusted key and Harbor credentials, and the
//! Job, which reaches the bundle by one of two [`BundleSource`]s);
//! [`download`] is how the Job fetches a bundle that `ferry serve` offers.

pub mod apply;
pub mod bootstrap;
pub mod download;
pub mod rbac;

use serde::Serialize;
use serde_json::{json, Value};

use crate::deploy::{Plan, RECORD_NAMESPACE};

/// The name of the ServiceAccount, roles, bindings and Secret.
pub const NAME: &str = "ferry-unpacker";
/// Where the Job mounts the trusted public key.
pub const TRUST_DIR: &str = "/etc/ferry/trust";
/// Where the Job mounts the Harbor credentials (a Docker `config.json`).
pub const HARBOR_DIR: &str = "/etc/ferry/harbor";
/// The Job's writable work directory (an emptyDir: download, cache, image map).
pub const WORK_DIR: &str = "/work";
/// Where a hostPath bundle's directory is mounted.
pub const BUNDLE_DIR: &str = "/bundle";

/// How the bundle reaches the Job's pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum BundleSource {
    /// Streamed from `ferry serve` on the bastion (`http://HOST:PORT/_ferry/bundle.tar`),
    /// resumed with `Range` into the pod's work directory.
    Url {
        /// The URL.
        url: String,
    },
    /// A file on one node, mounted read-only by hostPath; the pod is bound to that node.
    HostPath {
        /// The node (`kubernetes.io/hostname`).
        node: String,
        /// The bundle file on it.
        path: String,
    },
}

impl BundleSource {
    /// Parses `NODE:/path/to/bundle.tar`.
    pub fn host_path(value: &str) -> Result<Self, String> {
        match value.split_once(':') {
            Some((node, path)) if !node.is_empty() && path.starts_with('/') && path.len() > 1 => {
                Ok(Self::HostPath {
                    node: node.to_owned(),
                    path: path.to_owned(),
                })
            }
            _ => Err(format!(
                "`{value}`: expected NODE:/absolute/path/to/bundle.tar"
            )),
        }
    }
}

/// What the Job is told.
#[derive(Clone, Debug, Serialize)]
pub struct JobSettings {
    /// Where the bundle comes from.
    pub source: BundleSource,
    /// ferry's image as the nodes pull it (`ferry.local/ferry:<version>@sha256:…`).
    pub image: String,
    /// The bundle root (names the Job: one Job per bundle).
    pub root: crate::oci::Digest,
    /// Harbor as the pod reaches it (`harbor.harbor.svc:80[/PROJECT]`).
    pub harbor: String,
    /// The trusted public key (PEM), handed in through the Secret.
    pub public_key: String,
    /// A Docker `config.json` with Harbor's credentials, if any.
    pub harbor_config: Option<String>,
    /// Registries the pod talks to over plain HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Pod retries before the Job fails.
    pub backoff_limit: i64,
    /// The emptyDir's size limit (the bundle and the cache fit in it), e.g. `64Gi`.
    pub work_size: String,
    /// The site inputs of the render, as the operator's deploy would use them.
    #[serde(skip)]
    pub site: SiteInputs,
}

/// What makes a render this site's: the site seed (the same generated passwords and keys as
/// an operator's deploy, so moving the deploy into the cluster rotates nothing), site
/// variables and values files. Handed to the pod through the Secret.
#[derive(Clone, Debug, Default)]
pub struct SiteInputs {
    /// The site seed file's text.
    pub seed: Option<String>,
    /// `NAME=VALUE` site variables.
    pub vars: Vec<String>,
    /// Values files' texts, in order.
    pub values: Vec<String>,
}

/// The Job's name for a bundle root.
pub fn job_name(root: &crate::oci::Digest) -> String {
    format!("{NAME}-{}", &root.hex()[..12])
}

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "ferry"})
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({"name": name, "labels": labels()});
    if let Some(namespace) = namespace {
        meta["namespace"] = json!(namespace);
    }
    meta
}

/// Every object `ferry deploy --in-cluster` applies, in order, with the RBAC
/// derived from `plan`.
pub fn objects(plan: &Plan, settings: &JobSettings) -> (Vec<Value>, rbac::Rbac) {
    let rbac = rbac::derive(plan);
    let ns = Some(RECORD_NAMESPACE);
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(RECORD_NAMESPACE, None)}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME, ns),
               "automountServiceAccountToken": true}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": meta(NAME, None), "rules": rbac.cluster}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": meta(NAME, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": RECORD_NAMESPACE}]}),
    ];
    for (namespace, rules) in &rbac.namespaced {
        if namespace != RECORD_NAMESPACE {
            out.push(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(namespace, None)}),
            );
        }
        out.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": meta(NAME, Some(namespace)), "rules": rules}),
        );
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": meta(NAME, Some(namespace)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": RECORD_NAMESPACE}]}));
    }
    let mut secret = json!({"cosign.pub": settings.public_key});
    if let Some(seed) = &settings.site.seed {
        secret["site.seed"] = json!(seed);
    }
    for (n, values) in settings.site.values.iter().enumerate() {
        secret[format!("values-{n}.yaml")] = json!(values);
    }
    if let Some(config) = &settings.harbor_config {
        secret["config.json"] = json!(config);
    }
    out.push(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta(NAME, ns),
                    "type": "Opaque", "stringData": secret}),
    );
    out.push(job(settings));
    (out, rbac)
}

fn job(settings: &JobSettings) -> Value {
    let name = job_name(&settings.root);
    let mut args = vec!["unpacker".to_owned(), "run".to_owned()];
    let mut mounts = vec![
        json!({"name": "work", "mountPath": WORK_DIR}),
        json!({"name": "trust", "mountPath": TRUST_DIR, "readOnly": true}),
    ];
    let mut volumes = vec![
        json!({"name": "work", "emptyDir": {"sizeLimit": settings.work_size}}),
        json!({"name": "trust", "secret": {"secretName": NAME, "defaultMode": 0o440,
               "items": trust_items(&settings.site)}}),
    ];
    let mut affinity = None;
    match &settings.source {
        BundleSource::Url { url } => {
            args.extend(["--bundle-url".to_owned(), url.clone()]);
        }
        BundleSource::HostPath { node, path } => {
            let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
            let dir = if dir.is_empty() { "/" } else { dir };
            args.extend(["--bundle-path".to_owned(), format!("{BUNDLE_DIR}/{file}")]);
            mounts.push(json!({"name": "bundle", "mountPath": BUNDLE_DIR, "readOnly": true}));
            volumes.push(json!({"name": "bundle", "hostPath": {"path": dir, "type": "Directory"}}));
            affinity = Some(
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{
                    "key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}),
            );
        }
    }
    args.extend([
        "--work-dir".to_owned(),
        WORK_DIR.to_owned(),
        "--key".to_owned(),
        format!("{TRUST_DIR}/cosign.pub"),
        "--to".to_owned(),
        settings.harbor.clone(),
        "--job-name".to_owned(),
        name.clone(),
    ]);
    for registry in &settings.insecure_registries {
        args.extend(["--insecure-registry".to_owned(), registry.clone()]);
    }
    for var in &settings.site.vars {
        args.extend(["--var".to_owned(), var.clone()]);
    }
    for n in 0..settings.site.values.len() {
        args.extend([
            "--values".to_owned(),
            format!("{TRUST_DIR}/values-{n}.yaml"),
        ]);
    }
    let mut env = vec![
        json!({"name": "HOME", "value": WORK_DIR}),
        json!({"name": "FERRY_CACHE_DIR", "value": format!("{WORK_DIR}/cache")}),
    ];
    if settings.site.seed.is_some() {
        env.push(json!({"name": "FERRY_SEED_FILE", "value": format!("{TRUST_DIR}/site.seed")}));
    }
    if settings.harbor_config.is_some() {
        mounts.push(json!({"name": "harbor", "mountPath": HARBOR_DIR, "readOnly": true}));
        volumes.push(
            json!({"name": "harbor", "secret": {"secretName": NAME, "defaultMode": 0o440,
               "items": [{"key": "config.json", "path": "config.json"}]}}),
        );
        env.push(json!({"name": "DOCKER_CONFIG", "value": HARBOR_DIR}));
    } else {
        env.push(json!({"name": "DOCKER_CONFIG", "value": format!("{WORK_DIR}/no-docker-config")}));
    }
    let uid = crate::ferry_image::UID;
    let mut pod = json!({
        "serviceAccountName": NAME,
        // OnFailure: a failed container restarts in the same pod, keeping the
        // emptyDir, so the download and the cache resume.
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsNonRoot": true, "runAsUser": uid, "runAsGroup": uid,
                            "fsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "unpacker",
            "image": settings.image,
            "imagePullPolicy": "IfNotPresent",
            "args": args,
            "env": env,
            "volumeMounts": mounts,
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                          "limits": {"cpu": "2", "memory": "1Gi"}},
        }],
        "volumes": volumes,
    });
    if let Some(affinity) = affinity {
        pod["affinity"] = affinity;
    }
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta(&name, Some(RECORD_NAMESPACE)),
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "template": {"metadata": {"labels": labels()}, "spec": pod},
        },
    })
}

/// The files of the trust volume: the key, and the site inputs when given.
fn trust_items(site: &SiteInputs) -> Vec<Value> {
    let mut items = vec![json!({"key": "cosign.pub", "path": "cosign.pub"})];
    if site.seed.is_some() {
        items.push(json!({"key": "site.seed", "path": "site.seed"}));
    }
    for n in 0..site.values.len() {
        let name = format!("values-{n}.yaml");
        items.push(json!({"key": name, "path": name}));
    }
    items
}

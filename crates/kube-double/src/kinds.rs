//! The resource types the double serves: the built-in table, and those that Established CRDs add.

use serde_json::Value;

/// One served resource type (a row of discovery).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// API group, `""` for the core group.
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The plural resource name, e.g. `deployments`.
    pub plural: String,
    /// The singular resource name, e.g. `deployment`.
    pub singular: String,
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Whether a `/status` subresource exists (main-resource writes then keep the stored status).
    pub status: bool,
    /// Short names for kubectl (`deploy`, `cm`, ...).
    pub short_names: Vec<String>,
    /// Whether `metadata.generation` is kept.
    pub generation: bool,
    /// Whether this type comes from a CRD.
    pub custom: bool,
}

impl Resource {
    /// `group/version` for the preferred version (`v1` for the core group).
    pub fn api_version(&self) -> String {
        self.api_version_for(&self.versions[0])
    }

    /// `group/version` for the given version.
    pub fn api_version_for(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }
}

// (group, version, kind, plural, short names, namespaced, status subresource)
const BUILTIN: &[(&str, &str, &str, &str, &str, bool, bool)] = &[
    ("", "v1", "Namespace", "namespaces", "ns", false, true),
    ("", "v1", "ConfigMap", "configmaps", "cm", true, false),
    ("", "v1", "Secret", "secrets", "", true, false),
    ("", "v1", "Service", "services", "svc", true, true),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "sa",
        true,
        false,
    ),
    ("", "v1", "Endpoints", "endpoints", "ep", true, false),
    ("", "v1", "Pod", "pods", "po", true, true),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "pvc",
        true,
        true,
    ),
    (
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "pv",
        false,
        true,
    ),
    ("", "v1", "Node", "nodes", "no", false, true),
    ("", "v1", "Event", "events", "ev", true, false),
    (
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "quota",
        true,
        true,
    ),
    ("", "v1", "LimitRange", "limitranges", "limits", true, false),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deploy",
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "sts",
        true,
        true,
    ),
    ("apps", "v1", "DaemonSet", "daemonsets", "ds", true, true),
    ("apps", "v1", "ReplicaSet", "replicasets", "rs", true, true),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "",
        true,
        false,
    ),
    ("batch", "v1", "Job", "jobs", "", true, true),
    ("batch", "v1", "CronJob", "cronjobs", "cj", true, true),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ing",
        true,
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "",
        false,
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "netpol",
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "",
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "",
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "",
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "",
        false,
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "crd,crds",
        false,
        true,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        "",
        false,
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "",
        false,
        false,
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "",
        false,
        true,
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "sc",
        false,
        false,
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "pdb",
        true,
        true,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "hpa",
        true,
        true,
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "pc",
        false,
        false,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "",
        true,
        false,
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "",
        true,
        false,
    ),
];

/// The built-in resource types.
pub fn builtin() -> Vec<Resource> {
    BUILTIN
        .iter()
        .map(
            |&(group, version, kind, plural, short, namespaced, status)| Resource {
                group: group.into(),
                versions: vec![version.into()],
                kind: kind.into(),
                plural: plural.into(),
                singular: kind.to_ascii_lowercase(),
                namespaced,
                status,
                short_names: short
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                generation: status,
                custom: false,
            },
        )
        .collect()
}

/// The resource type a CRD object defines, if its spec is complete enough.
pub fn from_crd(crd: &Value) -> Option<Resource> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let kind = names.get("kind")?.as_str()?.to_string();
    let plural = names.get("plural")?.as_str()?.to_string();
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let mut versions: Vec<(bool, String)> = Vec::new();
    let mut status = false;
    for v in spec.get("versions")?.as_array()? {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let name = v.get("name")?.as_str()?.to_string();
        let storage = v.get("storage").and_then(Value::as_bool).unwrap_or(false);
        if v.pointer("/subresources/status").is_some() {
            status = true;
        }
        versions.push((storage, name));
    }
    if versions.is_empty() {
        return None;
    }
    // preferred: the storage version first, the others in their order
    versions.sort_by_key(|(storage, _)| !storage);
    let short_names = names
        .get("shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(Resource {
        group: spec.get("group")?.as_str()?.to_string(),
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        kind,
        plural,
        singular,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        status,
        short_names,
        generation: true,
        custom: true,
    })
}

/// Splits `group/version` (or `v1`) into (group, version).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

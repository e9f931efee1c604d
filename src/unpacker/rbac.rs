//! The unpacker's RBAC, derived from a deploy plan: the resources and verbs
//! that apply, prune, wait, the release records and the lease need, in the
//! namespaces the bundle's objects live in, cluster-scoped only for the
//! kinds that are.
//!
//! No cluster is asked: resource names come from the kind by the rule the
//! API server's own REST mapper applies to kinds without an irregular plural
//! (lowercase; `y` → `ies`; `s`, `x`, `ch`, `sh` → `es`; else `s`), and a
//! kind is cluster-scoped when its objects carry no namespace in the plan.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::deploy::{Plan, RECORD_NAMESPACE};

/// What apply, prune and the readiness checks do to a kind the bundle applies.
pub const APPLY_VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

/// One RBAC rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// API groups (`""` is the core group).
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// The unpacker's permissions: one ClusterRole, one Role per namespace.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rbac {
    /// Rules of the ClusterRole.
    pub cluster: Vec<Rule>,
    /// Rules of each namespace's Role.
    pub namespaced: BTreeMap<String, Vec<Rule>>,
    /// Why each broad permission is there.
    pub notes: Vec<String>,
}

/// The resource (plural) of a kind.
pub fn resource_of(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match lower.as_str() {
        "endpoints" => return lower,
        "podsecuritypolicy" => return "podsecuritypolicies".to_owned(),
        _ => {}
    }
    if let Some(stem) = lower.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

fn group_of(api_version: &str) -> String {
    match api_version.split_once('/') {
        Some((group, _)) => group.to_owned(),
        None => String::new(),
    }
}

fn rule(group: &str, resources: &BTreeSet<String>, verbs: &[&str]) -> Rule {
    Rule {
        api_groups: vec![group.to_owned()],
        resources: resources.iter().cloned().collect(),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
    }
}

/// Rules from (group → resources) with `verbs`, one rule per group.
fn rules(by_group: &BTreeMap<String, BTreeSet<String>>, verbs: &[&str]) -> Vec<Rule> {
    by_group
        .iter()
        .map(|(group, resources)| rule(group, resources, verbs))
        .collect()
}

/// Derives the unpacker's RBAC from the objects `plan` applies.
pub fn derive(plan: &Plan) -> Rbac {
    let mut cluster: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut namespaced: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::from([RECORD_NAMESPACE.to_owned()]);
    let mut grants_rbac = false;
    for component in &plan.components {
        for step in &component.steps {
            if let Some(release) = &step.release {
                namespaces.insert(release.namespace.clone());
            }
            for object in step.objects.iter().chain(&step.hooks) {
                let id = &object.id;
                let group = group_of(&id.api_version);
                let resource = resource_of(&id.kind);
                if group == "rbac.authorization.k8s.io" {
                    grants_rbac = true;
                }
                match &id.namespace {
                    Some(namespace) => {
                        namespaces.insert(namespace.clone());
                        namespaced
                            .entry(namespace.clone())
                            .or_default()
                            .entry(group)
                            .or_default()
                            .insert(resource);
                    }
                    None => {
                        cluster.entry(group).or_default().insert(resource);
                    }
                }
            }
        }
    }
    let mut notes = vec![
        format!("every kind the bundle applies: {} in the namespaces it lives in (cluster-wide only for cluster-scoped kinds): apply, wait and prune", APPLY_VERBS.join(", ")),
        "pods and endpoints (get, list, watch) in each namespace: readiness and failure checks (ImagePullBackOff, CrashLoopBackOff), webhook endpoints".to_owned(),
        "secrets in each release namespace: Helm release records (sh.helm.release.v1.*)".to_owned(),
        format!("secrets and leases in {RECORD_NAMESPACE}: the deployment record and the one-deploy-at-a-time lease"),
        "namespaces (get, list, create, patch) and customresourcedefinitions (get, list, watch): components' namespaces, and CRDs becoming Established".to_owned(),
        "resource names are derived from kinds offline; a kind with an irregular plural needs its rule edited".to_owned(),
        "prune removes only kinds this bundle applies; objects of kinds an older bundle applied and this one does not are left (the rules do not reach them)".to_owned(),
    ];
    if grants_rbac {
        notes.push("escalate and bind on roles and clusterroles: the bundle creates RBAC objects, which Kubernetes allows only to a subject holding their permissions or these verbs".to_owned());
    }
    let mut cluster_rules = rules(&cluster, &APPLY_VERBS);
    cluster_rules.push(rule(
        "",
        &BTreeSet::from(["namespaces".to_owned()]),
        &["get", "list", "create", "patch"],
    ));
    cluster_rules.push(rule(
        "apiextensions.k8s.io",
        &BTreeSet::from(["customresourcedefinitions".to_owned()]),
        &READ_VERBS,
    ));
    if grants_rbac {
        cluster_rules.push(rule(
            "rbac.authorization.k8s.io",
            &BTreeSet::from(["clusterroles".to_owned(), "roles".to_owned()]),
            &["escalate", "bind"],
        ));
    }
    let mut by_namespace = BTreeMap::new();
    for namespace in namespaces {
        let mut groups = namespaced.remove(&namespace).unwrap_or_default();
        // Release records and the deployment record are Secrets.
        groups
            .entry(String::new())
            .or_default()
            .insert("secrets".to_owned());
        let mut list = rules(&groups, &APPLY_VERBS);
        list.push(rule(
            "",
            &BTreeSet::from(["endpoints".to_owned(), "pods".to_owned()]),
            &READ_VERBS,
        ));
        if namespace == RECORD_NAMESPACE {
            list.push(rule(
                "coordination.k8s.io",
                &BTreeSet::from(["leases".to_owned()]),
                &APPLY_VERBS,
            ));
        }
        by_namespace.insert(namespace, list);
    }
    Rbac {
        cluster: cluster_rules,
        namespaced: by_namespace,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        for (kind, resource) in [
            ("Deployment", "deployments"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("StorageClass", "storageclasses"),
            ("Endpoints", "endpoints"),
            ("Gateway", "gateways"),
            ("ConfigMap", "configmaps"),
        ] {
            assert_eq!(resource_of(kind), resource, "{kind}");
        }
    }
}

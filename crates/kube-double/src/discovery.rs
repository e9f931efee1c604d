//! Discovery (`/api`, `/apis`, group and group-version resource lists), `/version`, and the
//! OpenAPI documents kubectl and Helm read (v3 only says which PATCH parameters are supported;
//! v2 is an empty document).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::store::Store;

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-double", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]})
}

/// The non-core groups and their versions, preferred first.
fn groups(store: &Store) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in store.resources().filter(|r| !r.group.is_empty()) {
        let versions = out.entry(r.group.clone()).or_default();
        for v in &r.versions {
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
    }
    out
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(json!({}))})
}

/// `/apis`.
pub fn group_list(store: &Store) -> Value {
    let groups: Vec<Value> = groups(store)
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(store: &Store, name: &str) -> Option<Value> {
    let all = groups(store);
    let versions = all.get(name)?;
    let mut g = group_json(name, versions);
    if let Some(m) = g.as_object_mut() {
        m.insert("kind".into(), json!("APIGroup"));
        m.insert("apiVersion".into(), json!("v1"));
    }
    Some(g)
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(store: &Store, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in store
        .resources()
        .filter(|r| r.group == group && r.versions.iter().any(|v| v == version))
    {
        let mut verbs = vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        if r.kind == "Namespace" {
            verbs.retain(|v| *v != "deletecollection");
        }
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": verbs, "shortNames": r.short_names, "storageVersionHash": "",
        }));
        if r.status {
            resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/openapi/v3`: one entry per served group-version.
pub fn openapi_v3_root(store: &Store) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=DOUBLE"}),
    );
    for (g, vs) in groups(store) {
        for v in vs {
            paths.insert(
                format!("apis/{g}/{v}"),
                json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash=DOUBLE")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<api|apis/group>/<version>`: the object paths with the PATCH parameters the
/// double supports (clients read this to decide whether the server validates fields).
pub fn openapi_v3_group(store: &Store, group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let params: Vec<Value> = [
        "dryRun",
        "fieldManager",
        "fieldValidation",
        "force",
        "pretty",
    ]
    .iter()
    .map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
    .collect();
    for r in store
        .resources()
        .filter(|r| r.group == group && r.versions.iter().any(|v| v == version))
    {
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let gvk = json!({"group": r.group, "version": version, "kind": r.kind});
        paths.insert(
            path,
            json!({"patch": {"operationId": format!("patch{}", r.kind), "parameters": params,
                "responses": {"200": {"description": "OK"}}, "x-kubernetes-group-version-kind": gvk}}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes (double)", "version": "v1.32.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}

/// `/openapi/v2` as JSON (an empty Swagger document).
pub fn openapi_v2_json() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes (double)", "version": "v1.32.0"}, "paths": {}, "definitions": {}})
}

/// `/openapi/v2` as protobuf: a Document whose only field is `swagger: "2.0"`.
pub const OPENAPI_V2_PROTO: &[u8] = b"\x0a\x032.0";

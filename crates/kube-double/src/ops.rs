//! The writes: create, replace, patch (merge, strategic, JSON, apply), delete — with
//! resourceVersion, generation, managedFields, finalizers and cascading deletion.

use serde_json::{json, Value};

use crate::kinds::Resource;
use crate::managed::{self, Scope};
use crate::patch;
use crate::status::ApiError;
use crate::store::{name_of, set_meta, Store};
use crate::util::now_rfc3339;

/// Where a write goes: a type at a version, in a namespace (`""` for cluster scope).
#[derive(Debug, Clone)]
pub struct Target {
    /// The type.
    pub res: Resource,
    /// The version of the request.
    pub version: String,
    /// The namespace, `""` for cluster-scoped types.
    pub namespace: String,
}

impl Target {
    fn api_version(&self) -> String {
        self.res.api_version_for(&self.version)
    }
}

/// How a write was asked for.
#[derive(Debug, Clone, Default)]
pub struct Write {
    /// The field manager (given, or derived from the user agent).
    pub manager: String,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `status` when writing the status subresource.
    pub subresource: Option<String>,
    /// `force=true` (apply only).
    pub force: bool,
}

impl Write {
    fn scope(&self, res: &Resource) -> Scope {
        match self.subresource.as_deref() {
            Some("status") => Scope::Status,
            _ if res.status => Scope::NoStatus,
            _ => Scope::All,
        }
    }
}

/// The kinds of PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// POST: creates an object.
pub fn create(
    store: &mut Store,
    t: &Target,
    mut body: Value,
    w: &Write,
) -> Result<Value, ApiError> {
    check_type(t, &body)?;
    let name = name_of(&body).to_string();
    if name.is_empty() {
        let prefix = body
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .map(String::from);
        let Some(prefix) = prefix else {
            return Err(ApiError::invalid(
                &t.res.kind,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        };
        let generated = format!("{prefix}{}", store.rng.suffix(5));
        set_meta(&mut body, "name", json!(generated));
    }
    let name = name_of(&body).to_string();
    if store.get(&t.res, &t.namespace, &name).is_some() {
        return Err(ApiError::already_exists(&t.res.group, &t.res.plural, &name));
    }
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
    }
    if t.res.status {
        if let Some(m) = body.as_object_mut() {
            m.remove("status");
        }
    }
    let mut entries = Vec::new();
    managed::update(
        None,
        &body,
        &mut entries,
        &w.manager,
        &t.api_version(),
        None,
        w.scope(&t.res),
    );
    managed::write(&mut body, &entries);
    insert_new(store, t, body, w.dry_run)
}

/// Stores a new object: checks the namespace, fills in defaults and server fields.
fn insert_new(
    store: &mut Store,
    t: &Target,
    mut body: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let name = name_of(&body).to_string();
    check_name(&t.res, &name)?;
    if t.res.namespaced {
        set_meta(&mut body, "namespace", json!(t.namespace));
        let ns_res = store
            .resource("", "v1", "namespaces")
            .ok_or_else(|| ApiError::new(500, "InternalError", "no namespaces type"))?;
        match store.get(&ns_res, "", &t.namespace) {
            None => return Err(ApiError::not_found("", "namespaces", &t.namespace)),
            Some(ns) if ns.pointer("/metadata/deletionTimestamp").is_some() => {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!("{} \"{name}\" is forbidden: unable to create new content in namespace {} because it is being terminated", t.res.plural, t.namespace),
                ))
            }
            Some(_) => {}
        }
    }
    crate::defaults::on_create(store, &t.res, &mut body);
    let uid = store.rng.uid();
    set_meta(&mut body, "uid", json!(uid));
    set_meta(&mut body, "creationTimestamp", json!(now_rfc3339()));
    if t.res.generation {
        set_meta(&mut body, "generation", json!(1));
    }
    if let Some(m) = body.as_object_mut() {
        m.insert("apiVersion".into(), json!(t.api_version()));
        m.insert("kind".into(), json!(t.res.kind));
    }
    after_write(&t.res, &mut body);
    if dry_run {
        return Ok(body);
    }
    let rv = store.next_rv();
    set_meta(&mut body, "resourceVersion", json!(rv.to_string()));
    if t.res.kind == "Pod" && !t.res.custom {
        store.born.insert(uid, std::time::Instant::now());
    }
    store.put(&t.res, &t.namespace, &name, body.clone(), rv);
    sync_types(store, &t.res, &body);
    Ok(body)
}

/// PUT: replaces an object (409 on a stale resourceVersion).
pub fn replace(
    store: &mut Store,
    t: &Target,
    name: &str,
    body: Value,
    w: &Write,
) -> Result<Value, ApiError> {
    check_type(t, &body)?;
    let old = store
        .get(&t.res, &t.namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.res.group, &t.res.plural, name))?;
    if !name_of(&body).is_empty() && name_of(&body) != name {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    let sent_rv = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let old_rv = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !sent_rv.is_empty() && sent_rv != old_rv {
        return Err(ApiError::stale(&t.res.group, &t.res.plural, name));
    }
    let new = restore(&old, body, w.scope(&t.res));
    commit_update(store, t, name, old, new, w)
}

/// PATCH: merge, strategic-merge, JSON patch or server-side apply.
pub fn patch(
    store: &mut Store,
    t: &Target,
    name: &str,
    kind: PatchType,
    body: Value,
    w: &Write,
) -> Result<Value, ApiError> {
    let old = store.get(&t.res, &t.namespace, name).cloned();
    if kind == PatchType::Apply {
        return apply(store, t, name, old, body, w);
    }
    let old = old.ok_or_else(|| ApiError::not_found(&t.res.group, &t.res.plural, name))?;
    let mut new = old.clone();
    match kind {
        PatchType::Merge => patch::merge_patch(&mut new, &body),
        PatchType::Strategic => patch::strategic_merge_patch(&mut new, &body),
        PatchType::Json => patch::json_patch(&mut new, &body)?,
        PatchType::Apply => {}
    }
    let sent_rv = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let old_rv = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != PatchType::Json && !sent_rv.is_empty() && sent_rv != old_rv {
        return Err(ApiError::stale(&t.res.group, &t.res.plural, name));
    }
    let new = restore(&old, new, w.scope(&t.res));
    commit_update(store, t, name, old, new, w)
}

fn apply(
    store: &mut Store,
    t: &Target,
    name: &str,
    old: Option<Value>,
    config: Value,
    w: &Write,
) -> Result<Value, ApiError> {
    if w.manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requests require a fieldManager",
        ));
    }
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the apply configuration is not an object",
        ));
    }
    check_type(t, &config)?;
    if config.get("apiVersion").is_none() || config.get("kind").is_none() {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an apply configuration",
        ));
    }
    if name_of(&config) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({:?}) does not match the name on the URL ({name:?})",
            name_of(&config)
        )));
    }
    let scope = w.scope(&t.res);
    let api_version = t.api_version();
    let spec = managed::Apply {
        manager: &w.manager,
        force: w.force,
        api_version: &api_version,
        subresource: w.subresource.as_deref(),
        scope,
    };
    match old {
        Some(old) => {
            let mut entries = managed::read(&old);
            let mut new = old.clone();
            managed::apply(&mut new, &mut entries, &config, &spec)?;
            managed::write(&mut new, &entries);
            let new = restore(&old, new, scope);
            commit(store, t, name, old, new, w.dry_run)
        }
        None => {
            if w.subresource.is_some() {
                return Err(ApiError::not_found(&t.res.group, &t.res.plural, name));
            }
            let mut new =
                json!({"apiVersion": api_version, "kind": t.res.kind, "metadata": {"name": name}});
            let mut entries = Vec::new();
            managed::apply(&mut new, &mut entries, &config, &spec)?;
            managed::write(&mut new, &entries);
            if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
                    meta.remove(k);
                }
            }
            insert_new(store, t, new, w.dry_run)
        }
    }
}

/// Keeps what a write may not change: identity and server fields, the managedFields, and
/// status or everything-but-status depending on the scope.
fn restore(old: &Value, mut new: Value, scope: Scope) -> Value {
    for k in [
        "uid",
        "name",
        "namespace",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
    ] {
        match old.pointer(&format!("/metadata/{k}")) {
            Some(v) => set_meta(&mut new, k, v.clone()),
            None => {
                if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove(k);
                }
            }
        }
    }
    for k in ["apiVersion", "kind"] {
        if let (Some(v), Some(m)) = (old.get(k), new.as_object_mut()) {
            m.insert(k.into(), v.clone());
        }
    }
    match scope {
        Scope::NoStatus => {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
        }
        Scope::Status => {
            let mut kept = old.clone();
            if let Some(m) = kept.as_object_mut() {
                match new.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
                if let Some(mf) = new.pointer("/metadata/managedFields") {
                    set_meta(&mut kept, "managedFields", mf.clone());
                }
            }
            return kept;
        }
        Scope::All => {}
    }
    new
}

fn commit_update(
    store: &mut Store,
    t: &Target,
    name: &str,
    old: Value,
    mut new: Value,
    w: &Write,
) -> Result<Value, ApiError> {
    let mut entries = managed::read(&old);
    managed::update(
        Some(&old),
        &new,
        &mut entries,
        &w.manager,
        &t.api_version(),
        w.subresource.as_deref(),
        w.scope(&t.res),
    );
    if let Some(mf) = old.pointer("/metadata/managedFields") {
        set_meta(&mut new, "managedFields", mf.clone());
    }
    managed::write(&mut new, &entries);
    commit(store, t, name, old, new, w.dry_run)
}

/// Stores a changed object: no change keeps the resourceVersion; a spec change bumps the
/// generation; an object being deleted whose finalizers are gone is removed.
pub fn commit(
    store: &mut Store,
    t: &Target,
    name: &str,
    old: Value,
    mut new: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    after_write(&t.res, &mut new);
    if new == old {
        return Ok(old);
    }
    if t.res.generation && spec_part(&old) != spec_part(&new) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        set_meta(&mut new, "generation", json!(generation));
    }
    if dry_run {
        return Ok(new);
    }
    let rv = store.next_rv();
    set_meta(&mut new, "resourceVersion", json!(rv.to_string()));
    let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
    let finalizers = new
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let namespace_kept = t.res.kind == "Namespace" && !t.res.custom;
    store.put(&t.res, &t.namespace, name, new.clone(), rv);
    if deleting && !finalizers && !namespace_kept {
        remove_cascading(store, &t.res, &t.namespace, name, "Background");
    } else {
        sync_types(store, &t.res, &new);
    }
    Ok(new)
}

/// The part of an object whose change bumps the generation: all but metadata and status.
fn spec_part(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// DELETE: removes an object, or marks it Terminating while it has finalizers (a Namespace is
/// always marked: the controller empties it, then removes it).
pub fn delete(
    store: &mut Store,
    t: &Target,
    name: &str,
    propagation: &str,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let old = store
        .get(&t.res, &t.namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.res.group, &t.res.plural, name))?;
    if dry_run {
        return Ok(old);
    }
    let finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let namespace = t.res.kind == "Namespace" && !t.res.custom;
    if finalizers || namespace {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut new = old.clone();
        set_meta(&mut new, "deletionTimestamp", json!(now_rfc3339()));
        set_meta(&mut new, "deletionGracePeriodSeconds", json!(0));
        if namespace {
            crate::defaults::set(&mut new, "/status/phase", json!("Terminating"));
        }
        let rv = store.next_rv();
        set_meta(&mut new, "resourceVersion", json!(rv.to_string()));
        store.put(&t.res, &t.namespace, name, new.clone(), rv);
        return Ok(new);
    }
    remove_cascading(store, &t.res, &t.namespace, name, propagation)
        .ok_or_else(|| ApiError::not_found(&t.res.group, &t.res.plural, name))
}

/// Removes an object and then its dependents (ownerReferences to its uid), or, with
/// `Orphan`, drops those references.
pub fn remove_cascading(
    store: &mut Store,
    res: &Resource,
    namespace: &str,
    name: &str,
    propagation: &str,
) -> Option<Value> {
    let removed = store.remove(res, namespace, name)?;
    if res.kind == "CustomResourceDefinition" && !res.custom {
        unregister_crd(store, &removed);
    }
    let uid = removed
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for (dres, dns, dname, dep) in store.all() {
        let owned = dep
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| {
                refs.iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
            });
        if !owned {
            continue;
        }
        let target = Target {
            res: dres.clone(),
            version: dres.versions[0].clone(),
            namespace: dns.clone(),
        };
        if propagation == "Orphan" {
            let mut new = dep.clone();
            if let Some(refs) = new
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
            }
            let _ = commit(store, &target, &dname, dep, new, false);
        } else {
            let _ = delete(store, &target, &dname, "Background", false);
        }
    }
    Some(removed)
}

/// Fills in what the API server itself keeps current on every write: a CRD's Established and
/// NamesAccepted conditions (set by the apiextensions server, at once).
fn after_write(res: &Resource, object: &mut Value) {
    if res.kind != "CustomResourceDefinition" || res.custom {
        return;
    }
    let names = object.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored: Vec<Value> = object
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let already = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| c.len())
        .unwrap_or(0)
        >= 2
        && object.pointer("/status/acceptedNames") == Some(&names);
    if already {
        return;
    }
    let now = now_rfc3339();
    crate::defaults::set(
        object,
        "/status",
        json!({
            "acceptedNames": names,
            "storedVersions": stored,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        }),
    );
}

/// After a CRD changes: serve (or stop serving) its custom resources.
fn sync_types(store: &mut Store, res: &Resource, object: &Value) {
    if res.kind != "CustomResourceDefinition" || res.custom {
        return;
    }
    let name = name_of(object).to_string();
    let established = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type") == Some(&json!("Established"))
                    && c.get("status") == Some(&json!("True"))
            })
        });
    match crate::kinds::from_crd(object) {
        Some(custom) if established && object.pointer("/metadata/deletionTimestamp").is_none() => {
            store.custom.insert(name, custom);
        }
        _ => {}
    }
}

fn unregister_crd(store: &mut Store, crd: &Value) {
    let Some(custom) = store.custom.remove(name_of(crd)) else {
        return;
    };
    let keys: Vec<(String, String)> = store
        .objects
        .get(&(custom.group.clone(), custom.plural.clone()))
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for (ns, n) in keys {
        store.remove(&custom, &ns, &n);
    }
}

fn check_type(t: &Target, body: &Value) -> Result<(), ApiError> {
    let kind = body.get("kind").and_then(Value::as_str);
    let api_version = body.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != t.res.kind) || api_version.is_some_and(|v| v != t.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}), or the kind ({}) is not {}",
            api_version.unwrap_or_default(),
            t.api_version(),
            kind.unwrap_or_default(),
            t.res.kind
        )));
    }
    if t.res.namespaced {
        let ns = body
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !ns.is_empty() && ns != t.namespace {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
    }
    Ok(())
}

fn check_name(res: &Resource, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || c == '.'
                || (c == ':' && !res.namespaced)
        })
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &res.kind,
            name,
            "metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ))
    }
}

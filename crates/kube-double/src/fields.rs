//! Field sets as server-side apply tracks them (the `fieldsV1` tree of managedFields), and the
//! list-map keys that make a list merge item by item instead of being replaced whole.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One path to an owned field: path elements as fieldsV1 writes them (`f:spec`, `k:{"name":"x"}`, `.`).
pub type FieldPath = Vec<String>;
/// A set of owned fields.
pub type FieldSet = BTreeSet<FieldPath>;

/// The list-map keys of a list field, by field name (the keys of the Kubernetes schema's
/// `x-kubernetes-list-map-keys` / `patchMergeKey`, for the lists the double knows).
pub fn list_keys(field: &str) -> &'static [&'static str] {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "versions"
        | "webhooks"
        | "secrets"
        | "resourceClaims" => &["name"],
        "ports" => &["containerPort", "port"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "conditions" => &["type"],
        "hostAliases" => &["ip"],
        "ownerReferences" => &["uid"],
        "topologySpreadConstraints" => &["topologyKey"],
        _ => &[],
    }
}

/// The key a list's items merge on, if every item is a map carrying it.
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    list_keys(field).iter().copied().find(|k| {
        !items.is_empty()
            && items
                .iter()
                .all(|i| i.get(*k).is_some_and(|v| !v.is_null()))
    })
}

/// The path element naming a list item by its key.
pub fn key_element(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(
        key.to_string(),
        item.get(key).cloned().unwrap_or(Value::Null),
    );
    format!("k:{}", Value::Object(m))
}

/// Fields of the object's root or metadata that no manager owns.
fn untracked(path: &[String], key: &str) -> bool {
    match path {
        [] => matches!(key, "apiVersion" | "kind"),
        [m] if m == "f:metadata" => matches!(
            key,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "selfLink"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
        ),
        _ => false,
    }
}

/// The leaf fields a value sets (nulls are not set).
pub fn fields_of(value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn walk(value: &Value, path: &mut FieldPath, out: &mut FieldSet) {
    let Some(map) = value.as_object() else { return };
    for (k, v) in map {
        if v.is_null() || untracked(path, k) {
            continue;
        }
        path.push(format!("f:{k}"));
        match v {
            Value::Object(m) if !m.is_empty() => walk(v, path, out),
            Value::Array(items) => match merge_key(k, items) {
                Some(key) => {
                    for item in items {
                        path.push(key_element(key, item));
                        let mut dot = path.clone();
                        dot.push(".".into());
                        out.insert(dot);
                        walk(item, path, out);
                        path.pop();
                    }
                }
                None => {
                    out.insert(path.clone());
                }
            },
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

/// The value at a field path, if present (`.` names the node itself).
pub fn value_at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut at = root;
    for pe in path {
        if pe == "." {
            return Some(at);
        }
        at = step(at, pe)?;
    }
    Some(at)
}

fn step<'a>(at: &'a Value, pe: &str) -> Option<&'a Value> {
    if let Some(name) = pe.strip_prefix("f:") {
        return at.get(name);
    }
    let key: Value = serde_json::from_str(pe.strip_prefix("k:")?).ok()?;
    let (k, v) = key.as_object()?.iter().next()?;
    at.as_array()?.iter().find(|item| item.get(k) == Some(v))
}

/// Whether the value at `path` differs between two objects (a `.` path compares presence only).
pub fn differs(a: &Value, b: &Value, path: &[String]) -> bool {
    if path.last().map(String::as_str) == Some(".") {
        return value_at(a, path).is_some() != value_at(b, path).is_some();
    }
    value_at(a, path) != value_at(b, path)
}

/// Removes the field at `path` (for `.`, the list item or map itself), then prunes maps left empty.
pub fn remove_path(root: &mut Value, path: &[String]) {
    let (target, parents) = match path.last().map(String::as_str) {
        Some(".") => (&path[..path.len() - 1], path.len() - 1),
        _ => (path, path.len()),
    };
    if target.is_empty() {
        return;
    }
    remove_at(root, target);
    // prune maps that the removal left empty, deepest first
    for depth in (1..parents).rev() {
        let prefix = &target[..depth];
        let empty = matches!(value_at(root, prefix), Some(Value::Object(m)) if m.is_empty());
        if empty && prefix.last().is_some_and(|pe| pe.starts_with("f:")) {
            remove_at(root, prefix);
        } else {
            break;
        }
    }
}

fn remove_at(root: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut at = root;
    for pe in parent_path {
        let next = match step_mut(at, pe) {
            Some(n) => n,
            None => return,
        };
        at = next;
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(m) = at.as_object_mut() {
            m.remove(name);
        }
    } else if let Some(key) = last
        .strip_prefix("k:")
        .and_then(|k| serde_json::from_str::<Value>(k).ok())
    {
        if let (Some((k, v)), Some(items)) = (
            key.as_object().and_then(|o| o.iter().next()),
            at.as_array_mut(),
        ) {
            items.retain(|item| item.get(k) != Some(v));
        }
    }
}

fn step_mut<'a>(at: &'a mut Value, pe: &str) -> Option<&'a mut Value> {
    if let Some(name) = pe.strip_prefix("f:") {
        return at.get_mut(name);
    }
    let key: Value = serde_json::from_str(pe.strip_prefix("k:")?).ok()?;
    let (k, v) = key.as_object()?.iter().next()?;
    at.as_array_mut()?
        .iter_mut()
        .find(|item| item.get(k.as_str()) == Some(v))
}

/// Merges an applied configuration into the live object: maps merge, keyed lists merge item by
/// item, everything else (scalars, atomic lists) is replaced; `null` removes a field.
pub fn merge_applied(live: &mut Value, config: &Value) {
    let (Some(live_map), Some(config_map)) = (live.as_object_mut(), config.as_object()) else {
        *live = config.clone();
        return;
    };
    for (k, v) in config_map {
        if v.is_null() {
            live_map.remove(k);
            continue;
        }
        match (live_map.get_mut(k), v) {
            (Some(l @ Value::Object(_)), Value::Object(_)) => merge_applied(l, v),
            (Some(Value::Array(litems)), Value::Array(citems)) => match merge_key(k, citems) {
                Some(key) if litems.iter().all(|i| i.get(key).is_some()) => {
                    for c in citems {
                        match litems.iter_mut().find(|l| l.get(key) == c.get(key)) {
                            Some(l) => merge_applied(l, c),
                            None => litems.push(c.clone()),
                        }
                    }
                }
                _ => *litems = citems.clone(),
            },
            _ => {
                live_map.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Converts a field set to the `fieldsV1` tree.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut at = &mut root;
        for pe in path {
            let entry = at
                .entry(pe.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            at = match entry {
                Value::Object(m) => m,
                _ => break,
            };
        }
    }
    Value::Object(root)
}

/// Reads a `fieldsV1` tree back into a field set (a node whose only child is `.`, or that has
/// none, is a leaf).
pub fn from_fields_v1(tree: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn go(node: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        let Some(m) = node.as_object() else { return };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
            return;
        }
        for (k, v) in m {
            path.push(k.clone());
            go(v, path, out);
            path.pop();
        }
    }
    go(tree, &mut Vec::new(), &mut out);
    out
}

/// A field path as the conflict messages print it: `.spec.containers[name="app"].image`.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for pe in path {
        if let Some(name) = pe.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = pe.strip_prefix("k:") {
            let parsed: Value = serde_json::from_str(key).unwrap_or(Value::Null);
            let inner = parsed
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            out.push_str(&format!("[{inner}]"));
        }
    }
    out
}

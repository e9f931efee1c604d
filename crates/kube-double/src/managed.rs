//! managedFields: who owns which fields, how an apply claims them (with conflicts) and how an
//! update takes the fields it changed.

use serde_json::{json, Value};

use crate::fields::{differs, display_path, fields_of, remove_path, FieldPath, FieldSet};
use crate::status::ApiError;
use crate::util::now_rfc3339;

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the manager wrote with.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` for the status subresource, else none.
    pub subresource: Option<String>,
    /// The fields owned.
    pub fields: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

/// Reads `metadata.managedFields`.
pub fn read(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(String::from),
                fields: e
                    .get("fieldsV1")
                    .map(crate::fields::from_fields_v1)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Writes `metadata.managedFields` (dropping entries that own nothing).
pub fn write(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": crate::fields::to_fields_v1(&e.fields),
            });
            if let (Some(sub), Some(m)) = (&e.subresource, v.as_object_mut()) {
                m.insert("subresource".into(), Value::String(sub.clone()));
            }
            v
        })
        .collect();
    let meta = object
        .as_object_mut()
        .and_then(|m| m.get_mut("metadata"))
        .and_then(Value::as_object_mut);
    if let Some(meta) = meta {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Which part of an object a write may touch: all but status (main resource of a type with a
/// status subresource), only status (the subresource), or everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every field.
    All,
    /// Every field but `status`.
    NoStatus,
    /// Only `status`.
    Status,
}

/// The fields of `value` within `scope`.
pub fn scoped_fields(value: &Value, scope: Scope) -> FieldSet {
    fields_of(value)
        .into_iter()
        .filter(|p| {
            let status = p.first().map(String::as_str) == Some("f:status");
            match scope {
                Scope::All => true,
                Scope::NoStatus => !status,
                Scope::Status => status,
            }
        })
        .collect()
}

/// What an apply needs to know.
pub struct Apply<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// `force=true`.
    pub force: bool,
    /// The apiVersion of the request.
    pub api_version: &'a str,
    /// `status` for the status subresource.
    pub subresource: Option<&'a str>,
    /// Which part may change.
    pub scope: Scope,
}

/// Applies `config` by `a.manager` to `live` (the live object or a fresh skeleton) and updates
/// the ownership in `entries`; fails with 409 when another manager owns a field that the
/// configuration sets to another value and `force` is false.
pub fn apply(
    live: &mut Value,
    entries: &mut Vec<Entry>,
    config: &Value,
    a: &Apply<'_>,
) -> Result<(), ApiError> {
    let wanted = scoped_fields(config, a.scope);
    let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
    for e in entries.iter() {
        if e.same_owner(a.manager, "Apply", a.subresource) {
            continue;
        }
        for p in e.fields.intersection(&wanted) {
            if differs(live, config, p) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !a.force {
        return Err(conflict_error(&conflicts));
    }
    for e in entries.iter_mut() {
        if !e.same_owner(a.manager, "Apply", a.subresource) {
            for (_, p) in conflicts.iter().filter(|(m, _)| *m == e.manager) {
                e.fields.remove(p);
            }
        }
    }
    let mut scoped = config.clone();
    if let Some(m) = scoped.as_object_mut() {
        match a.scope {
            Scope::NoStatus => {
                m.remove("status");
            }
            Scope::Status => m.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind"),
            Scope::All => {}
        }
    }
    crate::fields::merge_applied(live, &scoped);
    // fields this manager applied before and no longer does, and nobody else owns, go away
    let previous = entries
        .iter()
        .find(|e| e.same_owner(a.manager, "Apply", a.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: FieldSet = entries
        .iter()
        .filter(|e| !e.same_owner(a.manager, "Apply", a.subresource))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let mut dropped: Vec<&FieldPath> = previous
        .iter()
        .filter(|p| !wanted.contains(*p) && !others.contains(*p))
        .collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        let target = match p.split_last() {
            Some((last, rest)) if last == "." => rest,
            _ => &p[..],
        };
        let kept = wanted
            .iter()
            .chain(others.iter())
            .any(|w| w.starts_with(target) || p.starts_with(w));
        if !kept {
            remove_path(live, p);
        }
    }
    claim(
        entries,
        a.manager,
        "Apply",
        a.api_version,
        a.subresource,
        wanted,
    );
    Ok(())
}

/// Records a non-apply write by `manager`: it takes the fields whose values changed (or that
/// it added), and other managers lose them.
pub fn update(
    old: Option<&Value>,
    new: &Value,
    entries: &mut Vec<Entry>,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    scope: Scope,
) {
    let after = scoped_fields(new, scope);
    let changed: FieldSet = match old {
        None => after.clone(),
        Some(old) => {
            let before = scoped_fields(old, scope);
            before
                .union(&after)
                .filter(|p| differs(old, new, p))
                .cloned()
                .collect()
        }
    };
    if changed.is_empty() {
        return;
    }
    for e in entries.iter_mut() {
        for p in &changed {
            e.fields.remove(p);
        }
    }
    let mut mine = entries
        .iter()
        .find(|e| e.same_owner(manager, "Update", subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    mine.extend(changed.into_iter().filter(|p| after.contains(p)));
    claim(entries, manager, "Update", api_version, subresource, mine);
}

fn claim(
    entries: &mut Vec<Entry>,
    manager: &str,
    operation: &str,
    api_version: &str,
    sub: Option<&str>,
    fields: FieldSet,
) {
    match entries
        .iter_mut()
        .find(|e| e.same_owner(manager, operation, sub))
    {
        Some(e) => {
            if e.fields != fields || e.api_version != api_version {
                e.fields = fields;
                e.api_version = api_version.to_string();
                e.time = now_rfc3339();
            }
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: operation.to_string(),
            api_version: api_version.to_string(),
            time: now_rfc3339(),
            subresource: sub.map(String::from),
            fields,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
}

fn conflict_error(conflicts: &[(String, FieldPath)]) -> ApiError {
    let n = conflicts.len();
    let mut managers: Vec<&str> = conflicts.iter().map(|(m, _)| m.as_str()).collect();
    managers.dedup();
    let message = if n == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with \"{}\": {}",
            conflicts[0].0,
            display_path(&conflicts[0].1)
        )
    } else {
        let mut text = format!("Apply failed with {n} conflicts:");
        for (m, p) in conflicts {
            text.push_str(&format!(" conflict with \"{m}\": {}", display_path(p)));
            text.push(';');
        }
        text.pop();
        text
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": display_path(p)}))
        .collect();
    ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

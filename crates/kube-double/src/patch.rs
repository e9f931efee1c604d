//! JSON merge patch (RFC 7386), strategic merge patch (a subset) and JSON patch (RFC 6902).

use serde_json::Value;

use crate::fields::merge_key;
use crate::status::ApiError;

/// Applies a JSON merge patch: maps merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Some(map) = target.as_object_mut() {
        for (k, v) in patch_map {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Applies a strategic merge patch: maps merge, lists with a known merge key (containers by
/// name, ports, env, volumes, ...) merge item by item (`$patch: delete` removes an item), other
/// lists are replaced; `$setElementOrder/` and `$retainKeys` directives are dropped.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        if let Some(m) = replaced.as_object_mut() {
            m.remove("$patch");
        }
        *target = replaced;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (k, v) in patch_map {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            map.remove(k);
            continue;
        }
        match v {
            Value::Array(items) => {
                let live = map.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                match (merge_key(k, items), live.as_array_mut()) {
                    (Some(key), Some(litems)) => {
                        for item in items {
                            let delete =
                                item.get("$patch").and_then(Value::as_str) == Some("delete");
                            let pos = litems.iter().position(|l| l.get(key) == item.get(key));
                            match (pos, delete) {
                                (Some(i), true) => {
                                    litems.remove(i);
                                }
                                (Some(i), false) => strategic_merge_patch(&mut litems[i], item),
                                (None, true) => {}
                                (None, false) => {
                                    let mut fresh = Value::Null;
                                    strategic_merge_patch(&mut fresh, item);
                                    litems.push(fresh);
                                }
                            }
                        }
                    }
                    _ => *live = v.clone(),
                }
            }
            _ => strategic_merge_patch(map.entry(k.clone()).or_insert(Value::Null), v),
        }
    }
}

/// Applies a JSON patch (add, remove, replace, move, copy, test).
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be a list of operations"))?;
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let value = op.get("value").cloned();
        let from = op.get("from").and_then(Value::as_str);
        let fail = |what: &str| {
            ApiError::new(
                422,
                "Invalid",
                format!("the JSON patch {name} at {path:?} failed: {what}"),
            )
        };
        match name {
            "add" => {
                add(target, path, value.ok_or_else(|| fail("no value"))?).map_err(|e| fail(&e))?
            }
            "remove" => {
                remove(target, path).map_err(|e| fail(&e))?;
            }
            "replace" => {
                remove(target, path).map_err(|e| fail(&e))?;
                add(target, path, value.ok_or_else(|| fail("no value"))?).map_err(|e| fail(&e))?;
            }
            "move" => {
                let moved =
                    remove(target, from.ok_or_else(|| fail("no from"))?).map_err(|e| fail(&e))?;
                add(target, path, moved).map_err(|e| fail(&e))?;
            }
            "copy" => {
                let copied = target
                    .pointer(from.ok_or_else(|| fail("no from"))?)
                    .cloned()
                    .ok_or_else(|| fail("missing from"))?;
                add(target, path, copied).map_err(|e| fail(&e))?;
            }
            "test" => {
                if target.pointer(path) != value.as_ref() {
                    return Err(fail("the test did not hold"));
                }
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown JSON patch operation {name:?}"
                )))
            }
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let at = path
        .rfind('/')
        .ok_or_else(|| "the path is not a JSON pointer".to_string())?;
    let last = path[at + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..at].to_string(), last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("{last:?} is not an index"))?;
            if i > a.len() {
                return Err("index out of range".into());
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent does not exist".into()),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(m)) => m
            .remove(&last)
            .ok_or_else(|| "the field does not exist".into()),
        Some(Value::Array(a)) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("{last:?} is not an index"))?;
            if i >= a.len() {
                return Err("index out of range".into());
            }
            Ok(a.remove(i))
        }
        _ => Err("the parent does not exist".into()),
    }
}

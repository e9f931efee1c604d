//! `Table` responses (what `kubectl get` asks for without `-o`): name and age columns.

use serde_json::{json, Value};

/// A `meta.k8s.io/v1` Table of the objects.
pub fn table(objects: &[Value], rv: u64) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(json!(""));
            let created = o.pointer("/metadata/creationTimestamp").cloned().unwrap_or(json!(""));
            let meta = o.get("metadata").cloned().unwrap_or(json!({}));
            json!({"cells": [name, created], "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}})
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "When the object was created", "priority": 0},
        ],
        "rows": rows,
    })
}

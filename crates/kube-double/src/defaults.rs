//! What the real API server fills in on create: defaults of the built-in kinds the double knows,
//! Service cluster IPs, a new Namespace's phase, a Secret's stringData.

use base64::Engine;
use serde_json::{json, Value};

use crate::kinds::Resource;
use crate::store::Store;

/// Fills in the defaults of a new object.
pub fn on_create(store: &mut Store, res: &Resource, object: &mut Value) {
    if res.custom {
        return;
    }
    match (res.group.as_str(), res.kind.as_str()) {
        ("", "Namespace") => {
            set_default(object, "/spec/finalizers", json!(["kubernetes"]));
            set(object, "/status", json!({"phase": "Active"}));
        }
        ("", "Service") => {
            set_default(object, "/spec/type", json!("ClusterIP"));
            set_default(object, "/spec/sessionAffinity", json!("None"));
            if let Some(ports) = object
                .pointer_mut("/spec/ports")
                .and_then(Value::as_array_mut)
            {
                for p in ports {
                    set_default(p, "/protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "/targetPort", port);
                    }
                }
            }
            let headless =
                object.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
            let external =
                object.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
            if !headless && !external && object.pointer("/spec/clusterIP").is_none() {
                store.next_ip += 1;
                let ip = format!("10.96.{}.{}", store.next_ip / 250, store.next_ip % 250 + 1);
                set(object, "/spec/clusterIP", json!(ip));
                set(object, "/spec/clusterIPs", json!([ip]));
            }
            set(object, "/status", json!({"loadBalancer": {}}));
        }
        ("", "Secret") => {
            set_default(object, "/type", json!("Opaque"));
            if let Some(Value::Object(strings)) =
                object.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                for (k, v) in strings {
                    let text = v.as_str().unwrap_or_default().to_string();
                    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                    set(
                        object,
                        &format!("/data/{}", k.replace('~', "~0").replace('/', "~1")),
                        json!(encoded),
                    );
                }
            }
        }
        ("", "Pod") => {
            set(
                object,
                "/status",
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        ("", "PersistentVolumeClaim") => {
            set(object, "/status", json!({"phase": "Pending"}));
        }
        ("apps", "Deployment") => {
            set_default(object, "/spec/replicas", json!(1));
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            set_default(object, "/spec/progressDeadlineSeconds", json!(600));
            set_default(
                object,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
        }
        ("apps", "StatefulSet") => {
            set_default(object, "/spec/replicas", json!(1));
            set_default(object, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(
                object,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        ("apps", "ReplicaSet") => set_default(object, "/spec/replicas", json!(1)),
        ("batch", "Job") => {
            set_default(object, "/spec/completions", json!(1));
            set_default(object, "/spec/parallelism", json!(1));
            set_default(object, "/spec/backoffLimit", json!(6));
        }
        _ => {}
    }
}

/// Sets the value at a JSON pointer, creating maps on the way.
pub fn set(object: &mut Value, pointer: &str, value: Value) {
    let mut at = object;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    for p in parents {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        at = map.entry(p.clone()).or_insert_with(|| json!({}));
    }
    if !at.is_object() {
        *at = json!({});
    }
    if let Some(map) = at.as_object_mut() {
        map.insert(last.clone(), value);
    }
}

/// Sets the value at a JSON pointer unless something is there already.
pub fn set_default(object: &mut Value, pointer: &str, value: Value) {
    if object.pointer(pointer).is_none_or(Value::is_null) {
        set(object, pointer, value);
    }
}

//! The double's own controls, for tests and shell scripts: the same operations the
//! [`crate::Double`] handle offers, over HTTP under `/_double/`.
//!
//! - `GET /_double/requests` (JSON list of [`crate::Request`]), `DELETE /_double/requests` clears it
//! - `POST /_double/fail-image` `{"image": "substring", "failure": "ImagePullBackOff"|"CrashLoopBackOff"}`
//! - `POST /_double/inject` a [`crate::Fault`] as JSON
//! - `GET /_double/objects?apiVersion=apps/v1&kind=Deployment[&namespace=ns][&name=n]`
//! - `POST /_double/objects` an object to store as it is (status included)

use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};

use crate::http::{json_response, Query, Shared};
use crate::status::ApiError;
use crate::store::{name_of, set_meta, Store};
use crate::types::{Fault, PodFailure};

/// Serves `/_double/<rest>`.
pub fn handle(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &Query,
    body: &[u8],
) -> Response {
    let result = (|| -> Result<Value, ApiError> {
        let mut store = shared.lock();
        match (method.clone(), rest.trim_end_matches('/')) {
            (Method::GET, "requests") => {
                Ok(serde_json::to_value(&store.requests).unwrap_or(json!([])))
            }
            (Method::DELETE, "requests") => {
                store.requests.clear();
                Ok(json!({}))
            }
            (Method::POST, "fail-image") => {
                let v: Value = parse(body)?;
                let image = v
                    .get("image")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request("fail-image needs \"image\""))?;
                let failure: PodFailure = serde_json::from_value(
                    v.get("failure")
                        .cloned()
                        .unwrap_or(json!("ImagePullBackOff")),
                )
                .map_err(|e| ApiError::bad_request(format!("failure: {e}")))?;
                store.failures.push((image.to_string(), failure));
                Ok(json!({}))
            }
            (Method::POST, "inject") => {
                let fault: Fault = serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("fault: {e}")))?;
                store.faults.push(fault);
                Ok(json!({}))
            }
            (Method::GET, "objects") => {
                let q = |k: &str| query.get(k).map(String::as_str);
                let (Some(api_version), Some(kind)) = (q("apiVersion"), q("kind")) else {
                    return Err(ApiError::bad_request("objects needs apiVersion and kind"));
                };
                match q("name") {
                    Some(name) => {
                        get(&store, api_version, kind, q("namespace"), name).ok_or_else(|| {
                            ApiError::new(404, "NotFound", format!("{kind} {name:?} not found"))
                        })
                    }
                    None => Ok(json!(list(&store, api_version, kind, q("namespace")))),
                }
            }
            (Method::POST, "objects") => seed(&mut store, parse(body)?),
            _ => Err(ApiError::new(
                404,
                "NotFound",
                format!("no double control {method} /_double/{rest}"),
            )),
        }
    })();
    match result {
        Ok(v) => json_response(200, &v),
        Err(e) => json_response(e.code, &e.to_status()),
    }
}

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// One object by type, namespace and name.
pub fn get(
    store: &Store,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<Value> {
    let res = store.resource_for(api_version, kind)?;
    let ns = if res.namespaced {
        namespace.unwrap_or("default")
    } else {
        ""
    };
    store.get(&res, ns, name).cloned()
}

/// The objects of a type, in one namespace or all.
pub fn list(store: &Store, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
    let Some(res) = store.resource_for(api_version, kind) else {
        return Vec::new();
    };
    let ns = if res.namespaced { namespace } else { None };
    store.list(&res, ns).into_iter().cloned().collect()
}

/// Stores an object as given (status and managedFields kept), filling in uid,
/// resourceVersion and creationTimestamp; the namespace defaults to `default`.
pub fn seed(store: &mut Store, mut object: Value) -> Result<Value, ApiError> {
    let (api_version, kind) = crate::store::type_of(&object);
    let res = store.resource_for(&api_version, &kind).ok_or_else(|| {
        ApiError::bad_request(format!("no type {kind} in {api_version} is served"))
    })?;
    let name = name_of(&object).to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("a seeded object needs metadata.name"));
    }
    let ns = if res.namespaced {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        set_meta(&mut object, "namespace", json!(ns));
        ns
    } else {
        String::new()
    };
    if store.get(&res, &ns, &name).is_some() {
        return Err(ApiError::already_exists(&res.group, &res.plural, &name));
    }
    let uid = store.rng.uid();
    let rv = store.next_rv();
    set_meta(&mut object, "uid", json!(uid));
    set_meta(&mut object, "resourceVersion", json!(rv.to_string()));
    if object.pointer("/metadata/creationTimestamp").is_none() {
        set_meta(
            &mut object,
            "creationTimestamp",
            json!(crate::util::now_rfc3339()),
        );
    }
    if res.generation && object.pointer("/metadata/generation").is_none() {
        set_meta(&mut object, "generation", json!(1));
    }
    if res.kind == "Pod" {
        store.born.insert(uid, std::time::Instant::now());
    }
    store.put(&res, &ns, &name, object.clone(), rv);
    if res.kind == "CustomResourceDefinition" {
        if let Some(custom) = crate::kinds::from_crd(&object) {
            store.custom.insert(name, custom);
        }
    }
    Ok(object)
}

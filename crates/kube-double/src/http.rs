//! The HTTP front: authentication, fault injection, request recording, routing of discovery,
//! OpenAPI and resource paths to the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::kinds::Resource;
use crate::ops::{self, PatchType, Target, Write};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{reason_for, ApiError};
use crate::store::Store;
use crate::types::Request;

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The store.
    pub store: Mutex<Store>,
    /// The bearer token required, if any.
    pub token: Option<String>,
    /// `host:port` the double listens on.
    pub address: String,
}

impl Shared {
    /// Locks the store (a panic elsewhere while holding it does not make the double unusable).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Query parameters, decoded.
pub type Query = HashMap<String, String>;

/// A JSON response.
pub fn json_response(code: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

/// A parsed resource path.
#[derive(Debug, Clone)]
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

/// Entry point for every request.
pub async fn handle(shared: Arc<Shared>, req: axum::extract::Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let headers = req.headers().clone();
    let query: Query = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let body = match axum::body::to_bytes(req.into_body(), 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )))
        }
    };
    if let Some(rest) = path.strip_prefix("/_double/") {
        return crate::control::handle(&shared, &method, rest, &query, &body);
    }
    if let Some(token) = &shared.token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent != Some(token.as_str()) {
            return error_response(&ApiError::new(401, "Unauthorized", "Unauthorized"));
        }
    }
    let parsed = parse_resource_path(&shared, &path);
    let verb = verb_of(&method, parsed.as_ref(), &query, &headers);
    {
        let mut store = shared.lock();
        store.requests.push(Request {
            method: method.to_string(),
            path: path.clone(),
            query: raw_query.clone(),
            verb: verb.to_string(),
            field_manager: query.get("fieldManager").cloned(),
            dry_run: dry_run(&query, &body),
        });
        let hit = store.faults.iter_mut().find(|f| {
            f.times > 0
                && f.method
                    .as_ref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
                && path.contains(&f.path_contains)
        });
        if let Some(fault) = hit {
            fault.times -= 1;
            let e = ApiError::new(
                fault.status,
                reason_for(fault.status),
                fault.message.clone(),
            );
            store.faults.retain(|f| f.times > 0);
            return error_response(&e);
        }
    }
    match parsed {
        Some(rp) => resource(&shared, &method, rp, verb, &query, &headers, &body).await,
        None => non_resource(&shared, &path, &headers),
    }
}

fn dry_run(query: &Query, body: &[u8]) -> bool {
    if query.get("dryRun").is_some_and(|v| v == "All") {
        return true;
    }
    // DeleteOptions in the body
    Some(delete_options(body))
        .and_then(|v| v.get("dryRun").cloned())
        .and_then(|v| v.as_array().cloned())
        .is_some_and(|a| a.iter().any(|x| x == "All"))
}

fn verb_of(
    method: &Method,
    rp: Option<&ResourcePath>,
    query: &Query,
    headers: &HeaderMap,
) -> &'static str {
    let Some(rp) = rp else { return "get" };
    let named = rp.name.is_some();
    let watch = query.get("watch").is_some_and(|w| w == "1" || w == "true");
    match *method {
        Method::GET if named => "get",
        Method::GET if watch => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if ct.starts_with("application/apply-patch") {
                "apply"
            } else {
                "patch"
            }
        }
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

fn parse_resource_path(shared: &Shared, path: &str) -> Option<ResourcePath> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return None,
    };
    let store = shared.lock();
    let namespaced_plural = |p: &str| {
        store
            .resource(group, version, p)
            .is_some_and(|r| r.namespaced)
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..] if namespaced_plural(plural) => {
            (Some(ns.to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(more);
                v
            })
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(ResourcePath {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: plural.into(),
        name,
        subresource,
    })
}

fn non_resource(shared: &Shared, path: &str, headers: &HeaderMap) -> Response {
    let store = shared.lock();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match segs.as_slice() {
        ["version"] => Some(crate::discovery::version()),
        ["healthz"] | ["readyz"] | ["livez"] => {
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response();
        }
        ["api"] => Some(crate::discovery::core_versions(&shared.address)),
        ["api", v] => crate::discovery::resource_list(&store, "", v),
        ["apis"] => Some(crate::discovery::group_list(&store)),
        ["apis", g] => crate::discovery::group(&store, g),
        ["apis", g, v] => crate::discovery::resource_list(&store, g, v),
        ["openapi", "v2"] => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if accept.contains("protobuf") {
                return (
                    StatusCode::OK,
                    [(
                        header::CONTENT_TYPE,
                        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    )],
                    crate::discovery::OPENAPI_V2_PROTO,
                )
                    .into_response();
            }
            Some(crate::discovery::openapi_v2_json())
        }
        ["openapi", "v3"] => Some(crate::discovery::openapi_v3_root(&store)),
        ["openapi", "v3", "api", v] => crate::discovery::openapi_v3_group(&store, "", v),
        ["openapi", "v3", "apis", g, v] => crate::discovery::openapi_v3_group(&store, g, v),
        _ => None,
    };
    match found {
        Some(v) => json_response(200, &v),
        None => error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

/// Parses a request body: JSON, YAML for apply patches, or the protobuf of the kinds
/// [`crate::proto`] reads.
fn parse_body(body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    if body.starts_with(b"k8s\0") {
        return crate::proto::decode(body)
            .map_err(|e| ApiError::new(415, "UnsupportedMediaType", e));
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    if yaml {
        return serde_norway::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    Err(ApiError::bad_request("the request body is not JSON"))
}

/// DeleteOptions from a DELETE body (JSON or protobuf); `{}` when there is none.
fn delete_options(body: &[u8]) -> Value {
    if body.is_empty() {
        return json!({});
    }
    parse_body(body, false).unwrap_or(json!({}))
}

/// Rewrites `apiVersion` to the version the request asked for (custom resources may be read
/// at any served version; the double does no conversion beyond that).
pub fn at_version(mut object: Value, res: &Resource, version: &str) -> Value {
    if let Some(m) = object.as_object_mut() {
        m.insert("apiVersion".into(), json!(res.api_version_for(version)));
    }
    object
}

async fn resource(
    shared: &Arc<Shared>,
    method: &Method,
    rp: ResourcePath,
    verb: &str,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let res = match shared.lock().resource(&rp.group, &rp.version, &rp.plural) {
        Some(r) => r,
        None => {
            return error_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        }
    };
    if let Some(sub) = &rp.subresource {
        if sub != "status" || !res.status {
            return error_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    }
    if verb == "watch" {
        return crate::watch::watch(
            shared.clone(),
            res,
            rp.version.clone(),
            rp.namespace.clone(),
            query,
        )
        .await;
    }
    let namespace = if res.namespaced {
        rp.namespace.clone()
    } else {
        None
    };
    let target = Target {
        res: res.clone(),
        version: rp.version.clone(),
        namespace: namespace.clone().unwrap_or_default(),
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    // an apply names its manager; other writes default to the user agent's program name
    let manager = match query.get("fieldManager") {
        Some(m) => m.clone(),
        None if verb == "apply" => String::new(),
        None => agent.split('/').next().unwrap_or("unknown").to_string(),
    };
    let write = Write {
        manager,
        dry_run: dry_run(query, body),
        subresource: rp.subresource.clone(),
        force: query.get("force").is_some_and(|f| f == "true"),
    };
    let table = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let result: Result<(u16, Value), ApiError> = (|| {
        let mut store = shared.lock();
        match (method.clone(), rp.name.as_deref()) {
            (Method::GET, Some(name)) => {
                let obj = store
                    .get(&res, &target.namespace, name)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
                let obj = at_version(obj, &res, &rp.version);
                Ok((
                    200,
                    if table {
                        crate::table::table(&[obj], store.rv)
                    } else {
                        obj
                    },
                ))
            }
            (Method::GET, None) => {
                let items = select(&store, &res, namespace.as_deref(), query)?;
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|o| at_version(o, &res, &rp.version))
                    .collect();
                if table {
                    return Ok((200, crate::table::table(&items, store.rv)));
                }
                Ok((
                    200,
                    json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version_for(&rp.version),
                    "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
                ))
            }
            (Method::POST, None) => {
                let obj = parse_body(body, false)?;
                let created = ops::create(&mut store, &target, obj, &write)?;
                Ok((201, created))
            }
            (Method::PUT, Some(name)) => {
                let obj = parse_body(body, false)?;
                Ok((200, ops::replace(&mut store, &target, name, obj, &write)?))
            }
            (Method::PATCH, Some(name)) => {
                let kind = match ct.split(';').next().unwrap_or_default().trim() {
                    "application/merge-patch+json" => PatchType::Merge,
                    "application/strategic-merge-patch+json" if !res.custom => PatchType::Strategic,
                    "application/json-patch+json" => PatchType::Json,
                    "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                        PatchType::Apply
                    }
                    other => return Err(ApiError::unsupported_media(other)),
                };
                let obj = parse_body(body, kind == PatchType::Apply)?;
                let existed = store.get(&res, &target.namespace, name).is_some();
                let out = ops::patch(&mut store, &target, name, kind, obj, &write)?;
                Ok((if existed || write.dry_run { 200 } else { 201 }, out))
            }
            (Method::DELETE, Some(name)) => {
                let opts = delete_options(body);
                let propagation = query
                    .get("propagationPolicy")
                    .cloned()
                    .or_else(|| {
                        opts.get("propagationPolicy")
                            .and_then(Value::as_str)
                            .map(String::from)
                    })
                    .unwrap_or_else(|| "Background".into());
                let out = ops::delete(&mut store, &target, name, &propagation, write.dry_run)?;
                Ok((200, out))
            }
            (Method::DELETE, None) => {
                let items = select(&store, &res, namespace.as_deref(), query)?;
                let mut gone = Vec::new();
                for item in items {
                    let ns = item
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let name = crate::store::name_of(&item).to_string();
                    let t = Target {
                        namespace: ns,
                        ..target.clone()
                    };
                    gone.push(ops::delete(
                        &mut store,
                        &t,
                        &name,
                        "Background",
                        write.dry_run,
                    )?);
                }
                Ok((
                    200,
                    json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {}, "items": gone}),
                ))
            }
            _ => Err(ApiError::method_not_allowed(method.as_str())),
        }
    })();
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

/// The objects a list asks for (namespace, label and field selectors).
pub fn select(
    store: &Store,
    res: &Resource,
    namespace: Option<&str>,
    query: &Query,
) -> Result<Vec<Value>, ApiError> {
    let labels = LabelSelector::parse(
        query
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let fields = FieldSelector::parse(
        query
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    Ok(store
        .list(res, namespace)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .cloned()
        .collect())
}

/// Turns a body into an HTTP response body (for the streaming watch).
pub fn stream_body<S>(stream: S) -> Body
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
{
    Body::from_stream(stream)
}

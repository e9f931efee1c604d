//! Watches: `?watch=1` streams newline-separated JSON events (`{"type","object"}`), starting
//! after the given resourceVersion (or with the current objects as ADDED), until the client
//! goes away or `timeoutSeconds` pass.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::http::{at_version, Query, Shared};
use crate::kinds::Resource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;

struct Filter {
    res: Resource,
    version: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn wants(&self, group: &str, plural: &str, object: &Value) -> bool {
        group == self.res.group
            && plural == self.res.plural
            && self.namespace.as_deref().is_none_or(|ns| {
                object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    == Some(ns)
            })
            && self.labels.matches(object)
            && self.fields.matches(object)
    }

    fn line(&self, kind: &str, object: &Value) -> Bytes {
        let object = at_version(object.clone(), &self.res, &self.version);
        let mut text = json!({"type": kind, "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    }
}

/// Serves one watch.
pub async fn watch(
    shared: Arc<Shared>,
    res: Resource,
    version: String,
    namespace: Option<String>,
    query: &Query,
) -> Response {
    let parse = || -> Result<Filter, ApiError> {
        Ok(Filter {
            labels: LabelSelector::parse(
                query
                    .get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?,
            fields: FieldSelector::parse(
                query
                    .get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?,
            namespace: if res.namespaced { namespace } else { None },
            res,
            version,
        })
    };
    let filter = match parse() {
        Ok(f) => f,
        Err(e) => return crate::http::json_response(e.code, &e.to_status()),
    };
    let from: Option<u64> = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
        .and_then(|v| v.parse().ok());
    let initial_events = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let (mut live, start, head) = {
        let store = shared.lock();
        let live = store.events.subscribe();
        let mut lines = Vec::new();
        let start = match from {
            Some(rv) if !initial_events => {
                for e in store.history.iter().filter(|e| e.rv > rv) {
                    if filter.wants(&e.group, &e.plural, &e.object) {
                        lines.push(filter.line(e.kind, &e.object));
                    }
                }
                store.rv.max(rv)
            }
            _ => {
                for o in store.list(&filter.res, filter.namespace.as_deref()) {
                    if filter.labels.matches(o) && filter.fields.matches(o) {
                        lines.push(filter.line("ADDED", o));
                    }
                }
                store.rv
            }
        };
        if initial_events {
            let bookmark = json!({"kind": filter.res.kind, "apiVersion": filter.res.api_version_for(&filter.version),
                "metadata": {"resourceVersion": store.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            let mut text = json!({"type": "BOOKMARK", "object": bookmark}).to_string();
            text.push('\n');
            lines.push(Bytes::from(text));
        }
        (live, start, lines)
    };
    tokio::spawn(async move {
        for line in head {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let forward = async {
            loop {
                match live.recv().await {
                    Ok(e) if e.rv > start && filter.wants(&e.group, &e.plural, &e.object) => {
                        if tx.send(filter.line(e.kind, &e.object)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // a watcher that fell behind is ended; the client re-lists, as after a 410
                    Err(broadcast::error::RecvError::Lagged(_))
                    | Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        let closed = tx.clone();
        match timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, forward).await;
            }
            None => {
                tokio::select! {
                    _ = forward => {}
                    _ = closed.closed() => {}
                }
            }
        }
    });
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
        );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        crate::http::stream_body(stream),
    )
        .into_response()
}

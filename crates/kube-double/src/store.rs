//! The object store: objects by type, namespace and name; the global resourceVersion; the
//! watch event history; the double's recorded requests, faults and image failures.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::kinds::{self, Resource};
use crate::types::{Fault, PodFailure, Request};
use crate::util::Rng;

/// How many watch events are kept for watches that start from an older resourceVersion.
const HISTORY: usize = 50_000;

/// One watch event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The type's group.
    pub group: String,
    /// The type's plural.
    pub plural: String,
    /// The object after the change (for DELETED, as it was, with the new resourceVersion).
    pub object: Value,
}

/// Objects of one type, by (namespace, name); cluster-scoped objects have namespace `""`.
pub type Objects = BTreeMap<(String, String), Value>;

/// Everything the double holds, behind one lock.
#[derive(Debug)]
pub struct Store {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// Built-in types.
    pub builtin: Vec<Resource>,
    /// Types added by Established CRDs, by CRD name.
    pub custom: BTreeMap<String, Resource>,
    /// Objects by (group, plural).
    pub objects: BTreeMap<(String, String), Objects>,
    /// Recent events, oldest first.
    pub history: VecDeque<Arc<Event>>,
    /// Where live events go.
    pub events: broadcast::Sender<Arc<Event>>,
    /// Requests served, oldest first.
    pub requests: Vec<Request>,
    /// Faults still armed.
    pub faults: Vec<Fault>,
    /// Image substrings whose Pods fail, and how.
    pub failures: Vec<(String, PodFailure)>,
    /// When each Pod (by uid) was created, for the controller's ready delay.
    pub born: HashMap<String, Instant>,
    /// Uids and suffixes.
    pub rng: Rng,
    /// Cluster IPs handed out so far.
    pub next_ip: u32,
}

impl Store {
    /// An empty store with the namespaces every cluster has.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(16_384);
        let mut store = Store {
            rv: 1,
            builtin: kinds::builtin(),
            custom: BTreeMap::new(),
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            events,
            requests: Vec::new(),
            faults: Vec::new(),
            failures: Vec::new(),
            born: HashMap::new(),
            rng: Rng::new(),
            next_ip: 10,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            store.seed_raw(object);
        }
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "double-node", "labels": {"kubernetes.io/hostname": "double-node", "kubernetes.io/os": "linux"}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}});
        store.seed_raw(node);
        store
    }

    fn seed_raw(&mut self, mut object: Value) {
        let rv = self.next_rv();
        let uid = self.rng.uid();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("uid".into(), Value::String(uid));
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
            meta.insert(
                "creationTimestamp".into(),
                Value::String(crate::util::now_rfc3339()),
            );
        }
        let (api_version, kind) = type_of(&object);
        if let Some(res) = self.resource_for(&api_version, &kind) {
            let name = name_of(&object).to_string();
            self.objects
                .entry((res.group.clone(), res.plural.clone()))
                .or_default()
                .insert((String::new(), name), object);
        }
    }

    /// Hands out the next resourceVersion.
    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Every served type.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.builtin.iter().chain(self.custom.values())
    }

    /// The type served at `group/version` as `plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Resource> {
        self.resources()
            .find(|r| {
                r.group == group && r.plural == plural && r.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    /// The type of `kind` at `apiVersion`.
    pub fn resource_for(&self, api_version: &str, kind: &str) -> Option<Resource> {
        let (group, version) = kinds::split_api_version(api_version);
        self.resources()
            .find(|r| r.group == group && r.kind == kind && r.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// One stored object.
    pub fn get(&self, res: &Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(res.group.clone(), res.plural.clone()))?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// The stored objects of a type, in one namespace (`Some`) or all (`None`), by namespace then name.
    pub fn list(&self, res: &Resource, namespace: Option<&str>) -> Vec<&Value> {
        let Some(objects) = self.objects.get(&(res.group.clone(), res.plural.clone())) else {
            return Vec::new();
        };
        objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|want| want == ns))
            .map(|(_, v)| v)
            .collect()
    }

    /// Stores an object (it already carries its new resourceVersion) and emits the event.
    pub fn put(&mut self, res: &Resource, namespace: &str, name: &str, object: Value, rv: u64) {
        let key = (namespace.to_string(), name.to_string());
        let map = self
            .objects
            .entry((res.group.clone(), res.plural.clone()))
            .or_default();
        let kind = if map.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        map.insert(key, object.clone());
        self.emit(res, kind, object, rv);
    }

    /// Removes an object and emits DELETED; returns it as deleted (with the new resourceVersion).
    pub fn remove(&mut self, res: &Resource, namespace: &str, name: &str) -> Option<Value> {
        let key = (namespace.to_string(), name.to_string());
        let mut object = self
            .objects
            .get_mut(&(res.group.clone(), res.plural.clone()))?
            .remove(&key)?;
        let rv = self.next_rv();
        set_meta(
            &mut object,
            "resourceVersion",
            Value::String(rv.to_string()),
        );
        if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
            self.born.remove(uid);
        }
        self.emit(res, "DELETED", object.clone(), rv);
        Some(object)
    }

    fn emit(&mut self, res: &Resource, kind: &'static str, object: Value, rv: u64) {
        let event = Arc::new(Event {
            rv,
            kind,
            group: res.group.clone(),
            plural: res.plural.clone(),
            object,
        });
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // no receivers is fine: nobody is watching
        let _ = self.events.send(event);
    }

    /// Every object of every type, for cascades and namespace cleanup: (type, namespace, name, object).
    pub fn all(&self) -> Vec<(Resource, String, String, Value)> {
        let mut out = Vec::new();
        for res in self.resources() {
            for ((ns, name), v) in self
                .objects
                .get(&(res.group.clone(), res.plural.clone()))
                .into_iter()
                .flatten()
            {
                out.push((res.clone(), ns.clone(), name.clone(), v.clone()));
            }
        }
        out
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// (apiVersion, kind) of an object.
pub fn type_of(object: &Value) -> (String, String) {
    let s = |k: &str| {
        object
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("apiVersion"), s("kind"))
}

/// `metadata.name`, or `""`.
pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Sets `metadata.<key>` (creating `metadata` if needed).
pub fn set_meta(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(key.to_string(), value);
        }
    }
}

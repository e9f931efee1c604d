//! The cluster connection: a `kube` client (rustls), discovery mapping kinds
//! to resources and scope, and the few calls deploy makes, each failing with
//! the object, the verb and what the API server said.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::objects::ObjectId;

/// The field manager of every server-side apply ferry makes.
pub const FIELD_MANAGER: &str = "ferry";

/// An environment variable naming a service-account directory (`token`,
/// `ca.crt`, `namespace`) to use instead of
/// `/var/run/secrets/kubernetes.io/serviceaccount`, with
/// `KUBERNETES_SERVICE_HOST`/`PORT`: for tests that run ferry as a pod
/// would, and for pods that mount the token elsewhere.
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "FERRY_SERVICE_ACCOUNT_DIR";

/// The in-cluster configuration from a service-account directory and
/// `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, as a pod has them.
pub fn service_account_config(dir: &std::path::Path) -> Result<kube::Config, ClusterError> {
    let config_error = |what: String| {
        ClusterError::Config(format!(
            "in-cluster ({SERVICE_ACCOUNT_DIR_ENV}={}): {what}",
            dir.display()
        ))
    };
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .map_err(|_| config_error("KUBERNETES_SERVICE_HOST is not set".to_owned()))?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT")
        .map_err(|_| config_error("KUBERNETES_SERVICE_PORT is not set".to_owned()))?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let url: axum::http::Uri = format!("https://{host}:{port}")
        .parse()
        .map_err(|e| config_error(format!("https://{host}:{port} is not a URL: {e}")))?;
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| config_error(format!("cannot read {}: {e}", dir.join(name).display())))
    };
    let namespace = read("namespace")?.trim().to_owned();
    let ca = read("ca.crt")?;
    let mut roots = Vec::new();
    let mut body = None::<String>;
    for line in ca.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(text) = body.take() {
                use base64::Engine as _;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| {
                        config_error(format!("ca.crt holds a damaged certificate: {e}"))
                    })?;
                roots.push(der);
            }
        } else if let Some(text) = body.as_mut() {
            text.push_str(line);
        }
    }
    if roots.is_empty() {
        return Err(config_error("ca.crt holds no PEM certificate".to_owned()));
    }
    // Read once here so a missing token is named now, not at the first request.
    read("token")?;
    let mut config = kube::Config::new(url);
    config.default_namespace = namespace;
    config.root_cert = Some(roots);
    config.auth_info.token_file = Some(dir.join("token").display().to_string());
    Ok(config)
}

/// Where the kubeconfig comes from.
#[derive(Clone, Debug)]
pub enum KubeconfigSource {
    /// `--kubeconfig FILE`.
    File(PathBuf),
    /// `$KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account.
    Infer,
}

/// Cluster errors, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig.
    #[error("cannot configure a Kubernetes client: {0}\nhint: pass --kubeconfig FILE, set KUBECONFIG, or run inside a cluster with a service account")]
    Config(String),
    /// The API server refused or failed a request.
    #[error("{what}: the API server answered {code} {reason}: {message}")]
    Api {
        /// The verb and object.
        what: String,
        /// HTTP status.
        code: u16,
        /// Kubernetes reason (`Forbidden`, `Conflict`, ...).
        reason: String,
        /// The server's message.
        message: String,
    },
    /// The API server could not be reached.
    #[error("{what}: cannot reach the API server {server}: {detail}")]
    Unreachable {
        /// The verb and object.
        what: String,
        /// The server URL.
        server: String,
        /// The transport error.
        detail: String,
    },
    /// The cluster does not serve a kind.
    #[error("{id}: the cluster serves no kind {kind} in {api_version}\nhint: is its CustomResourceDefinition installed (by an earlier component or step)?")]
    UnknownKind {
        /// The object.
        id: String,
        /// The kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
}

impl ClusterError {
    /// The HTTP status, for API errors.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Discovered kinds of one apiVersion: kind → (resource, namespaced).
type Kinds = HashMap<String, (ApiResource, bool)>;

/// A connected cluster.
pub struct Cluster {
    client: kube::Client,
    server: String,
    /// apiVersion → (kind → (resource, namespaced)).
    discovery: Mutex<HashMap<String, Kinds>>,
}

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Cluster {
    /// Connects with the kubeconfig from `source`.
    pub async fn connect(source: &KubeconfigSource) -> Result<Self, ClusterError> {
        let mut config = match source {
            KubeconfigSource::File(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    ClusterError::Config(format!("{}: {}", path.display(), chain(&e)))
                })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .map_err(|e| {
                        ClusterError::Config(format!("{}: {}", path.display(), chain(&e)))
                    })?
            }
            KubeconfigSource::Infer => match std::env::var_os(SERVICE_ACCOUNT_DIR_ENV) {
                Some(dir) => service_account_config(std::path::Path::new(&dir))?,
                None => kube::Config::infer()
                    .await
                    .map_err(|e| ClusterError::Config(chain(&e)))?,
            },
        };
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        config.connect_timeout = Some(Duration::from_secs(10));
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| ClusterError::Config(chain(&e)))?;
        Ok(Self {
            client,
            server,
            discovery: Mutex::new(HashMap::new()),
        })
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Turns a client error into a [`ClusterError`] about `what`.
    pub fn error(&self, what: impl Into<String>, error: kube::Error) -> ClusterError {
        let what = what.into();
        match error {
            kube::Error::Api(response) => ClusterError::Api {
                what,
                code: response.code,
                reason: response.reason,
                message: response.message,
            },
            other => ClusterError::Unreachable {
                what,
                server: self.server.clone(),
                detail: chain(&other),
            },
        }
    }

    /// The resource and scope of a kind, by discovery (cached per apiVersion;
    /// asked again once when the kind is missing, as a CRD may just have been established).
    pub async fn resource(&self, id: &ObjectId) -> Result<(ApiResource, bool), ClusterError> {
        for refresh in [false, true] {
            let mut cache = self.discovery.lock().await;
            if refresh || !cache.contains_key(&id.api_version) {
                let listed = if id.group().is_empty() {
                    self.client.list_core_api_resources(id.version()).await
                } else {
                    self.client.list_api_group_resources(&id.api_version).await
                };
                let kinds = match listed {
                    Ok(list) => list
                        .resources
                        .into_iter()
                        .filter(|r| !r.name.contains('/'))
                        .map(|r| {
                            let resource = ApiResource {
                                group: id.group().to_owned(),
                                version: id.version().to_owned(),
                                api_version: id.api_version.clone(),
                                kind: r.kind.clone(),
                                plural: r.name.clone(),
                            };
                            (r.kind, (resource, r.namespaced))
                        })
                        .collect(),
                    Err(kube::Error::Api(response)) if response.code == 404 => HashMap::new(),
                    Err(e) => return Err(self.error(format!("discovering {}", id.api_version), e)),
                };
                cache.insert(id.api_version.clone(), kinds);
            }
            if let Some(found) = cache.get(&id.api_version).and_then(|k| k.get(&id.kind)) {
                return Ok(found.clone());
            }
        }
        Err(ClusterError::UnknownKind {
            id: id.to_string(),
            kind: id.kind.clone(),
            api_version: id.api_version.clone(),
        })
    }

    async fn api(&self, id: &ObjectId) -> Result<(Api<DynamicObject>, bool), ClusterError> {
        let (resource, namespaced) = self.resource(id).await?;
        let api = match (&id.namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &resource),
            (None, true) => Api::default_namespaced_with(self.client.clone(), &resource),
            (_, false) => Api::all_with(self.client.clone(), &resource),
        };
        Ok((api, namespaced))
    }

    /// The preferred `apiVersion` of an API group (`v1` for the core group).
    pub async fn api_version_of(&self, group: &str) -> Result<String, ClusterError> {
        if group.is_empty() {
            return Ok("v1".to_owned());
        }
        let groups = self
            .client
            .list_api_groups()
            .await
            .map_err(|e| self.error("discovering API groups", e))?;
        groups
            .groups
            .into_iter()
            .find(|g| g.name == group)
            .and_then(|g| {
                g.preferred_version
                    .or_else(|| g.versions.into_iter().next())
            })
            .map(|v| v.group_version)
            .ok_or_else(|| ClusterError::UnknownKind {
                id: format!("API group {group}"),
                kind: "any kind".to_owned(),
                api_version: group.to_owned(),
            })
    }

    /// Whether the cluster says the kind is namespaced.
    pub async fn namespaced(&self, id: &ObjectId) -> Result<bool, ClusterError> {
        Ok(self.resource(id).await?.1)
    }

    /// The live object, if it exists.
    pub async fn get(&self, id: &ObjectId) -> Result<Option<Value>, ClusterError> {
        let (api, _) = self.api(id).await?;
        match api.get_opt(&id.name).await {
            Ok(found) => Ok(found.map(to_value)),
            Err(e) => Err(self.error(format!("reading {id}"), e)),
        }
    }

    /// Server-side apply of `body` under [`FIELD_MANAGER`], taking over fields
    /// other managers set (`force`). `dry_run` asks the server what would result.
    pub async fn apply(
        &self,
        id: &ObjectId,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let (api, _) = self.api(id).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        api.patch(&id.name, &params, &Patch::Apply(body))
            .await
            .map(to_value)
            .map_err(|e| self.error(format!("applying {id}"), e))
    }

    /// Creates an object (fails with 409 when it exists).
    pub async fn create(&self, id: &ObjectId, body: &Value) -> Result<Value, ClusterError> {
        let (api, _) = self.api(id).await?;
        let object = dynamic(id, body)?;
        api.create(&PostParams::default(), &object)
            .await
            .map(to_value)
            .map_err(|e| self.error(format!("creating {id}"), e))
    }

    /// Replaces an object (its `metadata.resourceVersion` guards against a concurrent write: 409).
    pub async fn replace(&self, id: &ObjectId, body: &Value) -> Result<Value, ClusterError> {
        let (api, _) = self.api(id).await?;
        let object = dynamic(id, body)?;
        api.replace(&id.name, &PostParams::default(), &object)
            .await
            .map(to_value)
            .map_err(|e| self.error(format!("replacing {id}"), e))
    }

    /// Deletes an object (background propagation); a missing object is not an error.
    ///
    /// A version the cluster no longer serves is deleted through the group's preferred version
    /// (the stored object is the same); a kind the cluster does not serve at all cannot exist.
    pub async fn delete(&self, id: &ObjectId) -> Result<(), ClusterError> {
        let api = match self.api(id).await {
            Ok((api, _)) => api,
            Err(ClusterError::UnknownKind { .. }) => {
                let preferred = match self.api_version_of(id.group()).await {
                    Ok(preferred) if preferred != id.api_version => preferred,
                    Ok(_) | Err(ClusterError::UnknownKind { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let served = ObjectId {
                    api_version: preferred,
                    ..id.clone()
                };
                match self.api(&served).await {
                    Ok((api, _)) => api,
                    Err(ClusterError::UnknownKind { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        match api.delete(&id.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(r)) if r.code == 404 => Ok(()),
            Err(e) => Err(self.error(format!("deleting {id}"), e)),
        }
    }

    /// Lists objects of a kind (in one namespace or all), by label selector.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let id = ObjectId {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: String::new(),
        };
        let (resource, namespaced) = self.resource(&id).await?;
        let api: Api<DynamicObject> = match (namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        };
        let params = ListParams::default().labels(selector);
        api.list(&params)
            .await
            .map(|list| list.items.into_iter().map(to_value).collect())
            .map_err(|e| self.error(format!("listing {kind} ({selector})"), e))
    }
}

/// An object body as the client's dynamic type.
fn dynamic(id: &ObjectId, body: &Value) -> Result<DynamicObject, ClusterError> {
    serde_json::from_value(body.clone()).map_err(|e| ClusterError::Config(format!("{id}: {e}")))
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// An error and its causes, joined, without type names.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![strip_type(&error.to_string())];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = strip_type(&cause.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Drops a leading `SomeError: ` that client crates put before their messages.
fn strip_type(text: &str) -> String {
    match text.split_once(": ") {
        Some((head, rest))
            if head.ends_with("Error")
                && !head.contains(' ')
                && head.chars().next().is_some_and(char::is_uppercase) =>
        {
            rest.to_owned()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_dropped_from_messages() {
        assert_eq!(
            strip_type("HyperError: connection refused"),
            "connection refused"
        );
        assert_eq!(strip_type("not a type: x"), "not a type: x");
    }
}

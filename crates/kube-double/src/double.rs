//! The handle of a running double: its own tokio runtime on its own thread, stopped on drop.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;
use serde_json::Value;

use crate::http::Shared;
use crate::status::ApiError;
use crate::store::Store;
use crate::types::{Fault, Options, PodFailure, Request};

/// A running Kubernetes API server double. Dropping it stops the server.
pub struct Double {
    shared: Arc<Shared>,
    url: String,
    ca_pem: Option<String>,
    token: Option<String>,
    handle: axum_server::Handle<SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Double {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Double")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Double {
    /// Starts a double on a free port of 127.0.0.1.
    pub fn spawn(opts: Options) -> io::Result<Double> {
        Self::spawn_at(opts, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts a double on the given address.
    pub fn spawn_at(opts: Options, address: SocketAddr) -> io::Result<Double> {
        let listener = TcpListener::bind(address)
            .map_err(|e| io::Error::new(e.kind(), format!("listening on {address}: {e}")))?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let tls = if opts.tls {
            Some(crate::tls::generate()?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            token: opts.token.clone(),
            address: local.to_string(),
        });
        let handle = axum_server::Handle::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kube-double")
            .enable_all()
            .build()?;
        let app = {
            let shared = shared.clone();
            axum::Router::new().fallback(move |req: axum::extract::Request| {
                crate::http::handle(shared.clone(), req)
            })
        };
        let server_handle = handle.clone();
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let controller = opts.controller.clone();
        let controller_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kube-double".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if controller.enabled {
                        tokio::spawn(crate::controller::run(controller_shared, controller));
                    }
                    let service = app.into_make_service();
                    let served = match tls {
                        Some(tls) => {
                            let config =
                                axum_server::tls_rustls::RustlsConfig::from_config(tls.config);
                            match axum_server::from_tcp_rustls(listener, config) {
                                Ok(server) => server.handle(server_handle).serve(service).await,
                                Err(e) => Err(e),
                            }
                        }
                        None => match axum_server::from_tcp(listener) {
                            Ok(server) => server.handle(server_handle).serve(service).await,
                            Err(e) => Err(e),
                        },
                    };
                    if let Err(e) = served {
                        eprintln!("kube-double: the server stopped: {e}");
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Double {
            shared,
            url: format!("{scheme}://{local}"),
            ca_pem,
            token: opts.token,
            handle,
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT` (or `http://` without TLS).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The CA certificate clients must trust (PEM), when serving TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// The bearer token clients must send, if any.
    pub fn token(&self) -> Option<String> {
        self.token.clone()
    }

    /// The kubeconfig text that reaches this double (server, CA data, token; namespace default).
    pub fn kubeconfig(&self) -> String {
        let mut cluster = format!("    server: {}\n", self.url);
        if let Some(ca) = &self.ca_pem {
            let data = base64::engine::general_purpose::STANDARD.encode(ca);
            cluster.push_str(&format!("    certificate-authority-data: {data}\n"));
        }
        let user = match &self.token {
            Some(t) => format!("    token: {t}\n"),
            None => "    username: double\n".to_string(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-double\n  cluster:\n{cluster}users:\n- name: kube-double\n  user:\n{user}\
             contexts:\n- name: kube-double\n  context:\n    cluster: kube-double\n    user: kube-double\n    namespace: default\n\
             current-context: kube-double\npreferences: {{}}\n"
        )
    }

    /// Writes [`Double::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.kubeconfig())
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
    }

    /// One stored object (`namespace` is ignored for cluster-scoped kinds, `None` means `default`).
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        crate::control::get(&self.shared.lock(), api_version, kind, namespace, name)
    }

    /// The stored objects of a kind, in one namespace or (with `None`) all.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        crate::control::list(&self.shared.lock(), api_version, kind, namespace)
    }

    /// The requests served so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Makes Pods with an image containing `image_substring` fail as `failure` says.
    pub fn fail_image(&self, image_substring: &str, failure: PodFailure) {
        self.shared
            .lock()
            .failures
            .push((image_substring.to_string(), failure));
    }

    /// Arms a fault: the next `fault.times` matching requests get `fault.status`.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Disarms every fault not yet spent.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Stores an object directly, as given (status kept), e.g. a pre-existing Helm release Secret.
    pub fn seed(&self, object: Value) -> Result<Value, ApiError> {
        crate::control::seed(&mut self.shared.lock(), object)
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

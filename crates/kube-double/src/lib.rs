//! kube-double: a **test double** of the Kubernetes API server, not a real one.
//!
//! It serves discovery, CRUD with label and field selectors, merge / strategic-merge / JSON
//! patches, server-side apply with managedFields and conflicts, watches, finalizers, dry runs and
//! the status subresource over HTTPS with a bearer token; a scripted controller plays the
//! controller manager and kubelets (Deployments get ReplicaSets and Pods that turn Ready, Jobs
//! complete, Services get Endpoints). `kubectl` and the Helm SDK work against it unchanged; the
//! crate's README lists what it covers and what it does not do.
//!
//! ```no_run
//! let double = kube_double::Double::spawn(kube_double::Options::default())?;
//! double.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! // ... run kubectl or the code under test, then look at what it did:
//! let deployments = double.list("apps/v1", "Deployment", Some("default"));
//! # let _ = deployments; Ok::<(), std::io::Error>(())
//! ```

mod control;
mod controller;
mod defaults;
mod discovery;
mod double;
mod fields;
mod http;
mod kinds;
mod managed;
mod ops;
mod patch;
mod proto;
mod selector;
mod status;
mod store;
mod table;
mod tls;
mod types;
mod util;
mod watch;

pub use double::Double;
pub use status::ApiError;
pub use types::{Controller, Fault, Options, PodFailure, Request};

//! The public knobs of the double: options, the controller's settings, recorded requests, faults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a double is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve HTTPS with a generated CA (true) or plain HTTP (false).
    pub tls: bool,
    /// The bearer token clients must send; `None` accepts every request.
    pub token: Option<String>,
    /// The scripted controller's settings.
    pub controller: Controller,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: true,
            token: Some("double-token".into()),
            controller: Controller::default(),
        }
    }
}

/// The scripted controller that plays kube-controller-manager, the scheduler and the kubelets.
#[derive(Debug, Clone)]
pub struct Controller {
    /// How long a new Pod stays Pending before it runs and is Ready (a Job's Pod then succeeds).
    pub ready_after: Duration,
    /// Whether the controller runs at all.
    pub enabled: bool,
}

impl Default for Controller {
    fn default() -> Self {
        Controller {
            ready_after: Duration::from_millis(200),
            enabled: true,
        }
    }
}

/// One request the double served (the `/_double/` controls are not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (empty when there is none).
    pub query: String,
    /// The API verb: get, list, watch, create, update, patch, apply (a server-side apply patch),
    /// delete, deletecollection; `get` for discovery and other non-resource paths.
    pub verb: String,
    /// The `fieldManager` query parameter, if given.
    pub field_manager: Option<String>,
    /// Whether the request asked for `dryRun=All`.
    pub dry_run: bool,
}

/// How a Pod whose image matches a [`crate::Double::fail_image`] pattern fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodFailure {
    /// The image cannot be pulled: the container waits with reason `ImagePullBackOff`.
    ImagePullBackOff,
    /// The container keeps exiting: it waits with reason `CrashLoopBackOff`, restartCount > 0.
    CrashLoopBackOff,
}

/// A fault to inject: the next `times` requests matching it get `status` as a `Status` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The HTTP method to match (any when `None`).
    #[serde(default)]
    pub method: Option<String>,
    /// A substring the request path must contain.
    pub path_contains: String,
    /// The HTTP status to answer with.
    pub status: u16,
    /// The Status message.
    pub message: String,
    /// How many matching requests fail.
    pub times: usize,
}

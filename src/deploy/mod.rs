//! Deploy: a verified bundle applied to a Kubernetes cluster, component by
//! component in dependency order, step by step, recorded so that it can be
//! upgraded, rolled back and audited.
//!
//! The flow: [`plan`] works out every object from the bundle alone (charts
//! rendered by the Rust Helm engine, manifest files parsed, images pointed at
//! the target registry through the image map); [`run`] applies the plan with
//! server-side apply under the field manager `ferry`, waits for readiness as
//! Helm and kstatus define it, writes each chart release in Helm's own
//! release format and the whole deployment into `ferry-system`, and prunes
//! what a component no longer renders.

mod apply;
mod cluster;
mod diff;
mod export;
mod helm;
pub mod images;
mod lease;
pub mod objects;
mod plan;
mod record;
mod run;
mod upgrade;
mod wait;

pub use self::cluster::{Cluster, ClusterError, KubeconfigSource};
pub use self::diff::{diff, ObjectDiff};
pub use self::export::{write_plan, ExportedFile};
pub use self::images::Unmapped;
pub use self::objects::{Object, ObjectId};
pub use self::plan::{plan, ComponentPlan, Overlap, Plan, Release, StepPlan};
pub use self::record::{ComponentRecord, DeploymentRecord, RECORD_NAMESPACE};
pub use self::run::{
    deploy, rollback, status, ComponentReport, DeployOptions, DeployReport, StatusReport,
};
pub use self::upgrade::installed_releases;

/// Deploy errors.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A manifest (rendered or carried) is not a valid object.
    #[error("{origin}: {detail}")]
    Manifest {
        /// The template or file.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The bundle could not be read.
    #[error("{0}")]
    Bundle(String),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// A step failed.
    #[error("component {component}, {step}: {cause}")]
    Step {
        /// The component.
        component: String,
        /// The step.
        step: String,
        /// The cause (shown inline: the message already holds it).
        cause: Box<DeployError>,
    },
    /// The cluster refused or failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Objects would run images the bundle does not carry.
    #[error("{} image(s) the bundle does not carry would run (--strict):{}\nhint: push the bundle and pass --image-map, add the images to the component manifests, or pass --no-strict", .0.len(), .0.iter().map(|u| format!("\n  - {} container {}: {} ({})", u.object, u.container, u.image, u.reason)).collect::<String>())]
    Unmapped(Vec<Unmapped>),
    /// An object did not become ready.
    #[error("{object} is not ready after {seconds}s: {reason}")]
    Timeout {
        /// The object.
        object: String,
        /// The timeout.
        seconds: u64,
        /// What is still missing.
        reason: String,
    },
    /// An object failed (pod cannot pull, crashes, job failed).
    #[error("{object} failed: {reason}")]
    Failed {
        /// The object.
        object: String,
        /// Pod, container, image and reason.
        reason: String,
    },
    /// Another deploy holds the cluster's lock.
    #[error("another deploy holds the lock {namespace}/{name}: {holder}\nhint: wait for it to finish; a lock whose holder died expires after {expires_in}s")]
    Locked {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Who holds it and since when.
        holder: String,
        /// Seconds until it expires.
        expires_in: i64,
    },
    /// The operator interrupted the deploy.
    #[error("interrupted (Ctrl-C) during component {component}; what was applied is recorded, run the deploy again to continue")]
    Interrupted {
        /// Where it stopped.
        component: String,
    },
    /// Nothing to roll back to.
    #[error("{0}")]
    Rollback(String),
    /// A local file could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A Helm release is in the middle of another tool's operation.
    #[error("{0}")]
    ReleaseBusy(String),
    /// A record in the cluster is unreadable.
    #[error("record {name}: {detail}")]
    Record {
        /// The object holding it.
        name: String,
        /// What is wrong.
        detail: String,
    },
}

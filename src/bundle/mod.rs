//! Bundles: an OCI image layout holding every image, chart and file of a
//! lock, archived as a deterministic tar.
//!
//! ```text
//! oci-layout
//! index.json                 images by original reference, charts, files, and the root
//! blobs/sha256/<hex>         manifests (root first, breadth-first), then small JSON blobs, then layers
//! ```
//!
//! The root is an OCI index (artifact type [`ROOT_ARTIFACT_TYPE`]) listing a
//! metadata manifest (lock + composed spec) and every image, chart and file
//! manifest. Its digest is the bundle's identity: it covers every byte
//! transitively, so signing it signs the bundle.

mod archive;
mod build;
pub mod delta;
mod direct;
mod open;
pub mod parts;
mod scan;
mod shared;
mod signed;
mod spec;
mod stamp;
mod verify;

pub use self::archive::{write_archive, ArchiveOptions, Compression};
pub use self::build::{build, fetch_chart_archives, BuildOptions, BuildOutcome};
pub use self::open::{Entry, OpenBundle, OpenError, Segment};
pub use self::scan::{scan, ScanError, ScanOptions, Scanned};
pub use self::shared::{BuildError, Problem};
pub use self::spec::{
    BundleChart, BundleComponent, BundleFile, BundleImage, BundleSpec, BundleSpecError,
};
pub use self::stamp::{verify_for_use, Verified};
pub use self::verify::{inspect, verify, InspectedImage, Inspection, VerifyError, VerifyReport};

/// Artifact type of the bundle root index.
pub const ROOT_ARTIFACT_TYPE: &str = "application/vnd.ferry.bundle.v1";
/// Artifact type of the metadata manifest (lock, spec).
pub const METADATA_ARTIFACT_TYPE: &str = "application/vnd.ferry.bundle.metadata.v1";
/// Artifact type of file artifacts.
pub const FILE_ARTIFACT_TYPE: &str = "application/vnd.ferry.file.v1";
/// Media type of a file artifact's single layer.
pub const FILE_LAYER_MEDIA_TYPE: &str = "application/octet-stream";
/// Media type of the embedded lockfile.
pub const LOCK_MEDIA_TYPE: &str = "application/vnd.ferry.lock.v1+toml";
/// Media type of the CycloneDX JSON SBOM embedded in the metadata manifest.
pub const SBOM_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
/// Media type of the embedded composed spec.
pub const SPEC_MEDIA_TYPE: &str = "application/vnd.ferry.spec.v1+json";
/// `org.opencontainers.image.ref.name` of the root in `index.json`.
pub const ROOT_REF_NAME: &str = "ferry-bundle";
/// Annotation: what a root entry is (`image`, `chart`, `file`, `metadata`).
pub const ANNOTATION_KIND: &str = "dev.ferry.kind";
/// Annotation: the component an entry belongs to.
pub const ANNOTATION_COMPONENT: &str = "dev.ferry.component";
/// Annotation: a file artifact's original download URL.
pub const ANNOTATION_FILE_URL: &str = "dev.ferry.file.url";
/// Annotation: a file artifact's platform.
pub const ANNOTATION_FILE_PLATFORM: &str = "dev.ferry.file.platform";
/// Annotation on the root: bundle name.
pub const ANNOTATION_BUNDLE_NAME: &str = "dev.ferry.bundle.name";
/// Annotation on the root of a delta bundle: its base (root or lock digest).
pub const ANNOTATION_DELTA_BASE: &str = "dev.ferry.bundle.base";
/// Annotation on the root: bundle version.
pub const ANNOTATION_BUNDLE_VERSION: &str = "dev.ferry.bundle.version";

/// The largest blob ferry holds in memory while reading a bundle (manifests, configs, lock).
pub const MAX_SMALL_BLOB: u64 = 4 << 20;

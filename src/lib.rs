//! ferry carries a Kubernetes platform release across an air gap.
//!
//! Data flows one way through the stages:
//! [`spec`] (what to carry) → [`lock`] (every artifact pinned by digest) →
//! [`bundle`] (a deterministic, verifiable OCI layout archive) → [`serve`] /
//! [`push`] (into a registry, writing the [`image_map`]) → [`render`] (charts
//! through the Rust Helm engine) → [`deploy`] (applied to a cluster, recorded).
//! [`audit`] reads every stage's output. The [`registry`] client, the
//! [`store`] cache and local [`source`]s serve lock and build; [`oci`] holds
//! the value types every stage shares.

pub mod audit;
pub mod bundle;
pub mod clock;
pub mod deploy;
pub mod ferry_image;
pub mod image_map;
pub mod lock;
pub mod oci;
pub mod progress;
pub mod push;
pub mod registry;
pub mod render;
pub mod serve;
pub mod sign;
pub mod source;
pub mod spec;
pub mod store;
pub mod text;
pub mod unpacker;

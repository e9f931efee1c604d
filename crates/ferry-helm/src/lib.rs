//! Helm chart rendering: Go text/template, Sprig and Helm semantics, image discovery.
//!
//! No helm binary and no Go at run time. The main entry points are [`Chart::load`],
//! [`render`] with [`RenderOptions`], [`Rendered::to_helm_output`] and [`discover_images`].

pub mod funcs;
pub mod rand;
pub mod semver;
pub mod template;
pub mod value;
pub mod yaml;

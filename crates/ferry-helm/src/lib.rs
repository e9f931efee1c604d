//! Helm chart rendering: Go text/template, Sprig and Helm semantics, image discovery.
//!
//! No helm binary and no Go at run time, and no dependency on the rest of ferry.
//!
//! ```no_run
//! use ferry_helm::{discover_images, render, Chart, RenderOptions};
//! let chart = Chart::load("charts/ingress-nginx")?;
//! let opts = RenderOptions { release_name: "rel".into(), namespace: "ns".into(), ..Default::default() };
//! let rendered = render(&chart, &opts)?;
//! print!("{}", rendered.to_helm_output());
//! let images = discover_images(&rendered.to_helm_output())?;
//! # Ok::<(), ferry_helm::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod chart;
mod crypto;
pub mod error;
mod fasthead;
mod files;
mod funcs;
pub mod images;
mod manifests;
mod prime;
mod rand;
pub mod render;
mod schema;
mod semver;
mod template;
mod value;
mod values;
mod yaml;
mod yaml11;

pub use chart::{Chart, FileContent};
pub use error::{Error, Result};
pub use images::{annotation_images, discover_images, discover_images_with_operators};
pub use render::{
    render, render_template_string, render_templates, Manifest, ManifestSplit, RenderOptions,
    Rendered, DEFAULT_NOW, INSTALL_ORDER,
};
pub use template::exec::Limits;

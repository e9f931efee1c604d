//! Errors.

use std::path::PathBuf;

/// Everything that can go wrong loading or rendering a chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The chart could not be loaded.
    #[error("{0}")]
    Chart(String),
    /// The chart failed validation (worded as Helm words it, after `validation: `).
    #[error("validation: {0}")]
    Validation(String),
    /// A values file or `--set` expression is invalid.
    #[error("{0}")]
    Values(String),
    /// A template failed to parse: `parse error at (chart/templates/x.yaml:3): ...`.
    #[error("parse error at ({template}:{line}): {message}")]
    Parse {
        /// The template's full name.
        template: String,
        /// 1-based line.
        line: usize,
        /// Go's message.
        message: String,
    },
    /// A template failed to execute (`required`, `fail`, a nil pointer, ...).
    #[error("{0}")]
    Execution(String),
    /// A rendered document is not valid YAML.
    #[error("YAML parse error on {template}: error converting YAML to JSON: yaml: {message}")]
    Yaml {
        /// The template's full name.
        template: String,
        /// The parser's message.
        message: String,
    },
    /// The values do not satisfy a chart's `values.schema.json`.
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    /// `--show-only` named a template that does not exist.
    #[error("could not find template {0} in chart")]
    ShowOnly(String),
    /// A library chart cannot be rendered on its own.
    #[error("library charts are not installable")]
    Library,
    /// The chart's `kubeVersion` constraint is not met.
    #[error(
        "chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {version}"
    )]
    KubeVersion {
        /// The constraint.
        constraint: String,
        /// The version rendered for.
        version: String,
    },
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

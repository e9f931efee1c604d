//! `ferry template` and `ferry images`: the Rust Helm engine on a chart
//! directory or archive, printing what `helm template` prints, or the images
//! the chart will run.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use ferry_helm::{Chart, RenderOptions};

use super::{print_json, Context};

/// Arguments shared by `template` and `images`: Helm's flags.
#[derive(Args)]
pub struct ChartArgs {
    /// A chart directory or `.tgz` archive.
    pub chart: PathBuf,
    /// Values files (YAML or JSON), in order.
    #[arg(long = "values", short = 'f')]
    pub values: Vec<PathBuf>,
    /// `--set key=value` (Helm's strvals syntax), repeatable.
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// `--set-string key=value`, repeatable.
    #[arg(long = "set-string")]
    pub set_string: Vec<String>,
    /// `--set-json key=<JSON>`, repeatable.
    #[arg(long = "set-json")]
    pub set_json: Vec<String>,
    /// `--set-file key=path` (the file's text is the value), repeatable.
    #[arg(long = "set-file")]
    pub set_file: Vec<String>,
    /// `--set-literal key=value`: the value verbatim (commas, braces, backslashes), repeatable.
    #[arg(long = "set-literal")]
    pub set_literal: Vec<String>,
    /// Release name.
    #[arg(long, default_value = "release-name")]
    pub name: String,
    /// A Go template whose output is the release name (Helm's `--name-template`).
    #[arg(long)]
    pub name_template: Option<String>,
    /// Release namespace.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions` (repeatable, or comma-separated).
    #[arg(long = "api-versions", value_delimiter = ',')]
    pub api_versions: Vec<String>,
    /// Only these templates (`templates/x.yaml`).
    #[arg(long = "show-only", short = 's')]
    pub show_only: Vec<String>,
    /// Include the chart's `crds/`.
    #[arg(long)]
    pub include_crds: bool,
    /// Never include the chart's `crds/` (wins over `--include-crds`, as in Helm).
    #[arg(long)]
    pub skip_crds: bool,
    /// Leave out test hooks (`helm.sh/hook: test`).
    #[arg(long)]
    pub skip_tests: bool,
    /// Leave out every hook.
    #[arg(long)]
    pub no_hooks: bool,
    /// Render as an upgrade: `.Release.IsUpgrade` true, `.Release.IsInstall` false.
    #[arg(long)]
    pub is_upgrade: bool,
    /// The render clock (what `now` returns, where generated certificates start): RFC 3339
    /// (`2026-12-07T00:00:00Z`) or Unix seconds. Default: when the site seed was created.
    #[arg(long)]
    pub now: Option<String>,
    /// Split documents as Helm v4.3 does (blank lines before a `---` in a template are kept);
    /// the default is what Helm 3.x and v4.2 print.
    #[arg(long)]
    pub helm_4_3_split: bool,
    /// The site secret seeding random functions (default: the site seed, created once).
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
}

/// Reads `--now`: RFC 3339 or Unix seconds.
fn parse_now(text: &str) -> Result<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    ferry::clock::parse_rfc3339(text).with_context(|| {
        format!(
            "--now {text:?} is neither an RFC 3339 time (2026-12-07T00:00:00Z) nor Unix seconds"
        )
    })
}

impl ChartArgs {
    fn options(&self) -> Result<RenderOptions> {
        let secret = ferry::render::site_secret(self.seed_file.as_deref())?;
        let now = match &self.now {
            Some(text) => parse_now(text)?,
            None => secret.clock_unix().with_context(|| {
                format!(
                    "the site seed's clock {:?} is not an RFC 3339 time",
                    secret.clock
                )
            })?,
        };
        let release_name = match &self.name_template {
            Some(template) => ferry_helm::render_template_string(template)
                .with_context(|| format!("cannot render --name-template {template:?}"))?,
            None => self.name.clone(),
        };
        Ok(RenderOptions {
            release_name,
            namespace: self.namespace.clone(),
            values_files: self.values.clone(),
            set_values: self.set.clone(),
            set_string_values: self.set_string.clone(),
            set_json_values: self.set_json.clone(),
            set_file_values: self.set_file.clone(),
            set_literal_values: self.set_literal.clone(),
            kube_version: self.kube_version.clone(),
            api_versions: self.api_versions.clone(),
            show_only: self.show_only.clone(),
            include_crds: self.include_crds && !self.skip_crds,
            skip_tests: self.skip_tests,
            no_hooks: self.no_hooks,
            is_upgrade: self.is_upgrade,
            now: Some(now),
            manifest_split: if self.helm_4_3_split {
                ferry_helm::ManifestSplit::Current
            } else {
                ferry_helm::ManifestSplit::Helm42
            },
            seed: secret.seed,
            ..RenderOptions::default()
        })
    }

    /// The chart, loaded once, and its rendering.
    fn render(&self) -> Result<(Chart, ferry_helm::Rendered)> {
        let chart = Chart::load(&self.chart)
            .with_context(|| format!("cannot load chart {}", self.chart.display()))?;
        let rendered = ferry_helm::render(&chart, &self.options()?)?;
        for warning in &rendered.warnings {
            eprintln!("warning: {warning}");
        }
        Ok((chart, rendered))
    }
}

/// `ferry template`'s own flags.
#[derive(Args)]
pub struct TemplateArgs {
    /// Helm's flags.
    #[command(flatten)]
    pub chart: ChartArgs,
    /// Write each template's documents to `DIR/<template path>` instead of printing them.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

/// `ferry template`.
pub fn template(ctx: &Context, args: &TemplateArgs) -> Result<()> {
    let (_, rendered) = args.chart.render()?;
    if let Some(dir) = &args.output_dir {
        return write_output_dir(dir, rendered.helm_output());
    }
    if ctx.json {
        print_json(&rendered.templates);
    } else {
        print!("{}", rendered.helm_output());
    }
    Ok(())
}

/// `ferry images`.
pub fn images(ctx: &Context, args: &ChartArgs) -> Result<()> {
    let (chart, rendered) = args.render()?;
    let mut images = ferry_helm::discover_images(rendered.helm_output())?;
    images.extend(ferry_helm::annotation_images(&chart));
    if ctx.json {
        print_json(&images);
    } else {
        for image in images {
            println!("{image}");
        }
    }
    Ok(())
}

/// What `helm template --output-dir DIR` writes: each document under `DIR/<its source path>`,
/// as `---\n# Source: <path>\n<document>\n`, appended when a file has several; prints
/// `wrote <file>` for each.
fn write_output_dir(dir: &Path, output: &str) -> Result<()> {
    let mut written = std::collections::BTreeSet::new();
    for (source, body) in source_chunks(output) {
        if source
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            anyhow::bail!("refusing to write {source:?} outside {}", dir.display());
        }
        let file = dir.join(source);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        if written.insert(file.clone()) {
            options.write(true).create(true).truncate(true);
        } else {
            options.append(true);
        }
        let mut f = options
            .open(&file)
            .with_context(|| format!("cannot write {}", file.display()))?;
        let body = body.strip_suffix('\n').unwrap_or(body);
        std::io::Write::write_all(
            &mut f,
            format!("---\n# Source: {source}\n{body}\n").as_bytes(),
        )
        .with_context(|| format!("cannot write {}", file.display()))?;
        println!("wrote {}", file.display());
    }
    Ok(())
}

/// The documents of `helm template`'s output with the source each names.
fn source_chunks(output: &str) -> Vec<(&str, &str)> {
    const HEAD: &str = "---\n# Source: ";
    let mut starts: Vec<usize> = output.match_indices(HEAD).map(|(i, _)| i).collect();
    starts.retain(|&i| i == 0 || output.as_bytes()[i - 1] == b'\n');
    let mut chunks = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(output.len());
        let chunk = &output[start + HEAD.len()..end];
        let (source, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        chunks.push((source, body));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_dir_writes_each_source_once_appending_its_documents() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let output = "---\n# Source: c/templates/a.yaml\na: 1\n---\n# Source: c/templates/a.yaml\n\
                      b: 2\n---\n# Source: c/templates/x/b.yaml\nc: 3\n";
        write_output_dir(dir.path(), output).unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap_or_default();
        assert_eq!(
            read("c/templates/a.yaml"),
            "---\n# Source: c/templates/a.yaml\na: 1\n---\n# Source: c/templates/a.yaml\nb: 2\n"
        );
        assert_eq!(
            read("c/templates/x/b.yaml"),
            "---\n# Source: c/templates/x/b.yaml\nc: 3\n"
        );
        assert!(write_output_dir(dir.path(), "---\n# Source: ../evil.yaml\nx: 1\n").is_err());
    }

    #[test]
    fn now_reads_rfc3339_and_unix_seconds() {
        assert_eq!(parse_now("2026-01-01T00:00:00Z").ok(), Some(1_767_225_600));
        assert_eq!(parse_now("1767225600").ok(), Some(1_767_225_600));
        assert!(parse_now("tomorrow").is_err());
    }
}

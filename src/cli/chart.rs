//! `ferry template` and `ferry images`: the Rust Helm engine on a chart
//! directory or archive, printing what `helm template` prints, or the images
//! the chart will run.

use std::path::PathBuf;

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
    /// Release namespace.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions`.
    #[arg(long = "api-versions")]
    pub api_versions: Vec<String>,
    /// Only these templates (`templates/x.yaml`).
    #[arg(long = "show-only", short = 's')]
    pub show_only: Vec<String>,
    /// Include the chart's `crds/`.
    #[arg(long)]
    pub include_crds: bool,
    /// The site secret seeding random functions (default: the site seed, created once).
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
}

impl ChartArgs {
    fn options(&self) -> Result<RenderOptions> {
        Ok(RenderOptions {
            release_name: self.name.clone(),
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
            include_crds: self.include_crds,
            seed: ferry::render::site_seed(self.seed_file.as_deref())?,
            ..RenderOptions::default()
        })
    }

    /// The chart, loaded once, and its rendering.
    fn render(&self) -> Result<(Chart, ferry_helm::Rendered)> {
        let chart = Chart::load(&self.chart)
            .with_context(|| format!("cannot load chart {}", self.chart.display()))?;
        let rendered = ferry_helm::render(&chart, &self.options()?)?;
        Ok((chart, rendered))
    }
}

/// `ferry template`.
pub fn template(ctx: &Context, args: &ChartArgs) -> Result<()> {
    let (_, rendered) = args.render()?;
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

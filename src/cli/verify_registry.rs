//! `ferry verify --registry`: what a registry holds, against the signed root.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::bundle::OpenBundle;
use ferry::image_map::ImageMap;
use ferry::oci::Digest;
use ferry::push::harbor::Harbor;
use ferry::push::verify::{self, Status, Subject, VerifyOptions};
use ferry::push::Mapping;
use ferry::text::escape;

use super::{print_json, registry_setup, runtime, Context, RegistryArgs, TrustArgs};

/// Options of `ferry verify --registry`.
#[derive(Args)]
pub struct RemoteArgs {
    /// Check the registry a bundle was pushed to: `HOST[:PORT]` or `HOST[:PORT]/PROJECT`
    /// (as given to `ferry push --to`). Reports every artifact as ok, missing or different.
    #[arg(long, value_name = "HOST[/PROJECT]")]
    pub registry: Option<String>,
    /// The bundle's root digest (instead of the bundle file).
    #[arg(long, value_name = "sha256:…", requires_all = ["registry", "bundle_name"], conflicts_with = "bundle")]
    pub root: Option<String>,
    /// The bundle's name (with --root).
    #[arg(long, value_name = "NAME", requires = "root")]
    pub bundle_name: Option<String>,
    /// The bundle's version, the root's tag (with --root; default `latest`).
    #[arg(long = "version", value_name = "VERSION", requires = "root")]
    pub bundle_version: Option<String>,
    /// Harbor project (or path prefix) push used; default: from --registry, else the
    /// bundle name on Harbor, none elsewhere (as `ferry push`).
    #[arg(long, requires = "registry")]
    pub project: Option<String>,
    /// Project push used for one original registry: `REGISTRY=PROJECT` (repeatable).
    #[arg(
        long = "project-for",
        value_name = "REGISTRY=PROJECT",
        requires = "registry"
    )]
    pub project_for: Vec<String>,
    /// Push kept the original registry as a path segment.
    #[arg(long, requires = "registry")]
    pub keep_registry: bool,
    /// The image map push wrote (its targets are where artifacts are looked for).
    #[arg(long, value_name = "FILE", requires = "registry")]
    pub image_map: Option<PathBuf>,
    #[command(flatten)]
    pub client: RegistryArgs,
}

/// `ferry verify --registry …`.
pub fn run(
    ctx: &Context,
    bundle_path: Option<&Path>,
    trust: &TrustArgs,
    args: &RemoteArgs,
) -> Result<()> {
    let Some(to) = &args.registry else {
        bail!("--registry is required");
    };
    let policy = trust.policy()?;
    let bundle = match bundle_path {
        Some(path) => {
            super::verify_bundle(ctx, path, trust, args.client.cache_dir.as_deref())?;
            Some(OpenBundle::open(path)?)
        }
        None => None,
    };
    let subject = match (&bundle, &args.root) {
        (Some(bundle), _) => Subject::Bundle(bundle),
        (None, Some(root)) => Subject::Root {
            root: root
                .parse::<Digest>()
                .with_context(|| format!("--root `{root}` is not a sha256 digest"))?,
            bundle: args.bundle_name.clone().unwrap_or_default(),
            version: args.bundle_version.clone(),
        },
        (None, None) => bail!("give the bundle file, or --root with --bundle-name and --version"),
    };
    let bundle_name = match &subject {
        Subject::Bundle(bundle) => bundle.lock().map(|l| l.bundle.clone()).unwrap_or_default(),
        Subject::Root { bundle, .. } => bundle.clone(),
    };
    let (client, _) = registry_setup(&args.client)?;
    let runtime = runtime()?;
    let (host, path_project) = match to.split_once('/') {
        Some((host, project)) => (host.to_owned(), Some(project.trim_matches('/').to_owned())),
        None => (to.clone(), None),
    };
    let project = match (&args.project, path_project) {
        (Some(project), _) => project.clone(),
        (None, Some(project)) => project,
        (None, None) if runtime.block_on(Harbor::new(&client, &host).detect()) => bundle_name,
        (None, None) => String::new(),
    };
    let projects = super::project_for(&args.project_for)?;
    let image_map = match &args.image_map {
        Some(path) => Some(ImageMap::read(path)?),
        None => None,
    };
    let options = VerifyOptions {
        mapping: Mapping {
            host,
            project,
            projects,
            keep_registry: args.keep_registry,
        },
        image_map,
        policy,
        jobs: args.client.jobs,
    };
    let report = runtime.block_on(verify::verify_registry(&client, subject, &options))?;
    ctx.progress.clear();
    if ctx.json {
        print_json(&report);
    } else {
        for artifact in &report.artifacts {
            let mut line = format!(
                "{:<9} {:<8} {}  {}",
                artifact.status.as_str(),
                escape(&artifact.kind),
                escape(&artifact.target),
                artifact.digest
            );
            if let Some(actual) = &artifact.actual {
                line.push_str(&format!("  (the tag resolves to {actual})"));
            }
            if artifact.status == Status::Missing {
                line.push_str(&format!("  missing: {}", artifact.missing.join(", ")));
            }
            println!("{line}");
        }
        let signature = &report.signature;
        match (&signature.signed_by, &signature.detail) {
            (Some(key), _) => println!("signature {}: signed by {key}", signature.target),
            (None, Some(detail)) => println!("signature {}: {detail}", signature.target),
            (None, None) => println!("signature {}", signature.target),
        }
    }
    let problems = report.problems().count();
    if !report.signature.ok {
        bail!(
            "{} does not hold a trusted signature of bundle {} (root {}): {}",
            report.registry,
            escape(&report.bundle),
            report.root,
            report.signature.detail.as_deref().unwrap_or("not accepted")
        );
    }
    if problems > 0 {
        bail!(
            "{} does not hold bundle {} (root {}) as signed: {problems} of {} artifacts missing or different",
            report.registry,
            escape(&report.bundle),
            report.root,
            report.artifacts.len()
        );
    }
    if !ctx.json {
        println!(
            "{} holds bundle {} (root {}) as signed: {} artifacts ok",
            report.registry,
            escape(&report.bundle),
            report.root,
            report.artifacts.len()
        );
    }
    Ok(())
}

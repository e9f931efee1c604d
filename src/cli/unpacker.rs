//! `ferry deploy --in-cluster` (the unpacker's objects: listed with
//! `--plan`, applied otherwise) and the hidden `ferry unpacker run`, which
//! the unpacker's Job runs inside the cluster.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use ferry::deploy::Plan;
use ferry::unpacker::{self, BundleSource, JobSettings};

use super::{print_json, Context, RegistryArgs, TrustArgs};

/// The in-cluster flags of `ferry deploy`.
#[derive(Args, Clone, Default)]
pub struct InClusterArgs {
    /// Run the push and the deploy inside the cluster, as a Job of ferry's
    /// own image in ferry-system (with --plan: list its objects).
    #[arg(long)]
    pub in_cluster: bool,
    /// In-cluster: the Job streams the bundle from `ferry serve` at this URL
    /// (`http://bastion:5000/_ferry/bundle.tar`), resuming with Range.
    #[arg(long, value_name = "URL", conflicts_with = "host_path")]
    pub bundle_url: Option<String>,
    /// In-cluster: the Job reads the bundle from a file on one node (`NODE:/path/bundle.tar`).
    #[arg(long, value_name = "NODE:PATH")]
    pub host_path: Option<String>,
    /// In-cluster: Harbor as the pod reaches it (`harbor.harbor.svc:80[/PROJECT]`).
    #[arg(long, value_name = "HOST[:PORT][/PROJECT]")]
    pub harbor: Option<String>,
    /// In-cluster: a Docker `config.json` with Harbor's credentials, handed in as a Secret.
    #[arg(long, value_name = "FILE")]
    pub harbor_auth: Option<PathBuf>,
    /// In-cluster: ferry's image as nodes pull it (default: the bundle's, `ferry.local/ferry:<version>@<digest>`).
    #[arg(long, value_name = "REF")]
    pub unpacker_image: Option<String>,
    /// In-cluster: registries the pod talks to over plain HTTP (repeatable).
    #[arg(long = "unpacker-insecure-registry", value_name = "HOST")]
    pub unpacker_insecure: Vec<String>,
    /// In-cluster: pod retries before the Job fails.
    #[arg(long, default_value_t = 4)]
    pub backoff_limit: i64,
    /// In-cluster: the size limit of the pod's work directory (bundle and cache).
    #[arg(long, default_value = "64Gi")]
    pub work_size: String,
    /// In-cluster: follow the Job until it completes or fails.
    #[arg(long)]
    pub wait: bool,
    /// In-cluster: how long --wait follows the Job, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub wait_timeout: u64,
    /// Who ran this deploy, recorded (set by `ferry unpacker run`).
    #[arg(long, hide = true)]
    pub ran_by: Option<String>,
}

/// `ferry deploy --in-cluster [--plan]`.
#[allow(clippy::too_many_arguments)]
pub fn deploy(
    ctx: &Context,
    args: &InClusterArgs,
    trust: &TrustArgs,
    plan: &Plan,
    lock: &ferry::lock::Lock,
    root: &ferry::oci::Digest,
    cluster: &ferry::deploy::KubeconfigSource,
    only_plan: bool,
    site: unpacker::SiteInputs,
) -> Result<()> {
    let source = match (&args.bundle_url, &args.host_path) {
        (Some(url), None) => BundleSource::Url { url: url.clone() },
        (None, Some(value)) => BundleSource::host_path(value)
            .map_err(|e| anyhow::anyhow!("--host-path {e}"))?,
        _ => bail!("--in-cluster needs where the pod finds the bundle: --bundle-url URL (ferry serve) or --host-path NODE:/path"),
    };
    let Some(harbor) = args.harbor.clone() else {
        bail!("--in-cluster needs --harbor HOST[:PORT][/PROJECT]: Harbor as the pod reaches it (its Service)");
    };
    let key = match trust.keys.as_slice() {
        [key] => key,
        _ => bail!("--in-cluster needs exactly one --key PUB: the pod verifies the bundle with it (handed in as a Secret)"),
    };
    let public_key = std::fs::read_to_string(key)
        .with_context(|| format!("cannot read --key {}", key.display()))?;
    let image = match (&args.unpacker_image, &lock.ferry_image) {
        (Some(image), _) => image.clone(),
        (None, Some(ferry_image)) => match &ferry_image.digest {
            Some(digest) => format!("{}@{digest}", ferry_image.reference),
            None => bail!("the bundle's lock names ferry's image without its digest"),
        },
        (None, None) => bail!("the bundle does not carry ferry's image (set `ferryImage: true` in the spec and build again), or give --unpacker-image REF"),
    };
    let harbor_config = match &args.harbor_auth {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --harbor-auth {}", path.display()))?,
        ),
        None => None,
    };
    let settings = JobSettings {
        source,
        image,
        root: root.clone(),
        harbor,
        public_key,
        harbor_config,
        insecure_registries: args.unpacker_insecure.clone(),
        backoff_limit: args.backoff_limit,
        work_size: args.work_size.clone(),
        site,
    };
    let (objects, rbac) = unpacker::objects(plan, &settings);
    let job = unpacker::job_name(root);
    if only_plan {
        if ctx.json {
            print_json(&serde_json::json!({
                "namespace": ferry::deploy::RECORD_NAMESPACE,
                "job": job,
                "source": settings.source,
                "image": settings.image,
                "rbac": rbac,
                "objects": redacted(&objects),
            }));
        } else {
            print_objects(&objects, &rbac, &settings, &job);
        }
        return Ok(());
    }
    let runtime = super::runtime()?;
    let applied = runtime.block_on(unpacker::apply::apply(&objects, cluster))?;
    if !ctx.json {
        for object in &applied.objects {
            println!("applied {object}");
        }
        println!(
            "the unpacker Job {}/{job} runs on {}: follow it with `kubectl -n {} logs -f job/{job}` or `ferry status`",
            ferry::deploy::RECORD_NAMESPACE,
            applied.server,
            ferry::deploy::RECORD_NAMESPACE
        );
    }
    let outcome = if args.wait {
        Some(runtime.block_on(unpacker::apply::follow_job(
            cluster,
            &job,
            Duration::from_secs(args.wait_timeout),
            Duration::from_secs(2),
        ))?)
    } else {
        None
    };
    if ctx.json {
        print_json(&serde_json::json!({"applied": applied, "job": job, "outcome": outcome}));
    } else if let Some(outcome) = outcome {
        println!("the unpacker Job {job} is {}", outcome.condition);
    }
    Ok(())
}

/// The objects with every Secret value but the public key replaced by its size: a plan names
/// what the Secret holds (site seed, credentials), never their values.
fn redacted(objects: &[serde_json::Value]) -> Vec<serde_json::Value> {
    objects
        .iter()
        .map(|object| {
            let mut object = object.clone();
            if let Some(data) = object
                .get_mut("stringData")
                .and_then(serde_json::Value::as_object_mut)
            {
                for (key, value) in data.iter_mut() {
                    if key == "cosign.pub" {
                        continue; // public
                    }
                    let size = value.as_str().map_or(0, str::len);
                    *value = serde_json::json!(format!("(redacted, {size} bytes)"));
                }
            }
            object
        })
        .collect()
}

fn print_objects(
    objects: &[serde_json::Value],
    rbac: &unpacker::rbac::Rbac,
    settings: &JobSettings,
    job: &str,
) {
    println!(
        "in-cluster plan: {} object(s) in {} and cluster-wide; the Job {job} runs {}",
        objects.len(),
        ferry::deploy::RECORD_NAMESPACE,
        settings.image
    );
    match &settings.source {
        BundleSource::Url { url } => {
            println!("bundle: streamed from {url} into the pod's emptyDir, resumed with Range")
        }
        BundleSource::HostPath { node, path } => {
            println!(
                "bundle: {path} on node {node} (hostPath, read-only; the pod is bound to {node})"
            )
        }
    }
    for object in objects {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let namespace = text("/metadata/namespace");
        let at = if namespace.is_empty() {
            text("/metadata/name")
        } else {
            format!("{namespace}/{}", text("/metadata/name"))
        };
        println!("  {} {at}", text("/kind"));
    }
    println!("cluster-wide rules:");
    for rule in &rbac.cluster {
        println!(
            "  [{}] {}: {}",
            rule.api_groups.join(","),
            rule.resources.join(","),
            rule.verbs.join(",")
        );
    }
    for (namespace, rules) in &rbac.namespaced {
        println!("rules in {namespace}:");
        for rule in rules {
            println!(
                "  [{}] {}: {}",
                rule.api_groups.join(","),
                rule.resources.join(","),
                rule.verbs.join(",")
            );
        }
    }
    println!("why:");
    for note in &rbac.notes {
        println!("  - {note}");
    }
}

/// `ferry unpacker ...` (run by the unpacker's Job, hidden).
#[derive(Subcommand)]
pub enum UnpackerCommand {
    /// Read the bundle, verify it, push it into Harbor, deploy it with the
    /// pod's service account.
    Run(RunArgs),
}

/// Arguments of `ferry unpacker run`.
#[derive(Args)]
pub struct RunArgs {
    /// The bundle from `ferry serve` (downloaded into --work-dir, resumed).
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "bundle_path",
        required_unless_present = "bundle_path"
    )]
    pub bundle_url: Option<String>,
    /// The bundle file (a hostPath mount).
    #[arg(long, value_name = "FILE")]
    pub bundle_path: Option<PathBuf>,
    /// The writable work directory (download, cache, image map).
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Harbor as the pod reaches it: `HOST[:PORT][/PROJECT]`.
    #[arg(long)]
    pub to: String,
    /// The Job this runs in (recorded in the deployment record).
    #[arg(long)]
    pub job_name: Option<String>,
    /// Which signatures to accept.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Registries reached over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Site variables, as `ferry deploy --var` takes them (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Values files, as `ferry deploy --values` takes them (repeatable).
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
}

/// `ferry unpacker`.
pub fn run(ctx: &Context, command: &UnpackerCommand) -> Result<()> {
    let UnpackerCommand::Run(args) = command;
    let bundle = match (&args.bundle_url, &args.bundle_path) {
        (Some(url), _) => {
            eprintln!("unpacker: downloading the bundle from {url}");
            let runtime = super::runtime()?;
            let done = runtime.block_on(unpacker::download::fetch(url, &args.work_dir))?;
            eprintln!(
                "unpacker: bundle complete ({} bytes; {} fetched now, {} kept from before)",
                done.size, done.bytes_fetched, done.resumed_from
            );
            done.path
        }
        (None, Some(path)) => path.clone(),
        (None, None) => bail!("give --bundle-url or --bundle-path"),
    };
    let cache = args.work_dir.join("cache");
    let map = args.work_dir.join("image-map.json");
    let registry = RegistryArgs {
        mirrors: Vec::new(),
        insecure: args.insecure.clone(),
        ca_certs: Vec::new(),
        config: None,
        jobs: 8,
        cache_dir: Some(cache),
    };
    eprintln!("unpacker: verifying and pushing into {}", args.to);
    super::push::run(
        ctx,
        &super::push::PushArgs {
            bundle: bundle.clone(),
            to: args.to.clone(),
            project: None,
            project_for: Vec::new(),
            keep_registry: false,
            harbor: false,
            no_harbor: false,
            image_map: map.clone(),
            chunk_size: "64MiB".to_owned(),
            trust: args.trust.clone(),
            registry,
        },
    )
    .context("unpacker: the push into Harbor failed")?;
    eprintln!("unpacker: deploying with the pod's service account");
    let ran_by = format!(
        "in-cluster job {}/{}",
        ferry::deploy::RECORD_NAMESPACE,
        args.job_name.as_deref().unwrap_or("(unnamed)")
    );
    super::deploy::run(
        ctx,
        &super::deploy::DeployArgs::for_unpacker(
            bundle,
            map,
            args.trust.clone(),
            ran_by,
            args.vars.clone(),
            args.values.clone(),
        ),
    )
    .context("unpacker: the deploy failed")?;
    eprintln!("unpacker: done");
    Ok(())
}

/// Arguments of `ferry bootstrap`.
#[derive(Args)]
pub struct BootstrapArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// Print the sequence (the only mode: each step is run by its own command).
    #[arg(long, required = true)]
    pub plan: bool,
    /// The bastion's `ferry serve` address as the nodes reach it.
    #[arg(long, value_name = "HOST:PORT", default_value = "10.0.0.5:5000")]
    pub bastion: String,
    /// Harbor as the pods reach it.
    #[arg(
        long,
        value_name = "HOST[:PORT]/PROJECT",
        default_value = "harbor.harbor.svc:80/platform"
    )]
    pub harbor: String,
    /// The component that installs Harbor.
    #[arg(long, default_value = "harbor")]
    pub harbor_component: String,
    /// Which signatures to accept.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `ferry bootstrap --plan`.
pub fn bootstrap(ctx: &Context, args: &BootstrapArgs) -> Result<()> {
    let opened = super::render::open_verified(ctx, &args.bundle, &args.trust, None)?;
    let key = match args.trust.keys.first() {
        Some(key) => key.display().to_string(),
        None => "PUB".to_owned(),
    };
    let site = unpacker::bootstrap::Site {
        bundle: args.bundle.display().to_string(),
        key,
        bastion: args.bastion.clone(),
        harbor: args.harbor.clone(),
        harbor_component: args.harbor_component.clone(),
    };
    let steps = unpacker::bootstrap::sequence(&opened.spec, &site);
    if ctx.json {
        print_json(&serde_json::json!({"bundle": opened.spec.name, "steps": steps}));
        return Ok(());
    }
    println!(
        "bootstrap of a new site for {}: {} steps",
        opened.spec.name,
        steps.len()
    );
    for (n, step) in steps.iter().enumerate() {
        println!("{}. {}", n + 1, step.title);
        for command in &step.commands {
            println!("   $ {command}");
        }
        println!("   {}", step.note);
    }
    Ok(())
}

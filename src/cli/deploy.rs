//! `ferry deploy`, `ferry status`, `ferry rollback`: a verified bundle
//! applied to a cluster, and what was recorded there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::deploy::{self, DeployOptions, KubeconfigSource, Plan};
use ferry::render::RenderSettings;
use sha2::Digest as _;

use super::{print_json, Context, TrustArgs};

/// The render clock when neither `--now` nor the site seed (an old seed file) gives one.
const FIXED_CLOCK: i64 = ferry_helm::DEFAULT_NOW;

/// Where the cluster is.
#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// The kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

impl ClusterArgs {
    fn source(&self) -> KubeconfigSource {
        match &self.kubeconfig {
            Some(path) => KubeconfigSource::File(path.clone()),
            None => KubeconfigSource::Infer,
        }
    }
}

/// Arguments of `ferry deploy`.
#[derive(Args)]
pub struct DeployArgs {
    /// The bundle (plain `.tar`, parts manifest, or layout directory).
    pub bundle: PathBuf,
    /// The image map `ferry push` wrote: images are pulled from the copies it names.
    #[arg(long)]
    pub image_map: Option<PathBuf>,
    /// Print the ordered steps and every object, touching no cluster.
    #[arg(long)]
    pub plan: bool,
    /// With --plan: also write each step's objects, in apply order, as YAML files into DIR.
    #[arg(long, value_name = "DIR", requires = "plan")]
    pub output_dir: Option<PathBuf>,
    /// Show what applying would change (server-side dry run), apply nothing.
    #[arg(long, conflicts_with = "plan")]
    pub diff: bool,
    /// Apply objects that run images the bundle does not carry (refused by default).
    #[arg(long)]
    pub no_strict: bool,
    /// Leave a component as it is: not applied, not pruned (repeatable).
    #[arg(long = "skip", value_name = "COMPONENT")]
    pub skip: Vec<String>,
    /// Prune PersistentVolumeClaims, CRDs and Namespaces a component no longer renders too.
    #[arg(long)]
    pub prune_protected: bool,
    /// Per-component values over the bundle's (YAML: `{component: {key: value}}`; repeatable).
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// A site variable for `{NAME}` placeholders in values (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// The site secret seeding charts' random functions.
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
    /// The render clock (Unix seconds): what `now` returns and where certificates start.
    #[arg(long, value_name = "SECONDS")]
    pub now: Option<i64>,
    /// Where the cluster is.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Which signatures to accept.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Running it inside the cluster instead.
    #[command(flatten)]
    pub in_cluster: super::unpacker::InClusterArgs,
}

impl DeployArgs {
    /// What `ferry unpacker run` deploys with: the pushed image map, the
    /// pod's service account, the run recorded as `ran_by`.
    pub fn for_unpacker(
        bundle: PathBuf,
        image_map: PathBuf,
        trust: TrustArgs,
        ran_by: String,
        vars: Vec<String>,
        values: Vec<PathBuf>,
    ) -> Self {
        Self {
            bundle,
            image_map: Some(image_map),
            plan: false,
            output_dir: None,
            diff: false,
            no_strict: false,
            skip: Vec::new(),
            prune_protected: false,
            values,
            vars,
            seed_file: None,
            now: None,
            cluster: ClusterArgs { kubeconfig: None },
            trust,
            in_cluster: super::unpacker::InClusterArgs {
                ran_by: Some(ran_by),
                ..Default::default()
            },
        }
    }
}

/// Arguments of `ferry status`.
#[derive(Args)]
pub struct StatusArgs {
    /// Where the cluster is.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Arguments of `ferry rollback`.
#[derive(Args)]
pub struct RollbackArgs {
    /// The component to roll back.
    pub component: String,
    /// The revision to return to (default: the one before the current).
    #[arg(long)]
    pub to: Option<i64>,
    /// Where the cluster is.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

fn settings(args: &DeployArgs) -> Result<RenderSettings> {
    let mut vars = BTreeMap::new();
    for var in &args.vars {
        let (name, value) = var
            .split_once('=')
            .with_context(|| format!("--var {var}: expected NAME=VALUE"))?;
        vars.insert(name.to_owned(), value.to_owned());
    }
    let mut overrides = serde_json::Value::Object(Default::default());
    for path in &args.values {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let value: serde_json::Value = serde_norway::from_str(&text)
            .with_context(|| format!("{} is not YAML", path.display()))?;
        if !value.is_object() && !value.is_null() {
            bail!(
                "{}: expected a mapping of component names to values",
                path.display()
            );
        }
        ferry::render::merge(&mut overrides, value);
    }
    let secret = ferry::render::site_secret(args.seed_file.as_deref())?;
    Ok(RenderSettings {
        now: Some(
            args.now
                .or_else(|| secret.clock_unix())
                .unwrap_or(FIXED_CLOCK),
        ),
        seed: secret.seed,
        vars,
        overrides,
        require_vars: !args.plan,
        is_upgrade: false,
        upgrades: Default::default(),
        include_crds: true,
    })
}

/// `ferry deploy`.
pub fn run(ctx: &Context, args: &DeployArgs) -> Result<()> {
    let super::render::Opened {
        report,
        bundle,
        lock,
        spec,
        map,
    } = super::render::open_verified(ctx, &args.bundle, &args.trust, args.image_map.as_deref())?;
    let mut settings = settings(args)?;
    let make_plan = |settings: &RenderSettings| -> Result<Plan> {
        let mut plan = deploy::plan(&bundle, &lock, &spec, map.as_ref(), settings)?;
        for name in &args.skip {
            if !plan.components.iter().any(|c| &c.name == name) {
                bail!("--skip {name}: the bundle deploys no such component");
            }
        }
        plan.resolve_overlaps(&args.skip);
        Ok(plan)
    };
    let mut plan = make_plan(&settings)?;
    if args.in_cluster.in_cluster {
        return super::unpacker::deploy(
            ctx,
            &args.in_cluster,
            &args.trust,
            &plan,
            &lock,
            &report.root,
            &args.cluster.source(),
            args.plan,
            site_inputs(args)?,
        );
    }
    if args.plan {
        plan.components.retain(|c| !args.skip.contains(&c.name));
        plan.unmapped.retain(|u| !args.skip.contains(&u.component));
        print_plan(ctx, &plan);
        if let Some(dir) = &args.output_dir {
            let files = deploy::write_plan(&plan, dir)?;
            if !ctx.json {
                println!(
                    "wrote {} file(s) into {}, in apply order",
                    files.len(),
                    dir.display()
                );
            }
        }
        return Ok(());
    }
    for overlap in &plan.overlaps {
        eprintln!(
            "warning: {} is applied by {} and {}: {} (deployed later) keeps it",
            overlap.object, overlap.dropped_from, overlap.kept_by, overlap.kept_by
        );
    }
    let runtime = super::runtime()?;
    // Releases the cluster already holds render as `helm upgrade` renders them.
    let upgrades = runtime.block_on(deploy::installed_releases(&plan, &args.cluster.source()))?;
    if !upgrades.is_empty() {
        settings.upgrades = upgrades;
        plan = make_plan(&settings)?;
    }
    if args.diff {
        let diffs = runtime.block_on(deploy::diff(&plan, &args.cluster.source()))?;
        if ctx.json {
            print_json(&diffs);
        } else if diffs.is_empty() {
            println!("no changes");
        } else {
            for d in &diffs {
                println!("# {} ({}): {}", d.object, d.component, d.change);
                println!("{}", d.diff);
            }
        }
        return Ok(());
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let options = DeployOptions {
        kubeconfig: args.cluster.source(),
        strict: !args.no_strict,
        prune_protected: args.prune_protected,
        root: report.root.to_string(),
        lock_fingerprint: lock.spec_fingerprint.to_string(),
        render_clock: settings.now.unwrap_or(FIXED_CLOCK),
        seed_fingerprint: hex::encode(sha2::Sha256::digest(&settings.seed)),
        cancel: Arc::clone(&cancel),
        skip: args.skip.clone(),
        ran_by: args.in_cluster.ran_by.clone(),
    };
    let outcome = runtime.block_on(async {
        let flag = Arc::clone(&cancel);
        let watcher = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted: stopping after the current object (Ctrl-C again to abort now)"
                );
                flag.store(true, Ordering::Relaxed);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        let result = deploy::deploy(&plan, &options, &ctx.progress).await;
        watcher.abort();
        result
    });
    ctx.progress.clear();
    let done = outcome?;
    if ctx.json {
        print_json(&done);
    } else {
        for c in &done.components {
            let pruned = if c.pruned.is_empty() {
                String::new()
            } else {
                format!(", {} pruned", c.pruned.len())
            };
            println!(
                "{}: revision {} ({} written, {} unchanged, {} hooks{pruned})",
                c.name, c.revision, c.written, c.unchanged, c.hooks
            );
        }
        println!(
            "deployed {} component(s) to {}",
            done.components.len(),
            done.server
        );
    }
    Ok(())
}

fn print_plan(ctx: &Context, plan: &Plan) {
    if ctx.json {
        let components: Vec<serde_json::Value> = plan
            .components
            .iter()
            .map(|c| {
                let steps: Vec<serde_json::Value> = c
                    .steps
                    .iter()
                    .map(|s| {
                        let objects: Vec<serde_json::Value> = s
                            .objects
                            .iter()
                            .chain(s.hooks.iter())
                            .map(|o| {
                                serde_json::json!({
                                    "api_version": o.id.api_version, "kind": o.id.kind,
                                    "namespace": o.id.namespace, "name": o.id.name,
                                    "source": o.source, "hook": o.hook.as_ref().map(|h| &h.events),
                                })
                            })
                            .collect();
                        serde_json::json!({
                            "label": s.label, "release": s.release, "wait": s.wait,
                            "timeout_seconds": s.timeout_seconds,
                            "targets": s.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            "objects": objects,
                        })
                    })
                    .collect();
                serde_json::json!({"name": c.name, "version": c.version, "steps": steps})
            })
            .collect();
        print_json(&serde_json::json!({
            "bundle": plan.bundle, "version": plan.version, "components": components,
            "not_deployed": plan.not_deployed, "unmapped": plan.unmapped,
            "overlaps": plan.overlaps,
        }));
        return;
    }
    println!(
        "plan for {} {}: {} component(s) to deploy",
        plan.bundle,
        plan.version.as_deref().unwrap_or(""),
        plan.components.len()
    );
    for (n, component) in plan.components.iter().enumerate() {
        println!("{}. {} {}", n + 1, component.name, component.version);
        for (i, step) in component.steps.iter().enumerate() {
            println!("   step {}: {}", i + 1, step.label);
            for target in &step.targets {
                println!("     wait for {target}");
            }
            for object in &step.objects {
                println!("     {}", object.id);
            }
            for hook in &step.hooks {
                let events = hook
                    .hook
                    .as_ref()
                    .map(|h| h.events.join(","))
                    .unwrap_or_default();
                println!("     {} (hook {events})", hook.id);
            }
        }
    }
    if !plan.overlaps.is_empty() {
        println!(
            "objects two components apply ({}; the one deployed later keeps each):",
            plan.overlaps.len()
        );
        for o in &plan.overlaps {
            println!("  {}: {} (not {})", o.object, o.kept_by, o.dropped_from);
        }
    }
    if !plan.not_deployed.is_empty() {
        println!(
            "not deployed by ferry (node-level or no deploy section): {}",
            plan.not_deployed.join(", ")
        );
    }
    if !plan.unmapped.is_empty() {
        println!("images the image map does not point anywhere ({}; deploy refuses them unless --no-strict):", plan.unmapped.len());
        for u in &plan.unmapped {
            println!(
                "  - {} container {}: {} ({})",
                u.object, u.container, u.image, u.reason
            );
        }
    }
}

/// `ferry status`.
pub fn status(ctx: &Context, args: &StatusArgs) -> Result<()> {
    let runtime = super::runtime()?;
    let report = runtime.block_on(deploy::status(&args.cluster.source()))?;
    if ctx.json {
        print_json(&report);
        return Ok(());
    }
    let Some(record) = &report.record else {
        println!("nothing deployed by ferry on {}", report.server);
        return Ok(());
    };
    println!(
        "{} {} on {}: {} (started {}{})",
        record.bundle,
        record.version.as_deref().unwrap_or(""),
        report.server,
        record.status,
        record.started,
        record
            .stopped_at
            .as_deref()
            .map(|c| format!(", stopped at {c}"))
            .unwrap_or_default()
    );
    for component in &record.components {
        let not_ready = report
            .not_ready
            .get(&component.name)
            .cloned()
            .unwrap_or_default();
        let state = if not_ready.is_empty() {
            "ready".to_owned()
        } else {
            format!("{} not ready", not_ready.len())
        };
        println!(
            "  {:<28} revision {:<3} {:<9} {} object(s), {state}",
            component.name,
            component.revision,
            component.status,
            component.objects.len()
        );
        if let Some(message) = &component.message {
            println!("      {message}");
        }
        for reason in not_ready {
            println!("      {reason}");
        }
    }
    Ok(())
}

/// `ferry rollback`.
pub fn rollback(ctx: &Context, args: &RollbackArgs) -> Result<()> {
    let runtime = super::runtime()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let report = runtime.block_on(deploy::rollback(
        &args.cluster.source(),
        &args.component,
        args.to,
        cancel,
    ))?;
    if ctx.json {
        print_json(&report);
    } else {
        println!(
            "{}: now revision {} ({} written, {} pruned)",
            report.name,
            report.revision,
            report.written,
            report.pruned.len()
        );
    }
    Ok(())
}

/// The site seed, variables and values the in-cluster Job renders with: the operator's own,
/// so a deploy moved into the cluster renders what this machine would.
fn site_inputs(args: &DeployArgs) -> Result<ferry::unpacker::SiteInputs> {
    // Made if missing, as a deploy from here would make it.
    ferry::render::site_secret(args.seed_file.as_deref())?;
    let path = match &args.seed_file {
        Some(path) => path.clone(),
        None => ferry::render::default_seed_path()?,
    };
    let seed = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the site seed {}", path.display()))?;
    let mut values = Vec::new();
    for file in &args.values {
        values.push(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read --values {}", file.display()))?,
        );
    }
    Ok(ferry::unpacker::SiteInputs {
        seed: Some(seed),
        vars: args.vars.clone(),
        values,
    })
}

//! `ferry sbom`, `ferry licenses`, `ferry diff`, `ferry audit`: what a lock or
//! bundle carries, what changed, and whether upstream still matches.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use ferry::audit::{self, InputKind, Material};
use ferry::lock::{Lock, ResolveOptions};
use ferry::spec::Spec;
use ferry::store::Store;

use super::{human_bytes, print_json, registry_setup, runtime, Context, RegistryArgs};

/// Exit status of `ferry audit` when it finds drift (1 is an error).
pub const DRIFT_EXIT_CODE: i32 = 2;

/// Arguments of `ferry sbom`.
#[derive(Args)]
pub struct SbomArgs {
    /// A bundle (archive or layout directory) or a lockfile.
    pub input: PathBuf,
    /// Write the SBOM to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// The spec of a lockfile, for upstream projects (default: <lock dir>/../bundles/<name>.yaml when it matches the lock).
    #[arg(long)]
    pub spec: Option<PathBuf>,
}

/// Output formats of `ferry licenses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LicenseFormat {
    /// Aligned plain-text columns.
    Table,
    /// A Markdown table.
    Markdown,
    /// JSON rows.
    Json,
}

/// Arguments of `ferry licenses`.
#[derive(Args)]
pub struct LicensesArgs {
    /// A bundle spec, lockfile or bundle.
    pub input: PathBuf,
    /// Output format (`--json` is `--format json`).
    #[arg(long, value_enum, default_value_t = LicenseFormat::Table)]
    pub format: LicenseFormat,
    /// The spec of a lockfile, for upstream projects (default: <lock dir>/../bundles/<name>.yaml when it matches the lock).
    #[arg(long)]
    pub spec: Option<PathBuf>,
}

/// Arguments of `ferry diff`.
#[derive(Args)]
pub struct DiffArgs {
    /// The older lockfile or bundle.
    pub a: PathBuf,
    /// The newer lockfile or bundle.
    pub b: PathBuf,
}

/// Arguments of `ferry audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// The lockfile to audit (never written).
    pub lock: PathBuf,
    /// The bundle spec the lock was made from.
    #[arg(long)]
    pub spec: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `ferry sbom`.
pub fn sbom(ctx: &Context, args: &SbomArgs) -> Result<()> {
    let material = Material::open(&args.input, args.spec.as_deref(), &ctx.progress)?;
    ctx.progress.clear();
    let bytes = match (&material.kind, &material.sbom) {
        (InputKind::Bundle, Some(embedded)) => embedded.clone(),
        (InputKind::Bundle, None) => bail!(
            "bundle {} embeds no SBOM (it was built by a ferry without SBOMs); run `ferry sbom` on its lockfile",
            args.input.display()
        ),
        _ => {
            let lock = material.require_lock("sbom")?;
            audit::sbom::to_bytes(lock, material.spec.as_ref())
        }
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !ctx.json {
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes).context("cannot write the SBOM")?;
            stdout.flush().context("cannot write the SBOM")?;
        }
    }
    Ok(())
}

/// `ferry licenses`.
pub fn licenses(ctx: &Context, args: &LicensesArgs) -> Result<()> {
    let material = Material::open(&args.input, args.spec.as_deref(), &ctx.progress)?;
    ctx.progress.clear();
    let rows = audit::licenses::rows(&material);
    let format = if ctx.json {
        LicenseFormat::Json
    } else {
        args.format
    };
    match format {
        LicenseFormat::Json => print_json(&rows),
        LicenseFormat::Table => print!("{}", audit::licenses::table(&rows)),
        LicenseFormat::Markdown => print!("{}", audit::licenses::markdown(&rows)),
    }
    Ok(())
}

/// `ferry diff`.
pub fn diff(ctx: &Context, args: &DiffArgs) -> Result<()> {
    let a = Material::open(&args.a, None, &ctx.progress)?;
    let b = Material::open(&args.b, None, &ctx.progress)?;
    ctx.progress.clear();
    audit::diff::comparable(&a, &b)?;
    let diff = audit::diff::diff(&a, &b)?;
    if ctx.json {
        print_json(&diff);
    } else {
        print!("{}", diff.render(&human_bytes));
    }
    Ok(())
}

/// `ferry audit`: exits with [`DRIFT_EXIT_CODE`] when upstream drifted.
pub fn audit(ctx: &Context, args: &AuditArgs) -> Result<()> {
    let lock = Lock::read(&args.lock)?;
    let spec = Spec::load(&args.spec)?;
    let (client, _) = registry_setup(&args.registry)?;
    // A throwaway cache: nothing cached may stand in for an upstream.
    let scratch = tempfile::tempdir().context("cannot create a scratch cache")?;
    let store = Store::open(scratch.path())?;
    let options = ResolveOptions {
        jobs: args.registry.jobs,
    };
    let report = runtime()?.block_on(audit::drift::audit(
        &lock,
        &spec,
        &client,
        &store,
        &options,
        &ctx.progress,
    ));
    ctx.progress.clear();
    drop(store);
    drop(scratch);
    if ctx.json {
        print_json(&report);
    } else {
        print!("{}", report.render());
    }
    if report.drift.is_empty() {
        return Ok(());
    }
    eprintln!(
        "error: {} entr{} of {} drifted from the lock",
        report.drift.len(),
        if report.drift.len() == 1 { "y" } else { "ies" },
        args.lock.display()
    );
    let _ = std::io::stdout().flush();
    std::process::exit(DRIFT_EXIT_CODE);
}

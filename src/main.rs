//! The `ferry` command line: argument parsing, progress bars and output.
//! Every piece of work is done by the `ferry` library.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use ferry::bundle::{self, ArchiveOptions, BuildOptions, Compression};
use ferry::lock::{self, Lock, ResolveOptions};
use ferry::oci::{Digest, ManifestView};
use ferry::progress::Progress;
use ferry::registry::{Client, RegistryConfig};
use ferry::spec::Spec;
use ferry::store::Store;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Carry a Kubernetes platform release across an air gap"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve a spec into its lockfile (every artifact pinned by digest).
    Lock(LockArgs),
    /// Build the bundle archive from the lock.
    Build(BuildArgs),
    /// Verify a bundle offline: every blob re-hashed, nothing missing, nothing extra.
    Verify(BundleArgs),
    /// List a bundle's components, images, charts and files.
    Inspect(BundleArgs),
    /// Verify a bundle and extract it as an OCI image layout directory.
    Unpack(UnpackArgs),
    /// Manage the blob cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Args)]
struct RegistryArgs {
    /// Resolve a registry through a mirror: HOST=[http://]MIRROR[/PREFIX] (repeatable).
    #[arg(long = "mirror", value_name = "HOST=MIRROR")]
    mirrors: Vec<String>,
    /// Allow plain HTTP to a registry host (loopback hosts always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure: Vec<String>,
    /// Trust an extra CA certificate (PEM).
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// A TOML file of registry settings (`insecure`, `ca-certs`, `retries`, `mirrors`).
    #[arg(
        long = "registry-config",
        value_name = "FILE",
        env = "FERRY_REGISTRY_CONFIG"
    )]
    config: Option<PathBuf>,
    /// Artifacts transferred at once.
    #[arg(long, short = 'j', default_value_t = 8)]
    jobs: usize,
    /// Blob cache directory (default: $FERRY_CACHE_DIR, $XDG_CACHE_HOME/ferry, ~/.cache/ferry).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
struct LockArgs {
    /// The bundle spec (bundles/<name>.yaml).
    spec: PathBuf,
    /// Lockfile path (default: <spec dir>/../lockfiles/<name>.lock).
    #[arg(long)]
    lockfile: Option<PathBuf>,
    /// Resolve again and fail if the lockfile would change; write nothing.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct BuildArgs {
    /// The bundle spec.
    spec: PathBuf,
    /// Lockfile path (default: <spec dir>/../lockfiles/<name>.lock).
    #[arg(long)]
    lockfile: Option<PathBuf>,
    /// Refuse to build when the lock is missing or stale (never re-resolve).
    #[arg(long)]
    locked: bool,
    /// Output archive.
    #[arg(long, short)]
    output: PathBuf,
    /// Compress the archive with zstd.
    #[arg(long)]
    zstd: bool,
    /// fsync the archive before it appears under its name (survives power loss).
    #[arg(long)]
    fsync: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct BundleArgs {
    /// A bundle archive (.tar, .tar.zst) or unpacked layout directory.
    bundle: PathBuf,
}

#[derive(Args)]
struct UnpackArgs {
    /// A bundle archive.
    bundle: PathBuf,
    /// Directory to extract into (must be empty or absent).
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Print the cache directory.
    Dir {
        /// Cache directory override.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Remove cached blobs that none of the given lockfiles reference.
    Gc {
        /// Lockfiles whose content to keep.
        #[arg(required = true)]
        lockfiles: Vec<PathBuf>,
        /// Cache directory override.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if cli.json {
                let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
                println!("{}", serde_json::json!({ "error": chain }));
            }
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let progress = Bars::new(cli.quiet || cli.json);
    match &cli.command {
        Command::Lock(args) => lock_command(cli, args, &progress),
        Command::Build(args) => build_command(cli, args, &progress),
        Command::Verify(args) => {
            let started = Instant::now();
            let (report, _) = bundle::verify(&args.bundle, None, &progress)?;
            progress.clear();
            if cli.json {
                print_json(&report);
            } else {
                println!(
                    "verified {}: bundle {} root {}: {} blobs, {}, {} images, {} charts, {} files ({:.1}s)",
                    args.bundle.display(),
                    report.bundle,
                    report.root,
                    report.blobs,
                    human_bytes(report.bytes),
                    report.images,
                    report.charts,
                    report.files,
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        Command::Inspect(args) => {
            let inspection = bundle::inspect(&args.bundle, &progress)?;
            progress.clear();
            if cli.json {
                print_json(&inspection);
            } else {
                print_inspection(&inspection);
            }
            Ok(())
        }
        Command::Unpack(args) => {
            if args.output.exists()
                && std::fs::read_dir(&args.output)
                    .with_context(|| format!("cannot read {}", args.output.display()))?
                    .next()
                    .is_some()
            {
                bail!(
                    "{} is not empty; unpack needs an empty or new directory",
                    args.output.display()
                );
            }
            let staging = args.output.with_extension("ferry-unpacking");
            if staging.exists() {
                std::fs::remove_dir_all(&staging)
                    .with_context(|| format!("cannot clear {}", staging.display()))?;
            }
            let result = bundle::verify(&args.bundle, Some(&staging), &progress);
            progress.clear();
            let (report, _) = match result {
                Ok(ok) => ok,
                Err(error) => {
                    // Nothing half-extracted is left looking like a layout.
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(error.into());
                }
            };
            if args.output.exists() {
                std::fs::remove_dir(&args.output)
                    .with_context(|| format!("cannot replace {}", args.output.display()))?;
            }
            std::fs::rename(&staging, &args.output)
                .with_context(|| format!("cannot move the layout to {}", args.output.display()))?;
            if cli.json {
                print_json(&report);
            } else {
                println!(
                    "unpacked {} ({} blobs, root {}) into {}",
                    report.bundle,
                    report.blobs,
                    report.root,
                    args.output.display()
                );
            }
            Ok(())
        }
        Command::Cache { command } => cache_command(cli, command),
    }
}

fn registry_setup(args: &RegistryArgs) -> Result<(Client, Store)> {
    let mut config = match &args.config {
        Some(path) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields, rename_all = "kebab-case")]
            struct FileConfig {
                #[serde(flatten)]
                registry: RegistryConfig,
                #[serde(default)]
                mirrors: Vec<String>,
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read registry config {}", path.display()))?;
            let file: FileConfig = toml::from_str(&text)
                .with_context(|| format!("invalid registry config {}", path.display()))?;
            let mut config = file.registry;
            if config.retries == 0 {
                config.retries = RegistryConfig::new().retries;
            }
            for mirror in &file.mirrors {
                config.add_mirror(mirror)?;
            }
            config
        }
        None => RegistryConfig::new(),
    };
    for mirror in &args.mirrors {
        config.add_mirror(mirror)?;
    }
    config.insecure.extend(args.insecure.iter().cloned());
    config.ca_certs.extend(args.ca_certs.iter().cloned());
    let client = Client::new(config)?;
    let store = open_store(args.cache_dir.as_deref())?;
    Ok((client, store))
}

fn open_store(dir: Option<&Path>) -> Result<Store> {
    let root = match dir {
        Some(dir) => dir.to_owned(),
        None => Store::default_root()?,
    };
    Ok(Store::open(root)?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn lock_command(cli: &Cli, args: &LockArgs, progress: &Bars) -> Result<()> {
    let started = Instant::now();
    let spec = Spec::load(&args.spec)?;
    let path = args
        .lockfile
        .clone()
        .unwrap_or_else(|| Lock::default_path(&spec));
    let (client, store) = registry_setup(&args.registry)?;
    let options = ResolveOptions {
        jobs: args.registry.jobs,
    };
    let resolved =
        runtime()?.block_on(lock::resolve(&spec, &client, &store, &options, progress))?;
    progress.clear();
    let text = resolved.to_text();
    let existing = std::fs::read_to_string(&path).ok();
    let unchanged = existing.as_deref() == Some(text.as_str());
    if args.check {
        if cli.json {
            print_json(&serde_json::json!({ "lockfile": path, "up_to_date": unchanged }));
        }
        if !unchanged {
            let reason = match existing {
                None => "it does not exist".to_owned(),
                Some(old) => describe_lock_change(&old, &resolved, &path),
            };
            bail!(
                "lockfile {} is out of date: {reason}\nhint: run `ferry lock {}`",
                path.display(),
                args.spec.display()
            );
        }
        if !cli.json {
            println!("{} is up to date", path.display());
        }
        return Ok(());
    }
    if !unchanged {
        resolved.write(&path)?;
    }
    if cli.json {
        print_json(&serde_json::json!({
            "lockfile": path,
            "changed": !unchanged,
            "images": resolved.images.len(),
            "charts": resolved.charts.len(),
            "files": resolved.files.len(),
            "spec_fingerprint": resolved.spec_fingerprint,
        }));
    } else {
        println!(
            "{} {}: {} images, {} charts, {} files ({:.1}s)",
            if unchanged { "unchanged" } else { "wrote" },
            path.display(),
            resolved.images.len(),
            resolved.charts.len(),
            resolved.files.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn describe_lock_change(old_text: &str, new: &Lock, path: &Path) -> String {
    let Ok(old) = Lock::parse(old_text, path) else {
        return "the existing lockfile is not valid".to_owned();
    };
    for image in &new.images {
        match old
            .images
            .iter()
            .find(|o| o.reference == image.reference && o.component == image.component)
        {
            None => return format!("image {} is new", image.reference),
            Some(o) if o.digest != image.digest => {
                return format!(
                    "image {} now resolves to {} (locked: {})",
                    image.reference, image.digest, o.digest
                )
            }
            Some(_) => {}
        }
    }
    for chart in &new.charts {
        if !old.charts.contains(chart) {
            return format!("chart {} {} changed", chart.name, chart.version);
        }
    }
    for file in &new.files {
        if !old.files.contains(file) {
            return format!("file {} ({}) changed", file.name, file.url);
        }
    }
    if old.spec_fingerprint != new.spec_fingerprint {
        return "the spec changed".to_owned();
    }
    "entries were removed or reordered".to_owned()
}

fn build_command(cli: &Cli, args: &BuildArgs, progress: &Bars) -> Result<()> {
    let started = Instant::now();
    let spec = Spec::load(&args.spec)?;
    let path = args
        .lockfile
        .clone()
        .unwrap_or_else(|| Lock::default_path(&spec));
    let (client, store) = registry_setup(&args.registry)?;
    let runtime = runtime()?;
    let lock =
        match Lock::read(&path).and_then(|lock| lock.check_fresh(&spec, &path).map(|()| lock)) {
            Ok(lock) => lock,
            Err(error) if args.locked => {
                return Err(error).context("`--locked` forbids resolving the spec again");
            }
            Err(_) => {
                let options = ResolveOptions {
                    jobs: args.registry.jobs,
                };
                let resolved =
                    runtime.block_on(lock::resolve(&spec, &client, &store, &options, progress))?;
                resolved.write(&path)?;
                resolved
            }
        };
    let mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds"))?,
        Err(_) => 0,
    };
    let options = BuildOptions {
        jobs: args.registry.jobs,
        archive: ArchiveOptions {
            compression: if args.zstd {
                Compression::Zstd
            } else {
                Compression::None
            },
            mtime,
            fsync: args.fsync,
        },
    };
    let outcome = runtime.block_on(bundle::build(
        &lock,
        &spec.canonical_json(),
        &spec.root,
        &client,
        &store,
        &args.output,
        &options,
        progress,
    ))?;
    progress.clear();
    if cli.json {
        print_json(&serde_json::json!({
            "bundle": args.output,
            "root": outcome.root,
            "sha256": outcome.archive_sha256,
            "size": outcome.archive_size,
            "blobs": outcome.blobs,
            "blobs_fetched": outcome.blobs_fetched,
            "bytes_fetched": outcome.bytes_fetched,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        println!(
            "built {} ({}, {} blobs; fetched {} blobs, {}) in {:.1}s\nroot   {}\nsha256 {}",
            args.output.display(),
            human_bytes(outcome.archive_size),
            outcome.blobs,
            outcome.blobs_fetched,
            human_bytes(outcome.bytes_fetched),
            started.elapsed().as_secs_f64(),
            outcome.root,
            outcome.archive_sha256
        );
    }
    Ok(())
}

fn cache_command(cli: &Cli, command: &CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Dir { cache_dir } => {
            let store = open_store(cache_dir.as_deref())?;
            if cli.json {
                print_json(&serde_json::json!({ "cache_dir": store.root() }));
            } else {
                println!("{}", store.root().display());
            }
        }
        CacheCommand::Gc {
            lockfiles,
            cache_dir,
        } => {
            let store = open_store(cache_dir.as_deref())?;
            let mut keep: BTreeSet<Digest> = BTreeSet::new();
            for path in lockfiles {
                let lock = Lock::read(path)?;
                let mut manifests: Vec<Digest> = Vec::new();
                for image in &lock.images {
                    manifests.push(image.digest.clone());
                    manifests.extend(image.platforms.iter().map(|p| p.digest.clone()));
                }
                for chart in &lock.charts {
                    keep.insert(chart.sha256.clone());
                    manifests.extend(chart.oci_digest.clone());
                }
                keep.extend(lock.files.iter().map(|f| f.sha256.clone()));
                for digest in manifests {
                    keep.insert(digest.clone());
                    if let Ok(view) = store
                        .read_small(&digest)
                        .map_err(anyhow::Error::from)
                        .and_then(|b| Ok(ManifestView::parse(&b)?))
                    {
                        keep.extend(view.blob_descriptors().map(|d| d.digest.clone()));
                    }
                }
            }
            let mut removed = 0usize;
            let mut freed = 0u64;
            for digest in store.list_loose()? {
                if !keep.contains(&digest) {
                    freed += store.remove(&digest)?;
                    removed += 1;
                }
            }
            freed += store.remove_packs_except(&keep)?;
            let stale_temp = store.clean_tmp()?;
            if cli.json {
                print_json(
                    &serde_json::json!({ "removed": removed, "freed_bytes": freed, "kept": keep.len(), "stale_temp_files": stale_temp }),
                );
            } else {
                println!(
                    "removed {removed} blobs ({}), kept {}",
                    human_bytes(freed),
                    keep.len()
                );
            }
        }
    }
    Ok(())
}

fn print_inspection(inspection: &bundle::Inspection) {
    println!(
        "bundle {}{}  root {}\n{} blobs, {}",
        inspection.bundle,
        inspection
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        inspection.root,
        inspection.blobs,
        human_bytes(inspection.bytes)
    );
    println!("\ncomponents:");
    for c in &inspection.components {
        println!("  {:<32} {:<16} {}", c.name, c.version, c.license);
    }
    println!("\nimages:");
    for i in &inspection.images {
        println!(
            "  {:<60} {:>10}  {}  [{}]",
            i.reference,
            human_bytes(i.size),
            i.digest,
            i.platforms.join(", ")
        );
    }
    println!("\ncharts:");
    for c in &inspection.charts {
        println!(
            "  {:<32} {:<12} {:>10}  sha256:{}",
            c.name,
            c.version,
            human_bytes(c.size),
            c.sha256.hex()
        );
    }
    println!("\nfiles:");
    for f in &inspection.files {
        println!(
            "  {:<20} {:<10} {:<14} {:>10}  {}",
            f.name,
            f.version,
            f.platform.as_deref().unwrap_or("any"),
            human_bytes(f.size),
            f.url
        );
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("error: cannot print JSON: {error}"),
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Progress bars on stderr, drawn only on a terminal.
struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Whether the current bar counts bytes (else items).
    by_bytes: AtomicBool,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            by_bytes: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<ProgressBar> {
        self.bar.lock().ok().and_then(|bar| bar.clone())
    }

    fn clear(&self) {
        if let Some(bar) = self.current() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, items: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let bar = if bytes > 0 {
            ProgressBar::new(bytes).with_style(
                ProgressStyle::with_template(
                    "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        } else {
            ProgressBar::new(items).with_style(
                ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        };
        self.by_bytes.store(bytes > 0, Ordering::Relaxed);
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn bytes(&self, count: u64) {
        if self.by_bytes.load(Ordering::Relaxed) {
            if let Some(bar) = self.current() {
                bar.inc(count);
            }
        }
    }

    fn item(&self, name: &str) {
        if let Some(bar) = self.current() {
            if !self.by_bytes.load(Ordering::Relaxed) {
                bar.inc(1);
            }
            bar.set_message(name.to_owned());
        }
    }

    fn finish_stage(&self) {
        self.clear();
    }
}

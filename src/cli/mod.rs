//! The command implementations behind `src/main.rs`: each module turns
//! parsed arguments into library calls and prints the outcome (human or JSON).

pub mod audit;
pub mod build;
pub mod bundle;
pub mod cache;
pub mod chart;
pub mod deploy;
pub mod lock;
pub mod parts;
pub mod progress;
pub mod push;
pub mod render;
pub mod serve;
pub mod sign;
pub mod unpacker;
pub mod verify_registry;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use ferry::registry::{Client, RegistryConfig};
use ferry::store::Store;

pub use self::progress::Bars;
pub use self::sign::TrustArgs;

/// What every command needs: output mode and progress reporting.
pub struct Context {
    /// Print JSON on stdout.
    pub json: bool,
    /// Progress bars (drawn only on a terminal).
    pub progress: Bars,
}

/// Registry and cache options shared by commands that fetch.
#[derive(Args)]
pub struct RegistryArgs {
    /// Resolve a registry through a mirror: HOST=[http://]MIRROR[/PREFIX] (repeatable).
    #[arg(long = "mirror", value_name = "HOST=MIRROR")]
    pub mirrors: Vec<String>,
    /// Allow plain HTTP to a registry host (loopback hosts always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Trust an extra CA certificate (PEM).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
    /// A TOML file of registry settings (`insecure`, `ca-certs`, `retries`, `mirrors`).
    #[arg(
        long = "registry-config",
        value_name = "FILE",
        env = "FERRY_REGISTRY_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// Artifacts transferred at once.
    #[arg(long, short = 'j', default_value_t = 8)]
    pub jobs: usize,
    /// Blob cache directory (default: $FERRY_CACHE_DIR, $XDG_CACHE_HOME/ferry, ~/.cache/ferry).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Builds the registry client and opens the cache.
pub fn registry_setup(args: &RegistryArgs) -> Result<(Client, Store)> {
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

/// Opens the cache at `dir` or the default location.
pub fn open_store(dir: Option<&Path>) -> Result<Store> {
    let root = match dir {
        Some(dir) => dir.to_owned(),
        None => Store::default_root()?,
    };
    Ok(Store::open(root)?)
}

/// A multi-threaded async runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    use std::io::Write as _;
    match serde_json::to_string_pretty(value) {
        // A reader that stops early (`| head`) is not an error of ferry's: stop quietly.
        Ok(text) => match writeln!(std::io::stdout(), "{text}") {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(error) => eprintln!("error: cannot print JSON: {error}"),
            Ok(()) => {}
        },
        Err(error) => eprintln!("error: cannot print JSON: {error}"),
    }
}

/// `--project-for REGISTRY=PROJECT` rules (push, verify --registry, serve --registry).
pub fn project_for(rules: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut projects = std::collections::BTreeMap::new();
    for rule in rules {
        let Some((registry, name)) = rule.split_once('=') else {
            anyhow::bail!("--project-for expects REGISTRY=PROJECT, got `{rule}`");
        };
        projects.insert(registry.to_owned(), name.to_owned());
    }
    Ok(projects)
}

/// A count with its noun in the right number (`1 chart`, `2 charts`).
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A byte count for people (`1.5 GiB`).
pub fn human_bytes(bytes: u64) -> String {
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

/// The verification gate of commands that consume a bundle: the signature
/// against the trust flags, and every blob (or, while the file is unchanged
/// since a full verification, that verification's stamp in the cache).
pub fn verify_bundle(
    ctx: &Context,
    path: &Path,
    trust: &TrustArgs,
    cache_dir: Option<&Path>,
) -> Result<(ferry::bundle::VerifyReport, ferry::lock::Lock)> {
    let policy = trust.policy()?;
    let stamps = open_store(cache_dir)?.root().join("verified-v1");
    let (report, lock, how) =
        ferry::bundle::verify_for_use(path, &policy, &stamps, trust.reverify, &ctx.progress)
            .with_context(|| format!("refusing to use {}: it did not verify", path.display()))?;
    ctx.progress.clear();
    if !ctx.json {
        let by = match how {
            ferry::bundle::Verified::InFull => "every blob hashed",
            ferry::bundle::Verified::ByStamp => "unchanged since its last full verification",
        };
        eprintln!(
            "verified {} (root {}, {}{})",
            path.display(),
            report.root,
            by,
            report
                .signed_by
                .as_deref()
                .map(|k| format!(", signed by {k}"))
                .unwrap_or_default()
        );
    }
    Ok((report, lock))
}

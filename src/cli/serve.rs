//! `ferry serve`: a read-only registry and file server straight from a bundle.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use ferry::bundle::OpenBundle;
use ferry::serve::auth::BasicAuth;
use ferry::serve::{self, Catalog, ServeOptions};

use super::{print_json, runtime, Context, TrustArgs};

/// Arguments of `ferry serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// A plain `.tar` bundle or an unpacked layout directory.
    pub bundle: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,
    /// TLS certificate (PEM); with --tls-key, serve HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require HTTP basic auth with this user; the password comes from $FERRY_SERVE_PASSWORD.
    #[arg(long)]
    pub basic_auth_user: Option<String>,
    /// Seconds a client may take to send a request's headers, from connecting
    /// or from its previous response; idle connections are closed after it.
    #[arg(long, value_name = "SECONDS", default_value_t = ferry::serve::DEFAULT_HEADER_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a write to a client may wait without progress (a client that
    /// stopped reading mid-response) before its connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = ferry::serve::DEFAULT_WRITE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,
    /// Print node and kubespray configuration for this server and exit.
    #[arg(long)]
    pub print_config: bool,
    /// With --print-config: write the files into this directory instead of stdout.
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// The address nodes reach this server at (default: --listen).
    #[arg(long)]
    pub advertise: Option<String>,
    /// With --print-config: nodes try this registry first (the Harbor the bundle was pushed into,
    /// `HOST[:PORT][/PROJECT]`; project default: the bundle name, as `ferry push` uses on Harbor),
    /// then this server.
    #[arg(long, value_name = "HOST[/PROJECT]", requires = "print_config")]
    pub registry: Option<String>,
    /// With --registry: the project one upstream registry was pushed to (`REGISTRY=PROJECT`,
    /// repeatable), as given to `ferry push --project-for`.
    #[arg(
        long = "project-for",
        value_name = "REGISTRY=PROJECT",
        requires = "registry"
    )]
    pub project_for: Vec<String>,
    /// With --registry: the push kept the upstream registry as a path segment (`--keep-registry`).
    #[arg(long, requires = "registry")]
    pub keep_registry: bool,
    /// With --registry: it speaks plain HTTP (or HTTPS nodes do not verify).
    #[arg(long, requires = "registry")]
    pub registry_insecure: bool,
    /// For a delta bundle: its base bundle (verified too), which serves the blobs the delta leaves out.
    #[arg(long, value_name = "BUNDLE")]
    pub base: Option<PathBuf>,
    /// Which signatures to accept.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `ferry serve`.
pub fn run(ctx: &Context, args: &ServeArgs) -> Result<()> {
    super::verify_bundle(ctx, &args.bundle, &args.trust, None)?;
    let bundle = OpenBundle::open(&args.bundle)?;
    let is_delta = bundle.delta().is_some();
    let mut catalog =
        Catalog::new(bundle).with_context(|| format!("cannot serve {}", args.bundle.display()))?;
    match (&args.base, is_delta) {
        (Some(base_path), _) => {
            super::verify_bundle(ctx, base_path, &args.trust, None)?;
            let base = OpenBundle::open(base_path)?;
            catalog = catalog
                .with_base(base)
                .with_context(|| format!("cannot use {} as the base", base_path.display()))?;
        }
        (None, true) => anyhow::bail!(
            "{} is a delta bundle: serve it with --base <the bundle it was built against>",
            args.bundle.display()
        ),
        (None, false) => {}
    }
    let tls = args
        .tls_cert
        .as_ref()
        .zip(args.tls_key.as_ref())
        .map(|(c, k)| (c.clone(), k.clone()));
    if args.print_config {
        let endpoint = args
            .advertise
            .clone()
            .unwrap_or_else(|| args.listen.to_string());
        let first = args
            .registry
            .as_deref()
            .map(|target| registry_mirror(args, target, &catalog))
            .transpose()?;
        let files = serve::config::node_config(&catalog, &endpoint, tls.is_some(), first.as_ref());
        match &args.config_dir {
            Some(dir) => {
                for (name, content) in &files {
                    let path = dir.join(name);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .with_context(|| format!("cannot create {}", parent.display()))?;
                    }
                    std::fs::write(&path, content)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                if ctx.json {
                    print_json(&files.keys().collect::<Vec<_>>());
                } else {
                    println!(
                        "wrote {} into {}",
                        super::count(files.len(), "file", "files"),
                        dir.display()
                    );
                }
            }
            None if ctx.json => print_json(&files),
            None => {
                for (name, content) in &files {
                    println!("# ==> {name} <==\n{content}");
                }
            }
        }
        return Ok(());
    }
    let basic_auth = match &args.basic_auth_user {
        Some(user) => {
            let password = std::env::var("FERRY_SERVE_PASSWORD")
                .context("--basic-auth-user needs the password in $FERRY_SERVE_PASSWORD")?;
            Some(BasicAuth::new(user, &password).context("--basic-auth-user")?)
        }
        None => None,
    };
    let root = catalog.bundle().root.clone();
    let registries = catalog.registries();
    let files = catalog.file_paths().len();
    if ctx.json {
        print_json(
            &serde_json::json!({ "listen": args.listen, "root": root, "registries": registries, "files": files }),
        );
    } else {
        eprintln!(
            "serving bundle {root} on {}://{} ({}, {}); Ctrl-C stops",
            if tls.is_some() { "https" } else { "http" },
            args.listen,
            super::count(registries.len(), "registry", "registries"),
            super::count(files, "file", "files")
        );
    }
    let options = ServeOptions {
        listen: args.listen,
        tls,
        basic_auth,
        header_timeout: std::time::Duration::from_secs(args.header_timeout),
        write_timeout: std::time::Duration::from_secs(args.write_timeout),
    };
    runtime()?.block_on(serve::serve(catalog, options))?;
    Ok(())
}

/// The pushed copy nodes try first, with the paths `ferry push` mapped each registry to.
fn registry_mirror(
    args: &ServeArgs,
    target: &str,
    catalog: &Catalog,
) -> Result<serve::config::RegistryMirror> {
    let (host, project) = match target.split_once('/') {
        Some((host, project)) => (host.to_owned(), project.trim_matches('/').to_owned()),
        None => (
            target.to_owned(),
            catalog
                .bundle()
                .lock()
                .map(|l| l.bundle.clone())
                .unwrap_or_default(),
        ),
    };
    // The paths `ferry push` put each registry's repositories under.
    let mapping = ferry::push::Mapping {
        host: host.clone(),
        project: project.clone(),
        projects: super::project_for(&args.project_for)?,
        keep_registry: args.keep_registry,
    };
    let prefixes = catalog
        .registries()
        .iter()
        .map(|registry| (registry.clone(), mapping.prefix(registry)))
        .collect();
    Ok(serve::config::RegistryMirror {
        host,
        prefixes,
        default_prefix: project,
        tls: !args.registry_insecure,
    })
}

//! The `ferry` command line: argument parsing, progress bars and output.
//! Every piece of work is done by the `ferry` library.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cli;

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
    Lock(cli::lock::LockArgs),
    /// Build the bundle archive from the lock.
    Build(cli::build::BuildArgs),
    /// Verify a bundle offline: its signature, every blob re-hashed, nothing missing, nothing extra.
    Verify(cli::bundle::VerifyArgs),
    /// List a bundle's components, images, charts and files.
    Inspect(cli::bundle::BundleArgs),
    /// Verify a bundle and extract it as an OCI image layout directory.
    Unpack(cli::bundle::UnpackArgs),
    /// Print the CycloneDX SBOM of a bundle (embedded) or a lock (generated).
    Sbom(cli::audit::SbomArgs),
    /// Print the open-source licence list of a spec, lock or bundle.
    Licenses(cli::audit::LicensesArgs),
    /// Show what changed between two locks or two bundles.
    Diff(cli::audit::DiffArgs),
    /// Re-resolve a lock's entries upstream and report drift (the lock is not written).
    Audit(cli::audit::AuditArgs),
    /// Render a chart as `helm template` does (Rust Helm engine, reproducible randomness).
    Template(cli::chart::TemplateArgs),
    /// List the images a chart will run.
    Images(cli::chart::ChartArgs),
    /// Render every chart of a bundle, image references rewritten through the push's image map.
    Render(cli::render::RenderArgs),
    /// Apply a verified bundle to a Kubernetes cluster, in order, waiting, recorded (--plan: offline).
    Deploy(cli::deploy::DeployArgs),
    /// Show what ferry deployed on a cluster and what is not ready.
    Status(cli::deploy::StatusArgs),
    /// Re-apply an earlier recorded revision of a component.
    Rollback(cli::deploy::RollbackArgs),
    /// Push a bundle into Harbor or any registry (projects created, resumable).
    Push(cli::push::PushArgs),
    /// Serve a bundle as a read-only registry and file server (no extraction).
    Serve(cli::serve::ServeArgs),
    /// Manage signing keys (cosign-compatible ECDSA P-256).
    Key {
        #[command(subcommand)]
        command: cli::sign::KeyCommand,
    },
    /// Cut a bundle archive into media-sized parts plus a `NAME.parts.json` manifest.
    Split(cli::parts::SplitArgs),
    /// Join the parts a `NAME.parts.json` lists back into the archive, checking each.
    Join(cli::parts::JoinArgs),
    /// Manage the blob cache.
    Cache {
        #[command(subcommand)]
        command: cli::cache::CacheCommand,
    },
    /// The bootstrap sequence of a new air-gapped site for a bundle (--plan).
    Bootstrap(cli::unpacker::BootstrapArgs),
    /// What the in-cluster unpacker's Job runs (see `ferry deploy --in-cluster`).
    #[command(hide = true)]
    Unpacker {
        #[command(subcommand)]
        command: cli::unpacker::UnpackerCommand,
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
            // Messages carry names and bytes from archives, specs and servers:
            // no control character of theirs reaches the terminal.
            let safe = |text: String| ferry::text::escape_message(&text).into_owned();
            eprintln!("error: {}", safe(error.to_string()));
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {}", safe(cause.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Cli) -> Result<()> {
    let ctx = cli::Context {
        json: args.json,
        progress: cli::Bars::new(args.quiet || args.json),
    };
    match &args.command {
        Command::Lock(a) => cli::lock::run(&ctx, a),
        Command::Build(a) => cli::build::run(&ctx, a),
        Command::Verify(a) => cli::bundle::verify(&ctx, a),
        Command::Inspect(a) => cli::bundle::inspect(&ctx, a),
        Command::Unpack(a) => cli::bundle::unpack(&ctx, a),
        Command::Sbom(a) => cli::audit::sbom(&ctx, a),
        Command::Licenses(a) => cli::audit::licenses(&ctx, a),
        Command::Diff(a) => cli::audit::diff(&ctx, a),
        Command::Audit(a) => cli::audit::audit(&ctx, a),
        Command::Template(a) => cli::chart::template(&ctx, a),
        Command::Images(a) => cli::chart::images(&ctx, a),
        Command::Render(a) => cli::render::run(&ctx, a),
        Command::Deploy(a) => cli::deploy::run(&ctx, a),
        Command::Status(a) => cli::deploy::status(&ctx, a),
        Command::Rollback(a) => cli::deploy::rollback(&ctx, a),
        Command::Push(a) => cli::push::run(&ctx, a),
        Command::Serve(a) => cli::serve::run(&ctx, a),
        Command::Key { command } => cli::sign::run(&ctx, command),
        Command::Split(a) => cli::parts::split(&ctx, a),
        Command::Join(a) => cli::parts::join(&ctx, a),
        Command::Cache { command } => cli::cache::run(&ctx, command),
        Command::Unpacker { command } => cli::unpacker::run(&ctx, command),
        Command::Bootstrap(args) => cli::unpacker::bootstrap(&ctx, args),
    }
}

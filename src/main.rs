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
    /// Verify a bundle offline: every blob re-hashed, nothing missing, nothing extra.
    Verify(cli::bundle::BundleArgs),
    /// List a bundle's components, images, charts and files.
    Inspect(cli::bundle::BundleArgs),
    /// Verify a bundle and extract it as an OCI image layout directory.
    Unpack(cli::bundle::UnpackArgs),
    /// Manage the blob cache.
    Cache {
        #[command(subcommand)]
        command: cli::cache::CacheCommand,
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
        Command::Cache { command } => cli::cache::run(&ctx, command),
    }
}

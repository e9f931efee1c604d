//! `kube-double`: runs the Kubernetes API server double until killed.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A test double of the Kubernetes API server (not a real one): serves discovery, CRUD,
/// server-side apply, watch and a scripted controller, and writes a kubeconfig that reaches it.
/// Controls for scripts live under /_double/ (requests, fail-image, inject, objects).
#[derive(Debug, Parser)]
#[command(name = "kube-double", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write the kubeconfig.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The bearer token clients must send.
    #[arg(long, default_value = "double-token")]
    token: String,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    no_tls: bool,
    /// Milliseconds before a new Pod is Running and Ready.
    #[arg(long, default_value_t = 200)]
    ready_after_ms: u64,
    /// Do not run the scripted controller.
    #[arg(long)]
    no_controller: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let opts = kube_double::Options {
        tls: !args.no_tls,
        token: Some(args.token),
        controller: kube_double::Controller {
            ready_after: std::time::Duration::from_millis(args.ready_after_ms),
            enabled: !args.no_controller,
        },
    };
    let double = match kube_double::Double::spawn_at(opts, args.listen) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kube-double: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = double.write_kubeconfig(&args.kubeconfig) {
        eprintln!("kube-double: {e}");
        return std::process::ExitCode::FAILURE;
    }
    eprintln!(
        "kube-double (a test double, not a real API server) serving {} ; kubeconfig {}",
        double.url(),
        args.kubeconfig.display()
    );
    loop {
        std::thread::park();
    }
}

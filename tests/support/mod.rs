//! Integration-test harness for ferry.
//!
//! Independent of the `ferry` crate on purpose: it starts real registries (CNCF distribution
//! 2.8 via Debian's `docker-registry`), seeds them with `skopeo`, builds deterministic synthetic
//! OCI images, serves files/Helm repositories over HTTP and injects network faults.
//!
//! Each test binary compiles this module separately and uses a subset of it, hence the
//! `dead_code` allowance below.
//!
//! ```ignore
//! mod support;
//! use support::*;
//!
//! let reg = Registry::start(RegistryOptions::token().with_tls());
//! let dir = tempfile::tempdir().unwrap();
//! let mut layout = OciLayoutBuilder::new(dir.path());
//! let img = layout.add_image(Some("1.0"), &ImageSpec::with_layers(1, 3, 64 * 1024));
//! let multi = layout.add_multi_arch(Some("2.0"), 10, 4096);
//! assert_eq!(seed(dir.path(), "1.0", &reg, "library/app:1.0", SeedFormat::Oci, false), img.manifest_digest);
//! seed(dir.path(), "2.0", &reg, "library/multi:2.0", SeedFormat::Oci, true);
//! let proxy = FaultProxy::start(&plain_registry.host()); // plain-HTTP upstreams only
//! proxy.set_mode(FaultMode::die_mid_body("/blobs/sha256:", 1000, 1));
//! assert_eq!(reg.count(RequestKind::BlobUploadCompleted), 4 + 5);
//! ```
#![allow(dead_code, unused_imports)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod charts;
pub mod http;
pub mod images;
pub mod proxy;
pub mod registry;
pub mod skopeo;
pub mod tls;

pub use charts::{write_chart, write_chart_index, write_chart_tgz, ChartEntry};
pub use http::HttpServer;
pub use images::{
    ImageInfo, ImageSpec, IndexInfo, LayerInfo, LayerSpec, OciLayoutBuilder, Platform,
};
pub use proxy::{FaultMode, FaultProxy, SeenRequest};
pub use registry::{Auth, LoggedRequest, Registry, RegistryOptions, RequestKind, TOKEN_USERS};
pub use skopeo::{
    seed, seed_as, skopeo_copy_from_oci_layout, skopeo_copy_from_oci_layout_all,
    skopeo_inspect_digest, skopeo_inspect_digest_as, skopeo_inspect_media_type, skopeo_inspect_raw,
    skopeo_list_tags, SeedFormat,
};
pub use tls::TestCerts;

use sha2::{Digest, Sha256};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// External tools the harness needs, with the Debian package that ships each.
pub const REQUIRED_TOOLS: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
    ("curl", "curl"),
];

/// Panics with a clear message if docker-registry, skopeo, htpasswd, openssl or curl is missing.
pub fn require_tools() {
    let missing: Vec<&(&str, &str)> = REQUIRED_TOOLS
        .iter()
        .filter(|(tool, _)| find_in_path(tool).is_none())
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|(t, _)| *t).collect();
        let pkgs: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
        panic!(
            "\n\n*** ferry integration tests need external tools that are missing: {} ***\n\
             Install them with:\n    apt-get install -y {}\n\
             (full set: apt-get install -y docker-registry skopeo apache2-utils openssl curl jq)\n\n",
            names.join(", "),
            pkgs.join(" ")
        );
    }
}

/// Returns the full path of `tool` if an executable with that name is on `PATH`.
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Path of the shared registry recipes (`<repo>/../shared/tools/registry-recipes`).
pub fn recipes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/registry-recipes")
}

/// Path of `token_server.py`; panics loudly if the shared recipe file is absent.
pub fn token_server_script() -> PathBuf {
    let candidates = [
        recipes_dir().join("token_server.py"),
        PathBuf::from("/work/shared/tools/registry-recipes/token_server.py"),
    ];
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "\n\n*** token_server.py NOT FOUND: token-auth registry tests cannot run. ***\n\
         Looked at: {}\n\
         It is part of the shared registry recipes (shared/tools/registry-recipes), expected \
         next to the repository checkout.\n\n",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Returns a currently free TCP port on 127.0.0.1 (bind to port 0, then release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `sha256:<hex>` digest of `data`.
pub fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// Lowercase hex SHA-256 of a file's contents (streamed).
pub fn sha256_file(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    let mut f = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("sha256_file: open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("sha256_file: read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Formats a command line for messages (program and arguments, space separated).
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion capturing stdout/stderr; panics only if it cannot be spawned.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", describe(cmd)))
}

/// Runs `cmd`, panics (showing status, stdout and stderr) unless it succeeds; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    if !out.status.success() {
        panic!("{}", failure_message(cmd, &out));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, panics (showing stdout and stderr) if it unexpectedly succeeds; returns output.
pub fn run_fail(cmd: &mut Command) -> Output {
    let out = run(cmd);
    if out.status.success() {
        panic!(
            "command unexpectedly succeeded: `{}`\n--- stdout ---\n{}\n--- stderr ---\n{}",
            describe(cmd),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Panic message text for a failed command: command line, exit status, stdout, stderr.
pub fn failure_message(cmd: &Command, out: &Output) -> String {
    format!(
        "command failed ({}): `{}`\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        describe(cmd),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Last `n` lines of a text file (for diagnostics); empty if unreadable.
pub fn tail_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: std::time::Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

//! Hardening of `ferry serve` (issue 16 §3): idle and slow connections are
//! closed, so is one whose client stops reading in the middle of a blob, bytes changed on disk after verification are refused, an empty
//! password is refused, the `Basic` scheme is case-insensitive and `Range`
//! follows RFC 9110 §14.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::s;

/// The example bundle, built once per test binary.
fn example_bundle() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hardening_serve/p{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("example.tar");
        common::build_example(&dir.join("cache"), &bundle);
        bundle
    })
}

/// A private copy of the example bundle that a test may change.
fn bundle_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("bundle.tar");
    std::fs::copy(example_bundle(), &copy).unwrap();
    copy
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `ferry serve`, killed on drop.
struct Served {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Served {
    /// Starts `ferry serve` on a free port through `sh -c "PREFIX exec ferry serve …"`
    /// (so a test can lower limits) and waits for it to answer.
    fn start(
        bundle: &Path,
        dir: &Path,
        shell_prefix: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Served {
        let port = free_port();
        let stderr = dir.join(format!("serve-{port}.stderr"));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{shell_prefix} exec \"$@\""))
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_ferry"))
            .args(["serve", s(bundle), "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--insecure-skip-signature")
            .args(extra)
            .env("FERRY_CACHE_DIR", dir.join("cache"))
            .env("DOCKER_CONFIG", dir.join("no-docker-config"))
            .env("FERRY_SEED_FILE", dir.join("seed"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut served = Served {
            child: command.spawn().unwrap(),
            port,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = served.child.try_wait().unwrap() {
                panic!("ferry serve exited ({status}):\n{}", served.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return served;
            }
            assert!(
                Instant::now() < deadline,
                "ferry serve did not listen:\n{}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange (`Connection: close`): status, headers (lowercase names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the body is as long as `Content-Length` says.
    complete: bool,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn request(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    // A body cut short ends in a reset or an early EOF; keep what arrived.
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut reply = Reply {
        status,
        headers,
        body,
        complete: true,
    };
    if method != "HEAD" {
        if let Some(length) = reply.header("content-length") {
            reply.complete = length.parse::<usize>().unwrap() == reply.body.len();
        }
    }
    reply
}

fn get(port: u16, target: &str) -> Reply {
    request(port, "GET", target, &[])
}

/// A manifest of the bundle to fetch: `/v2/<repo>/manifests/<tag>` and its bytes.
fn some_manifest(port: u16) -> (String, Vec<u8>, String) {
    let catalog: serde_json::Value =
        serde_json::from_slice(&get(port, "/v2/_catalog").body).unwrap();
    let repository = catalog["repositories"][0].as_str().unwrap().to_owned();
    let tags: serde_json::Value =
        serde_json::from_slice(&get(port, &format!("/v2/{repository}/tags/list")).body).unwrap();
    let tag = tags["tags"][0].as_str().unwrap();
    let target = format!("/v2/{repository}/manifests/{tag}");
    let reply = get(port, &target);
    assert_eq!(reply.status, 200, "{target}");
    let digest = reply.header("docker-content-digest").unwrap().to_owned();
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&reply.body))
        ),
        digest
    );
    (target, reply.body, digest)
}

#[test]
fn idle_connections_are_closed_and_other_clients_are_served() {
    let dir = tempfile::tempdir().unwrap();
    // 200 file descriptors: without timeouts, 400 idle connections hold every one of them.
    let served = Served::start(
        example_bundle(),
        dir.path(),
        "ulimit -n 200;",
        &["--header-timeout", "2"],
        &[],
    );
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(("127.0.0.1", served.port)).unwrap())
        .collect();
    // A client sending half a request head forever is as idle.
    idle[0]
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let reply = request(served.port, "GET", "/v2/", &[]);
    assert_eq!(reply.status, 200);
    let waited = opened.elapsed();
    assert!(waited < Duration::from_secs(20), "served after {waited:?}");
    // The idle ones were closed by the server: reads end (EOF or reset) instead of timing out.
    for stream in idle.iter_mut().take(50) {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) => {}
            Ok(_) => {} // a 408 answer to the half-sent request is closing too
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "an idle connection stayed open: {e}"
            ),
        }
    }
    assert!(served.child.id() > 0);
}

#[test]
fn a_keep_alive_connection_idle_after_a_response_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        example_bundle(),
        dir.path(),
        "",
        &["--header-timeout", "1"],
        &[],
    );
    let mut stream = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
    stream
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => panic!("connection not closed after {:?}: {e}", started.elapsed()),
        }
    }
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn bytes_changed_on_disk_after_verification_are_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_copy(dir.path());
    let served = Served::start(&bundle, dir.path(), "", &[], &[]);
    let (target, bytes, _digest) = some_manifest(served.port);

    // Overwrite the manifest's bytes in place with bytes of the same length.
    let archive = std::fs::read(&bundle).unwrap();
    let at = archive
        .windows(bytes.len())
        .position(|w| w == bytes.as_slice())
        .expect("the manifest is stored verbatim in the tar");
    let mut changed = bytes.clone();
    changed[0] ^= 0x20;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&bundle)
        .unwrap();
    file.write_all_at(&changed, at as u64).unwrap();
    drop(file);

    let reply = get(served.port, &target);
    assert_ne!(reply.status, 200, "served after the change");
    assert_ne!(reply.body, changed);
    assert!(
        String::from_utf8_lossy(&reply.body).contains("changed on disk"),
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let range = request(served.port, "GET", &target, &[("Range", "bytes=0-9")]);
    assert_ne!(range.status, 206);
    assert!(served.log().contains("changed on disk"), "{}", served.log());

    // Putting the old bytes back with the old modification time does not help either:
    // the change time moved on.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&bundle)
        .unwrap();
    file.write_all_at(&bytes, at as u64).unwrap();
    assert_ne!(get(served.port, &target).status, 200);
}

#[test]
fn a_bundle_replaced_by_another_file_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_copy(dir.path());
    let served = Served::start(&bundle, dir.path(), "", &[], &[]);
    let (target, _, _) = some_manifest(served.port);
    let other = dir.path().join("other.tar");
    std::fs::copy(&bundle, &other).unwrap();
    std::fs::rename(&other, &bundle).unwrap();
    assert_ne!(get(served.port, &target).status, 200);
}

#[test]
fn an_empty_password_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::ferry_env(
        &dir.path().join("cache"),
        &[("FERRY_SERVE_PASSWORD", "")],
        &[
            "serve",
            s(example_bundle()),
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--insecure-skip-signature",
            "--basic-auth-user",
            "admin",
        ],
    )
    .failed();
    assert!(run.stderr.contains("password is empty"), "{}", run.stderr);
}

#[test]
fn the_basic_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        example_bundle(),
        dir.path(),
        "",
        &["--basic-auth-user", "puller"],
        &[("FERRY_SERVE_PASSWORD", "serve-pass")],
    );
    let token = base64::engine::general_purpose::STANDARD.encode("puller:serve-pass");
    for scheme in ["Basic", "basic", "BASIC"] {
        let auth = format!("{scheme} {token}");
        let reply = request(served.port, "GET", "/v2/", &[("Authorization", &auth)]);
        assert_eq!(reply.status, 200, "{scheme}");
    }
    assert_eq!(get(served.port, "/v2/").status, 401);
    let empty = base64::engine::general_purpose::STANDARD.encode("puller:");
    let reply = request(
        served.port,
        "GET",
        "/v2/",
        &[("Authorization", &format!("Basic {empty}"))],
    );
    assert_eq!(reply.status, 401);
}

#[test]
fn ranges_follow_rfc_9110() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(example_bundle(), dir.path(), "", &[], &[]);
    let (target, bytes, _) = some_manifest(served.port);
    let size = bytes.len();
    let with_range = |value: &str| request(served.port, "GET", &target, &[("Range", value)]);

    // Several ranges, an unknown unit, or an invalid specifier: the whole body with 200.
    for value in ["bytes=0-1,4-5", "items=0-9", "bytes=abc", "bytes=9-2"] {
        let reply = with_range(value);
        assert_eq!(reply.status, 200, "{value}");
        assert_eq!(reply.body, bytes, "{value}");
    }
    // An over-long first position is beyond the end: unsatisfiable.
    let reply = with_range("bytes=99999999999999999999999999-");
    assert_eq!(reply.status, 416);
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    // An over-long last position or suffix means "to the end".
    let reply = with_range("bytes=2-99999999999999999999999999");
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, &bytes[2..]);
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes 2-{}/{size}", size - 1).as_str())
    );
    let reply = with_range("bytes=-99999999999999999999999999");
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, bytes);
    // One plain range still works.
    let reply = with_range("bytes=1-3");
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, &bytes[1..4]);
}

/// A bundle with one image whose layer (32 MiB of incompressible bytes) is
/// more than socket buffers hold; returns the bundle and the layer's URL path.
fn large_blob_bundle() -> &'static (PathBuf, String, u64) {
    static BUNDLE: OnceLock<(PathBuf, String, u64)> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hardening_serve/large-p{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let reference = "registry.example/stall/app:1.0";
        let mut builder = support::OciLayoutBuilder::new(root.join("upstream/layout"));
        let image = builder.add_image(
            Some(reference),
            &support::ImageSpec::new(vec![support::LayerSpec::random(1603, 32 << 20)]),
        );
        common::write_component(
            &root,
            "stall",
            "1.0.0",
            &format!("images:\n  - ref: {reference}\n    layout: ../../upstream/layout\n"),
        );
        let spec = common::write_spec(&root, "stall", "stall");
        let bundle = root.join("stall.tar");
        common::lock_and_build(&root, &spec, "stall", &bundle);
        let _ = std::fs::remove_dir_all(root.join("upstream"));
        let layer = image.layers.iter().max_by_key(|l| l.size).unwrap();
        (
            bundle,
            format!("/v2/stall/app/blobs/{}", layer.digest),
            layer.size,
        )
    })
}

#[test]
fn a_client_that_stops_reading_mid_blob_is_disconnected() {
    let (bundle, target, size) = large_blob_bundle();
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(bundle, dir.path(), "", &["--write-timeout", "2"], &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
    stream
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut received = stream.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..received]).starts_with("HTTP/1.1 200"));
    // Stop reading well past the write timeout, then read what is left.
    std::thread::sleep(Duration::from_secs(6));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let ended = loop {
        match stream.read(&mut buf) {
            Ok(0) => break "closed",
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "reset",
            Err(e) => panic!("the stalled connection was not closed: {e} after {received} bytes"),
        }
    };
    assert!(
        (received as u64) < *size,
        "{received} bytes of a {size}-byte blob: the server kept writing ({ended})"
    );
    // The server goes on serving.
    assert_eq!(get(served.port, "/v2/").status, 200);
}

#[test]
fn a_slow_reader_that_keeps_reading_gets_the_whole_blob() {
    let (bundle, target, size) = large_blob_bundle();
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(bundle, dir.path(), "", &["--write-timeout", "2"], &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
    stream
        .write_all(
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    // 32 MiB in 1 s pauses of 8 MiB each: slow, never stalled for 2 s.
    let mut all = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut since_pause = 0usize;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
        since_pause += n;
        if since_pause >= 8 << 20 {
            std::thread::sleep(Duration::from_secs(1));
            since_pause = 0;
        }
    }
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!((all.len() - head_end) as u64, *size);
}

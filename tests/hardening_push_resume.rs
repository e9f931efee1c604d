//! Issue 16 §5: a push SIGKILLed in the middle of a large blob continues the
//! registry's open upload session on the next run, at the offset the
//! registry acknowledged, instead of sending the blob again from byte 0; also
//! after the registry was restarted in between, and (with a fresh upload)
//! when the registry forgot the session.
//!
//! The pushes go through the test proxy, which counts every request body byte
//! it reads (requests cut short included) and is paced so that the kill lands
//! in the middle of a chunk. The proxy forwards a request only once its whole
//! body is in, as request-buffering proxies in front of registries do, so the
//! cut chunk never reaches the registry. (Straight to distribution, the bytes
//! of a cut chunk are stored and distribution then refuses the saved session
//! as invalid: that push starts the blob again, as in the last case here.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{ferry_env, lock_and_build, s, write_component, write_spec};
use support::{
    require_tools, sha256_file, skopeo_inspect_digest, skopeo_inspect_raw, FaultProxy, ImageInfo,
    ImageSpec, LayerSpec, OciLayoutBuilder, Registry, RegistryOptions,
};

/// The upload chunk size the pushes use.
const CHUNK: u64 = 4 << 20;
/// The large layer: ten chunks of incompressible bytes.
const LARGE: usize = 40 << 20;
/// The pace of the killed push through the proxy (a chunk takes ~0.4 s).
const RATE: u64 = 10 << 20;
/// Bytes besides the large layer: config, small layer, manifests, lock and spec.
const SMALL: u64 = 512 << 10;
const REFERENCE: &str = "registry.example/resume/app:1.0";

struct Fixture {
    bundle: PathBuf,
    image: ImageInfo,
}

/// A bundle with one image whose layer is 40 MiB, built once per test process.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        require_tools();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("hardening_push_resume")
            .join(format!("p{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut builder = OciLayoutBuilder::new(root.join("upstream/layout"));
        let image = builder.add_image(
            Some(REFERENCE),
            &ImageSpec::new(vec![
                LayerSpec::random(1601, LARGE),
                LayerSpec::new(1602, 4096),
            ]),
        );
        write_component(
            &root,
            "resume",
            "1.0.0",
            &format!("images:\n  - ref: {REFERENCE}\n    layout: ../../upstream/layout\n"),
        );
        let spec = write_spec(&root, "resume", "resume");
        let bundle = root.join("resume.tar");
        lock_and_build(&root, &spec, "resume", &bundle);
        let _ = std::fs::remove_dir_all(root.join("upstream"));
        Fixture { bundle, image }
    })
}

fn large(fixture: &Fixture) -> (&str, u64) {
    let layer = fixture.image.layers.iter().max_by_key(|l| l.size).unwrap();
    (&layer.digest, layer.size)
}

fn push_args<'a>(bundle: &'a Path, to: &'a str, map: &'a Path) -> Vec<&'a str> {
    vec![
        "push",
        s(bundle),
        "--to",
        to,
        "--insecure-skip-signature",
        "--image-map",
        s(map),
        "-j",
        "1",
        "--chunk-size",
        "4MiB",
    ]
}

/// What the journal in `cache` says the registry acknowledged of `digest`.
fn journaled(cache: &Path, digest: &str) -> Option<u64> {
    let entries = std::fs::read_dir(cache.join("uploads-v1")).ok()?;
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .find(|entry| entry["digest"] == digest)
        .and_then(|entry| entry["acknowledged"].as_u64())
}

/// Starts a paced push through `proxy` and SIGKILLs it once the registry has
/// acknowledged three chunks of the large layer (the fourth is then in
/// flight); returns what the journal holds for that layer afterwards.
fn killed_push(fixture: &Fixture, proxy: &FaultProxy, dir: &Path) -> u64 {
    let (digest, _) = large(fixture);
    let cache = dir.join("cache");
    let map = dir.join("killed-map.json");
    let to = proxy.host();
    proxy.set_request_rate(Some(RATE));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(push_args(&fixture.bundle, &to, &map))
        .arg("-q")
        .env("FERRY_CACHE_DIR", &cache)
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .env("FERRY_SEED_FILE", cache.with_extension("seed"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if journaled(&cache, digest).is_some_and(|n| n >= 3 * CHUNK) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the push ended ({status}) before it was killed");
        }
        assert!(Instant::now() < deadline, "the push never got 3 chunks in");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the push was SIGKILLed");
    assert!(!map.exists(), "the killed push wrote no image map");
    proxy.set_request_rate(None);
    // The proxy still reads what the kernel had buffered of the cut chunk.
    let mut last = proxy.received_bytes();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = proxy.received_bytes();
        if now == last {
            break;
        }
        last = now;
    }
    let acknowledged = journaled(&cache, digest).expect("the open session is journaled");
    assert!(
        acknowledged >= 3 * CHUNK && acknowledged < LARGE as u64,
        "{acknowledged}"
    );
    acknowledged
}

/// Pushes again to `to`, checks the result in the registry itself
/// and returns the JSON report.
fn rerun_and_check(fixture: &Fixture, reg: &Registry, to: &str, dir: &Path) -> serde_json::Value {
    let cache = dir.join("cache");
    let map = dir.join("map.json");
    let mut args = push_args(&fixture.bundle, to, &map);
    args.push("--json");
    let report = ferry_env(&cache, &[], &args).ok().json();
    // The image is whole, byte for byte, as the registry itself serves it.
    assert_eq!(
        skopeo_inspect_digest(reg, "resume/app:1.0"),
        fixture.image.manifest_digest
    );
    assert_eq!(
        skopeo_inspect_raw(reg, "resume/app:1.0"),
        fixture.image.manifest
    );
    let (digest, size) = large(fixture);
    let fetched = dir.join("layer");
    let status = Command::new("curl")
        .args(["-sf", "-o", s(&fetched)])
        .arg(format!("{}/v2/resume/app/blobs/{digest}", reg.url()))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&fetched).unwrap().len(), size);
    assert_eq!(format!("sha256:{}", sha256_file(&fetched)), digest);
    // Committed blobs leave nothing in the journal.
    let left: Vec<_> = std::fs::read_dir(cache.join("uploads-v1"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "journal entries left: {left:?}");
    report
}

/// After the kill, the rerun sends the large layer's remaining bytes only:
/// counting both runs, at most one chunk of it is sent twice.
fn assert_resumed(fixture: &Fixture, report: &serde_json::Value, acknowledged: u64, total: u64) {
    let (_, size) = large(fixture);
    assert_eq!(
        report["bytes_resumed"].as_u64(),
        Some(acknowledged),
        "{report}"
    );
    let resent = total.saturating_sub(size);
    assert!(
        resent <= CHUNK + SMALL,
        "{resent} bytes sent twice (both runs sent {total} bytes for a {size}-byte layer)"
    );
}

#[test]
fn a_push_killed_mid_blob_continues_the_open_session() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::start(RegistryOptions::plain());
    let proxy = FaultProxy::start(&reg.host());
    let acknowledged = killed_push(fixture, &proxy, dir.path());
    let first = proxy.received_bytes();
    proxy.reset_counts();
    let report = rerun_and_check(fixture, &reg, &proxy.host(), dir.path());
    let second = proxy.received_bytes();
    assert!(
        second <= large(fixture).1 - acknowledged + SMALL,
        "the rerun sent {second} bytes"
    );
    assert_resumed(fixture, &report, acknowledged, first + second);
}

#[test]
fn a_session_survives_a_registry_restart_between_the_kill_and_the_rerun() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::start(RegistryOptions::plain());
    let proxy = FaultProxy::start(&reg.host());
    let acknowledged = killed_push(fixture, &proxy, dir.path());
    reg.restart();
    let first = proxy.received_bytes();
    proxy.reset_counts();
    let report = rerun_and_check(fixture, &reg, &proxy.host(), dir.path());
    assert_resumed(
        fixture,
        &report,
        acknowledged,
        first + proxy.received_bytes(),
    );
}

#[test]
fn a_session_the_registry_forgot_is_uploaded_again_from_the_start() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::start(RegistryOptions::plain());
    let proxy = FaultProxy::start(&reg.host());
    killed_push(fixture, &proxy, dir.path());
    let uploads = reg
        .data_dir()
        .join("docker/registry/v2/repositories/resume/app/_uploads");
    assert!(uploads.is_dir(), "the killed push left a session");
    std::fs::remove_dir_all(&uploads).unwrap();
    proxy.reset_counts();
    let report = rerun_and_check(fixture, &reg, &proxy.host(), dir.path());
    assert_eq!(report["bytes_resumed"].as_u64(), Some(0), "{report}");
    let (_, size) = large(fixture);
    let second = proxy.received_bytes();
    assert!(
        second >= size && second <= size + SMALL,
        "the rerun sent {second} bytes for a {size}-byte layer"
    );
}

/// Straight to distribution, the kill leaves the cut chunk's bytes in the
/// session, so the registry refuses the saved state (and drops the session):
/// the rerun uploads the blob again, and the result is still whole.
#[test]
fn a_push_killed_straight_to_the_registry_still_completes_correctly() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::start(RegistryOptions::plain());
    let cache = dir.path().join("cache");
    let map = dir.path().join("killed-map.json");
    let to = reg.host();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(push_args(&fixture.bundle, &to, &map))
        .arg("-q")
        .env("FERRY_CACHE_DIR", &cache)
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .env("FERRY_SEED_FILE", cache.with_extension("seed"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uploads = reg
        .data_dir()
        .join("docker/registry/v2/repositories/resume/app/_uploads");
    let held = || -> u64 {
        std::fs::read_dir(&uploads)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
            .map(|m| m.len())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while held() < 3 * CHUNK {
        assert!(child.try_wait().unwrap().is_none(), "the push ended first");
        assert!(
            Instant::now() < deadline,
            "the upload never got 3 chunks in"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));

    let report = rerun_and_check(fixture, &reg, &reg.host(), dir.path());
    let (_, size) = large(fixture);
    let resumed = report["bytes_resumed"].as_u64().unwrap();
    assert!(resumed < size, "{report}");
    assert!(
        report["bytes_uploaded"].as_u64().unwrap() >= size,
        "{report}"
    );
}

/// SIGTERM (or Ctrl-C) lets the chunk in flight finish and records the
/// session, so even straight to distribution the next push continues it:
/// what the registry holds is exactly what the journal says, and the rerun
/// sends only the rest.
#[test]
fn a_push_stopped_by_sigterm_straight_to_the_registry_is_continued() {
    let fixture = fixture();
    let (digest, size) = large(fixture);
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::start(RegistryOptions::plain());
    let cache = dir.path().join("cache");
    let map = dir.path().join("stopped-map.json");
    let to = reg.host();
    let stderr = dir.path().join("stopped.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(push_args(&fixture.bundle, &to, &map))
        .arg("-q")
        .env("FERRY_CACHE_DIR", &cache)
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .env("FERRY_SEED_FILE", cache.with_extension("seed"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while journaled(&cache, digest).is_none_or(|n| n < 2 * CHUNK) {
        assert!(child.try_wait().unwrap().is_none(), "the push ended first");
        assert!(
            Instant::now() < deadline,
            "the upload never got 2 chunks in"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&stderr).unwrap();
    if status.success() {
        // The signal came after the last chunk: nothing left to continue.
        return;
    }
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("stopped on request between two chunks"),
        "{log}"
    );
    let acknowledged = journaled(&cache, digest).expect("the session is recorded");
    let uploads = reg
        .data_dir()
        .join("docker/registry/v2/repositories/resume/app/_uploads");
    let held: Vec<u64> = std::fs::read_dir(&uploads)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
        .map(|m| m.len())
        .collect();
    assert!(
        held.contains(&acknowledged),
        "the registry holds {held:?}, the journal says {acknowledged}"
    );
    let report = rerun_and_check(fixture, &reg, &reg.host(), dir.path());
    assert_eq!(
        report["bytes_resumed"].as_u64(),
        Some(acknowledged),
        "{report}"
    );
    assert!(acknowledged >= 2 * CHUNK && acknowledged < size);
}

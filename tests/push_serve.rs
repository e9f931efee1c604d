//! Integration tests of `ferry push` and `ferry serve` against real `docker-registry`
//! processes (plain, basic auth, Harbor-like token auth, TLS), a Harbor API test double, a
//! fault-injecting proxy and `skopeo`/`curl` as the independent clients.
//!
//! Two bundles are built once per test process and shared: a small one with every kind of
//! artifact (images incl. a multi-arch index and two images sharing a layer, a chart, files
//! from an HTTP server) and a large one (~300 MB of incompressible layers) for the
//! interruption tests. Both are built from a local OCI layout (`layout:` in the spec) plus an
//! HTTP chart repository and file server, under `CARGO_TARGET_TMPDIR`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod harbor_double;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{ferry, ferry_env, generate_key, lock_and_build, s, write_component, write_spec, Run};
use harbor_double::{HarborDouble, HARBOR_VERSION};
use support::images::{HELM_CHART_LAYER, HELM_CONFIG, OCI_INDEX, OCI_MANIFEST};
use support::registry::LoggedRequest;
use support::skopeo::skopeo;
use support::{
    digest_of, free_port, require_tools, sha256_file, sha256_hex, skopeo_inspect_raw, write_chart,
    write_chart_index, FaultMode, FaultProxy, HttpServer, ImageInfo, ImageSpec, IndexInfo,
    LayerSpec, OciLayoutBuilder, Registry, RegistryOptions, RequestKind, TestCerts, TOKEN_USERS,
};

// ------------------------------------------------------------------------------ fixtures

/// `CARGO_TARGET_TMPDIR/push_serve/p<pid>/<name>`, emptied; directories of test processes
/// that no longer run are removed the first time.
fn shared_dir(name: &str) -> PathBuf {
    static CLEANED: OnceLock<()> = OnceLock::new();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("push_serve");
    std::fs::create_dir_all(&root).unwrap();
    CLEANED.get_or_init(|| {
        for entry in std::fs::read_dir(&root).unwrap().flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = file_name.strip_prefix('p') else {
                continue;
            };
            if pid != std::process::id().to_string() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let dir = root.join(format!("p{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ref.name → digest` of the bundle's `index.json`, and the metadata manifest's digest.
fn bundle_index(bundle: &Path) -> (BTreeMap<String, String>, String) {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut index = None;
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if entry.size() > 1 << 20 {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if path == "index.json" {
            index = Some(bytes);
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            blobs.insert(format!("sha256:{hex}"), bytes);
        }
    }
    let index: serde_json::Value = serde_json::from_slice(&index.expect("index.json")).unwrap();
    let mut refs = BTreeMap::new();
    let mut root_digest = None;
    for m in index["manifests"].as_array().unwrap() {
        let name = m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap()
            .to_owned();
        let digest = m["digest"].as_str().unwrap().to_owned();
        if name == "ferry-bundle" {
            root_digest = Some(digest);
        } else {
            refs.insert(name, digest);
        }
    }
    let root: serde_json::Value =
        serde_json::from_slice(&blobs[&root_digest.expect("a ferry-bundle root")]).unwrap();
    let metadata = root["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["dev.ferry.kind"] == "metadata")
        .expect("a metadata manifest")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    (refs, metadata)
}

fn lock_table<'a>(lock: &'a toml::Value, table: &str) -> &'a Vec<toml::Value> {
    lock.get(table)
        .and_then(|v| v.as_array())
        .unwrap_or_else(|| panic!("no [[{table}]] in the lock:\n{lock}"))
}

fn lock_str<'a>(v: &'a toml::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("no string `{key}` in {v}"))
}

/// A file artifact of the small bundle.
struct StdFile {
    /// Its reference in the bundle (`files.ferry.local/apps/tool:1.0.0-linux-amd64`).
    reference: String,
    /// Where `serve` exposes it (`/127.0.0.1:PORT/files/tool-amd64`).
    served_path: String,
    /// Its content.
    bytes: Vec<u8>,
    /// The locked `sha256:…`.
    sha256: String,
}

/// The small bundle with every kind of artifact.
struct StdBundle {
    /// The fixture's directory (spec, lock, cache).
    root: PathBuf,
    /// The spec.
    spec: PathBuf,
    bundle: PathBuf,
    lock: toml::Value,
    layout: PathBuf,
    app: ImageInfo,
    multi: IndexInfo,
    share_a: ImageInfo,
    share_b: ImageInfo,
    /// The chart's reference in the bundle (`127.0.0.1:PORT/charts/hello:0.1.0`).
    chart: String,
    /// The chart archive's `sha256:…`.
    chart_sha256: String,
    files: Vec<StdFile>,
    /// `ref.name → digest` of the bundle's index.
    index: BTreeMap<String, String>,
    /// Digest of the metadata manifest.
    metadata: String,
}

const APP: &str = "docker.io/library/app:1.0";
const MULTI: &str = "quay.io/org/multi:2.0";
const SHARE_A: &str = "docker.io/library/share-a:1";
const SHARE_B: &str = "registry.k8s.io/team/share-b:1";
const METADATA: &str = "ferry-bundle/std:1.0.0";

impl StdBundle {
    /// The locked digest of an image.
    fn locked_image(&self, reference: &str) -> String {
        lock_table(&self.lock, "image")
            .iter()
            .find(|i| lock_str(i, "reference") == reference)
            .map(|i| lock_str(i, "digest").to_owned())
            .unwrap_or_else(|| panic!("no image {reference} in the lock"))
    }

    /// `original → (target repository:tag without host, digest, kind)` for a push with
    /// path prefix `prefix` ("" or "platform/").
    fn expected_map(&self, prefix: &str) -> BTreeMap<String, (String, String, String)> {
        let mut map = BTreeMap::new();
        for (original, repo) in [
            (APP, "library/app:1.0"),
            (MULTI, "org/multi:2.0"),
            (SHARE_A, "library/share-a:1"),
            (SHARE_B, "team/share-b:1"),
        ] {
            map.insert(
                original.to_owned(),
                (
                    format!("{prefix}{repo}"),
                    self.locked_image(original),
                    "image".to_owned(),
                ),
            );
        }
        map.insert(
            self.chart.clone(),
            (
                format!("{prefix}charts/hello:0.1.0"),
                self.index[&self.chart].clone(),
                "chart".to_owned(),
            ),
        );
        for file in &self.files {
            let repo = file.reference.trim_start_matches("files.ferry.local/");
            map.insert(
                file.reference.clone(),
                (
                    format!("{prefix}{repo}"),
                    self.index[&file.reference].clone(),
                    "file".to_owned(),
                ),
            );
        }
        map.insert(
            METADATA.to_owned(),
            (
                format!("{prefix}{METADATA}"),
                self.metadata.clone(),
                "metadata".to_owned(),
            ),
        );
        map
    }

    /// Bytes of a blob of the upstream layout.
    fn layout_blob(&self, digest: &str) -> Vec<u8> {
        std::fs::read(
            self.layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    }
}

/// Builds (once per process) the small bundle.
fn std_bundle() -> &'static StdBundle {
    static BUNDLE: OnceLock<StdBundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        require_tools();
        let root = shared_dir("std");
        let layout = root.join("upstream/layout");
        let mut builder = OciLayoutBuilder::new(&layout);
        let app = builder.add_image(
            Some(APP),
            &ImageSpec::new(vec![
                LayerSpec::new(1, 16 * 1024),
                LayerSpec::random(2, 256 * 1024),
            ]),
        );
        let multi = builder.add_multi_arch(Some(MULTI), 10, 24 * 1024);
        let shared = LayerSpec::random(30, 512 * 1024);
        let share_a = builder.add_image(
            Some(SHARE_A),
            &ImageSpec::new(vec![shared, LayerSpec::new(31, 4096)]).label("app", "a"),
        );
        let share_b = builder.add_image(
            Some(SHARE_B),
            &ImageSpec::new(vec![shared, LayerSpec::new(32, 4096)]).label("app", "b"),
        );

        let www = root.join("www");
        let chart = write_chart(
            &www.join("charts"),
            "hello",
            "0.1.0",
            &[(
                "configmap.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n",
            )],
            "replicas: 1\n",
        );
        write_chart_index(&www.join("charts"), "", std::slice::from_ref(&chart));
        std::fs::create_dir_all(www.join("files")).unwrap();
        let tool = |arch: &str| -> Vec<u8> {
            (0..200)
                .map(|i| format!("#!/bin/sh\n# tool for {arch}, line {i}\n"))
                .collect::<String>()
                .into_bytes()
        };
        let (tool_amd64, tool_arm64) = (tool("amd64"), tool("arm64"));
        let notes = b"release notes: not pinned in the manifest, hashed by lock\n".to_vec();
        std::fs::write(www.join("files/tool-amd64"), &tool_amd64).unwrap();
        std::fs::write(www.join("files/tool-arm64"), &tool_arm64).unwrap();
        std::fs::write(www.join("files/notes.txt"), &notes).unwrap();
        // A file kubespray knows by name (`kubectl_download_url`).
        let kubectl = |arch: &str| -> Vec<u8> { format!("kubectl for {arch}\n").repeat(20).into_bytes() };
        let (kubectl_amd64, kubectl_arm64) = (kubectl("amd64"), kubectl("arm64"));
        for (arch, bytes) in [("amd64", &kubectl_amd64), ("arm64", &kubectl_arm64)] {
            let dir = www.join(format!("release/v1.32.5/bin/linux/{arch}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("kubectl"), bytes).unwrap();
        }
        let http = HttpServer::serve_dir(&www);

        write_component(
            &root,
            "apps",
            "1.0.0",
            &format!(
                "images:\n  - ref: {APP}\n    layout: ../../upstream/layout\n  - ref: {MULTI}\n    layout: ../../upstream/layout\n  - ref: {SHARE_A}\n    layout: ../../upstream/layout\n  - ref: {SHARE_B}\n    layout: ../../upstream/layout\ncharts:\n  - {{name: hello, version: 0.1.0, repo: {url}/charts}}\nfiles:\n  - name: tool\n    url: {url}/files/tool-{{arch}}\n    sha256:\n      amd64: {a}\n      arm64: {b}\n  - name: notes\n    url: {url}/files/notes.txt\n  - name: kubectl\n    url: {url}/release/v1.32.5/bin/linux/{{arch}}/kubectl\n",
                url = http.url(),
                a = sha256_hex(&tool_amd64),
                b = sha256_hex(&tool_arm64),
            ),
        );
        let spec = write_spec(&root, "std", "apps");
        let bundle = root.join("std.tar");
        let lock = lock_and_build(&root, &spec, "std", &bundle);
        let host = http.host();
        drop(http);
        let (index, metadata) = bundle_index(&bundle);
        let chart_sha256 = format!("sha256:{}", chart.sha256);
        assert_eq!(
            lock_str(&lock_table(&lock, "chart")[0], "sha256"),
            chart_sha256
        );
        let files = [
            ("tool:1.0.0-linux-amd64", "files/tool-amd64", tool_amd64),
            ("tool:1.0.0-linux-arm64", "files/tool-arm64", tool_arm64),
            ("notes:1.0.0", "files/notes.txt", notes),
            (
                "kubectl:1.0.0-linux-amd64",
                "release/v1.32.5/bin/linux/amd64/kubectl",
                kubectl_amd64,
            ),
            (
                "kubectl:1.0.0-linux-arm64",
                "release/v1.32.5/bin/linux/arm64/kubectl",
                kubectl_arm64,
            ),
        ]
        .into_iter()
        .map(|(tag, file, bytes)| {
            let url = format!("http://{host}/{file}");
            let locked = lock_table(&lock, "file")
                .iter()
                .find(|f| lock_str(f, "url") == url)
                .unwrap_or_else(|| panic!("no file {url} in the lock:\n{lock}"));
            assert_eq!(lock_str(locked, "sha256"), digest_of(&bytes));
            StdFile {
                reference: format!("files.ferry.local/apps/{tag}"),
                served_path: format!("/{host}/{file}"),
                sha256: lock_str(locked, "sha256").to_owned(),
                bytes,
            }
        })
        .collect();
        let chart_ref = format!("{host}/charts/hello:0.1.0");
        assert!(
            index.contains_key(&chart_ref),
            "the chart is carried as {chart_ref}: {index:?}"
        );
        let fixture = StdBundle {
            chart: chart_ref,
            root: root.clone(),
            spec: spec.clone(),
            bundle,
            lock,
            layout,
            app,
            multi,
            share_a,
            share_b,
            chart_sha256,
            files,
            index,
            metadata,
        };
        for reference in [APP, MULTI, SHARE_A, SHARE_B] {
            assert_eq!(
                fixture.index[reference],
                fixture.locked_image(reference),
                "the bundle carries {reference} at its locked digest"
            );
        }
        assert_eq!(fixture.locked_image(APP), fixture.app.manifest_digest);
        assert_eq!(fixture.locked_image(MULTI), fixture.multi.index_digest);
        fixture
    })
}

/// The large bundle: four images with a 72 MiB incompressible layer each.
struct BigBundle {
    dir: PathBuf,
    bundle: PathBuf,
    /// (reference, image).
    images: Vec<(String, ImageInfo)>,
}

impl BigBundle {
    /// Digest → size of the 72 MiB layers.
    fn large_layer_sizes(&self) -> BTreeMap<String, u64> {
        self.images
            .iter()
            .map(|(_, info)| (info.layers[0].digest.clone(), info.layers[0].size))
            .collect()
    }
}

impl BigLease {
    fn large_layers(&self) -> BTreeSet<String> {
        self.0.large_layer_sizes().into_keys().collect()
    }
}

/// Tests that use the large bundle; the last one to finish deletes it.
const BIG_BUNDLE_USERS: usize = 2;
static BIG_USERS_LEFT: AtomicUsize = AtomicUsize::new(BIG_BUNDLE_USERS);

/// A use of the large bundle; when the last user is done, its directory is deleted.
struct BigLease(&'static BigBundle);

impl Drop for BigLease {
    fn drop(&mut self) {
        if BIG_USERS_LEFT.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = std::fs::remove_dir_all(&self.0.dir);
        }
    }
}

fn big_bundle() -> BigLease {
    static BUNDLE: OnceLock<BigBundle> = OnceLock::new();
    let bundle = BUNDLE.get_or_init(|| {
        require_tools();
        let root = shared_dir("big");
        let layout = root.join("upstream/layout");
        let mut builder = OciLayoutBuilder::new(&layout);
        let mut images = Vec::new();
        let mut body = String::from("images:\n");
        for i in 0..4u64 {
            let reference = format!("registry.example/big/app{i}:1.0");
            let info = builder.add_image(
                Some(&reference),
                &ImageSpec::new(vec![
                    LayerSpec::random(500 + i, 72 << 20),
                    LayerSpec::new(600 + i, 8 * 1024),
                ]),
            );
            body.push_str(&format!(
                "  - ref: {reference}\n    layout: ../../upstream/layout\n"
            ));
            images.push((reference, info));
        }
        write_component(&root, "big", "1.0.0", &body);
        let spec = write_spec(&root, "big", "big");
        let bundle = root.join("big.tar");
        let lock = lock_and_build(&root, &spec, "big", &bundle);
        for (reference, info) in &images {
            let locked = lock_table(&lock, "image")
                .iter()
                .find(|i| lock_str(i, "reference") == reference)
                .unwrap();
            assert_eq!(lock_str(locked, "digest"), info.manifest_digest);
        }
        // Only the archive is needed from here on.
        let _ = std::fs::remove_dir_all(root.join("upstream"));
        let _ = std::fs::remove_dir_all(root.join("cache"));
        BigBundle {
            dir: root,
            bundle,
            images,
        }
    });
    BigLease(bundle)
}

// ------------------------------------------------------------------------------ helpers

/// A temp dir for one test.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferry-push-serve-")
        .tempdir()
        .unwrap()
}

/// `$DOCKER_CONFIG/config.json` with credentials for `host`; returns the directory.
fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    let config_dir = dir.join(format!("docker-{user}-{}", sha256_hex(password.as_bytes())));
    std::fs::create_dir_all(&config_dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { host: { "auth": auth } } });
    std::fs::write(config_dir.join("config.json"), json.to_string()).unwrap();
    config_dir
}

/// The `ferry` binary with a private cache and extra environment, as `common::ferry_env`.
fn ferry_command(cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(args)
        .env("FERRY_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DOCKER_CONFIG", cache.join("no-docker-config"));
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// `ferry push BUNDLE --to TO --insecure-skip-signature --image-map MAP --json EXTRA…`.
fn push(
    dir: &Path,
    env: &[(&str, &str)],
    bundle: &Path,
    to: &str,
    map: &Path,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        "push",
        s(bundle),
        "--to",
        to,
        "--insecure-skip-signature",
        "--image-map",
        s(map),
        "--json",
    ];
    args.extend_from_slice(extra);
    ferry_env(&dir.join("cache"), env, &args)
}

/// One row of an image map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MapRow {
    original: String,
    target: String,
    digest: String,
    kind: String,
}

fn read_map(path: &Path) -> Vec<MapRow> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no image map at {}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| MapRow {
            original: row["original"].as_str().unwrap().to_owned(),
            target: row["target"].as_str().unwrap().to_owned(),
            digest: row["digest"].as_str().unwrap().to_owned(),
            kind: row["kind"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// `skopeo copy [--all] docker://<reg>/<reference> dir:<dest>`; returns the top manifest's digest.
fn skopeo_copy_to_dir(reg: &Registry, reference: &str, dest: &Path, all: bool) -> String {
    let mut cmd = skopeo();
    cmd.arg("copy");
    if all {
        cmd.arg("--all");
    }
    cmd.args(reg.skopeo_args("src-"));
    cmd.arg(format!("docker://{}/{reference}", reg.host()));
    cmd.arg(format!("dir:{}", dest.display()));
    support::run_ok(&mut cmd);
    digest_of(&std::fs::read(dest.join("manifest.json")).unwrap())
}

/// Checks a push of the small bundle: the image map is exactly the expected one (targets under
/// `pushed_host/prefix`, digests = locked/bundle digests), every target resolves in `reg` to its
/// digest, the multi-arch image copies with `--all`, the chart is a Helm OCI artifact, and each
/// file artifact pulls back with its locked sha256. Returns the map.
fn check_std_push(
    fx: &StdBundle,
    reg: &Registry,
    pushed_host: &str,
    prefix: &str,
    map_path: &Path,
    scratch: &Path,
) -> Vec<MapRow> {
    let map = read_map(map_path);
    let mut actual: Vec<MapRow> = map.clone();
    actual.sort();
    let mut expected: Vec<MapRow> = fx
        .expected_map(prefix)
        .into_iter()
        .map(|(original, (target, digest, kind))| MapRow {
            original,
            target: format!("{pushed_host}/{target}"),
            digest,
            kind,
        })
        .collect();
    expected.sort();
    assert_eq!(actual, expected, "the image map");

    let strip = |target: &str| -> String {
        target
            .strip_prefix(&format!("{pushed_host}/"))
            .unwrap()
            .to_owned()
    };
    for row in &map {
        let raw = skopeo_inspect_raw(reg, &strip(&row.target));
        assert_eq!(
            digest_of(&raw),
            row.digest,
            "skopeo inspect --raw {} (original {})",
            row.target,
            row.original
        );
    }
    let target_of = |original: &str| -> String {
        strip(
            &map.iter()
                .find(|r| r.original == original)
                .unwrap_or_else(|| panic!("{original} is not in the map"))
                .target,
        )
    };

    // The multi-arch image: the whole index with both platforms.
    let multi_dir = scratch.join("multi-all");
    let copied = skopeo_copy_to_dir(reg, &target_of(MULTI), &multi_dir, true);
    assert_eq!(
        copied, fx.multi.index_digest,
        "skopeo copy --all of {MULTI}"
    );
    for image in &fx.multi.images {
        let manifest = multi_dir.join(format!(
            "{}.manifest.json",
            image.manifest_digest.trim_start_matches("sha256:")
        ));
        assert_eq!(
            digest_of(
                &std::fs::read(&manifest)
                    .unwrap_or_else(|e| panic!("no {} after copy --all: {e}", manifest.display()))
            ),
            image.manifest_digest
        );
    }

    // The chart: a Helm OCI artifact whose layer is the locked archive.
    let chart_target = target_of(&fx.chart);
    let chart: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect_raw(reg, &chart_target)).unwrap();
    assert_eq!(chart["config"]["mediaType"], HELM_CONFIG, "{chart}");
    assert_eq!(chart["layers"][0]["mediaType"], HELM_CHART_LAYER, "{chart}");
    assert_eq!(chart["layers"][0]["digest"], fx.chart_sha256.as_str());
    let chart_dir = scratch.join("chart");
    skopeo_copy_to_dir(reg, &chart_target, &chart_dir, false);
    let hex = fx.chart_sha256.trim_start_matches("sha256:");
    assert_eq!(
        sha256_file(chart_dir.join(hex)),
        hex,
        "the pulled chart archive"
    );

    // Files: pulled back, the layer is the file, by its locked sha256.
    for file in &fx.files {
        let dest = scratch.join(file.reference.replace(['/', ':'], "_"));
        skopeo_copy_to_dir(reg, &target_of(&file.reference), &dest, false);
        let hex = file.sha256.trim_start_matches("sha256:");
        let layer = dest.join(hex);
        assert!(
            layer.is_file(),
            "{}: no layer {hex} pulled back",
            file.reference
        );
        assert_eq!(sha256_file(&layer), hex);
        assert_eq!(std::fs::read(&layer).unwrap(), file.bytes);
    }
    map
}

/// The `digest=` of each completed (201) blob upload `PUT` in a registry log.
fn completed_uploads(requests: &[LoggedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method == "PUT" && r.status == 201 && r.uri.contains("/blobs/uploads/"))
        .filter_map(|r| query_value(&r.uri, "digest"))
        .collect()
}

/// The `mount=` digest and repository of each successful (201) cross-repository mount.
fn completed_mounts(requests: &[LoggedRequest]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|r| RequestKind::BlobMount.matches(r) && r.status == 201)
        .map(|r| {
            let repo = r
                .uri
                .trim_start_matches("/v2/")
                .split("/blobs/uploads/")
                .next()
                .unwrap()
                .to_owned();
            (query_value(&r.uri, "mount").unwrap(), repo)
        })
        .collect()
}

fn query_value(uri: &str, key: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Requests that write to the registry (upload start/chunk/finish, mount, manifest put).
fn writes(requests: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    requests
        .iter()
        .filter(|r| {
            RequestKind::BlobUploadPost.matches(r)
                || RequestKind::BlobUploadPatch.matches(r)
                || RequestKind::BlobUploadPut.matches(r)
                || RequestKind::ManifestPut.matches(r)
        })
        .collect()
}

/// A successful `ferry push` of the small bundle to a fresh registry, then the full check.
fn push_std_and_check(
    reg: &Registry,
    env_for: impl Fn(&Path) -> Vec<(String, String)>,
    extra: &[&str],
) {
    let fx = std_bundle();
    let dir = scratch();
    let env = env_for(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let map_path = dir.path().join("image-map.json");
    let report = push(dir.path(), &env, &fx.bundle, &reg.host(), &map_path, extra)
        .ok()
        .json();
    assert_eq!(report["target"], reg.host().as_str());
    assert_eq!(report["harbor"], false);
    assert!(report["blobs_uploaded"].as_u64().unwrap() > 0, "{report}");
    let map = check_std_push(fx, reg, &reg.host(), "", &map_path, dir.path());
    assert_eq!(
        report["map"].as_array().unwrap().len(),
        map.len(),
        "the --json report carries the same map"
    );
}

/// Spawned `ferry push` (for interruption tests); killed on drop.
struct PushChild {
    child: Child,
    stderr: PathBuf,
}

impl PushChild {
    fn spawn(dir: &Path, bundle: &Path, to: &str, map: &Path, extra: &[&str]) -> PushChild {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let stderr = dir.join(format!(
            "push-{}.stderr",
            RUNS.fetch_add(1, Ordering::SeqCst)
        ));
        let mut args = vec![
            "push",
            s(bundle),
            "--to",
            to,
            "--insecure-skip-signature",
            "--image-map",
            s(map),
            "-q",
        ];
        args.extend_from_slice(extra);
        let child = ferry_command(&dir.join("cache"), &[], &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        PushChild { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for PushChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the registry log until at least `n` blob uploads completed, one of them a blob of
/// `large`; panics if the push ends first.
fn wait_for_completed_uploads(
    reg: &Registry,
    push: &mut PushChild,
    n: usize,
    large: &BTreeSet<String>,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(reg.log_path()).unwrap_or_default();
        let requests: Vec<LoggedRequest> = text
            .lines()
            .filter_map(support::registry::parse_access_line)
            .collect();
        let done = completed_uploads(&requests);
        if done.len() >= n && done.iter().any(|d| large.contains(d)) {
            return;
        }
        if let Some(status) = push.child.try_wait().unwrap() {
            panic!(
                "the push ended ({status}) before it could be interrupted:\n{}",
                push.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {n} completed uploads (one large) within 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// HEAD of a blob in the registry (plain HTTP, anonymous): its Content-Length if present.
fn registry_blob_length(reg: &Registry, repository: &str, digest: &str) -> Option<u64> {
    let reply = http(
        &reg.host(),
        "HEAD",
        &format!("/v2/{repository}/blobs/{digest}"),
        &[],
    );
    (reply.status == 200).then(|| reply.header("content-length").unwrap().parse().unwrap())
}

// ------------------------------------------------------------------------------ raw HTTP

/// A parsed HTTP response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One plain-HTTP request with the target sent exactly as given (no normalisation).
fn http(host: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let head = support::http::read_head(&mut reader)
        .unwrap_or_else(|| panic!("no HTTP response to {method} {target}"));
    let status = head
        .start_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if head.is_chunked() {
        support::http::read_chunked(&mut reader).unwrap()
    } else if let Some(n) = head.content_length() {
        let mut body = vec![0u8; n as usize];
        reader.read_exact(&mut body).unwrap();
        body
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).unwrap();
        body
    };
    Reply {
        status,
        headers: head.headers,
        body,
    }
}

/// `curl -sS` with a time limit.
fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30"]);
    c
}

// ------------------------------------------------------------------------------ serve

/// A running `ferry serve`; killed on drop.
struct Served {
    child: Child,
    port: u16,
    tls: bool,
    _logs: tempfile::TempDir,
    stderr: PathBuf,
}

impl Served {
    /// Starts `ferry serve BUNDLE --listen 127.0.0.1:PORT --insecure-skip-signature EXTRA…`
    /// and waits until `/v2/` answers (any HTTP status).
    fn start(bundle: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
        let tls = extra.contains(&"--tls-cert");
        let mut last = String::new();
        for _attempt in 0..3 {
            let logs = scratch();
            let port = free_port();
            let listen = format!("127.0.0.1:{port}");
            let stderr = logs.path().join("serve.stderr");
            let mut args = vec![
                "serve",
                s(bundle),
                "--listen",
                &listen,
                "--insecure-skip-signature",
            ];
            args.extend_from_slice(extra);
            let child = ferry_command(&logs.path().join("cache"), env, &args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap();
            let mut served = Served {
                child,
                port,
                tls,
                _logs: logs,
                stderr,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = served.child.try_wait().unwrap() {
                    last = format!(
                        "ferry serve exited ({status}):\n{}",
                        std::fs::read_to_string(&served.stderr).unwrap_or_default()
                    );
                    break;
                }
                let code = curl()
                    .args(["-k", "-o", "/dev/null", "-w", "%{http_code}"])
                    .arg(format!("{}/v2/", served.url()))
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&code.stdout).trim() != "000" {
                    return served;
                }
                assert!(
                    Instant::now() < deadline,
                    "ferry serve did not answer within 30 s:\n{}",
                    std::fs::read_to_string(&served.stderr).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("ferry serve did not start: {last}");
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.host()
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo inspect --raw` of `docker://<host>/<reference>` with extra flags; the digest.
fn skopeo_raw_digest(host: &str, reference: &str, flags: &[&str]) -> String {
    let mut cmd = skopeo();
    cmd.args(["inspect", "--raw"]).args(flags);
    cmd.arg(format!("docker://{host}/{reference}"));
    let out = support::run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        support::failure_message(&cmd, &out)
    );
    digest_of(&out.stdout)
}

/// The digest `oci:<dir>` records for `name` in its index.json.
fn oci_layout_digest(dir: &Path, name: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {}", dir.display()))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

// ============================================================================== 1. targets

#[test]
fn push_to_a_plain_registry() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    push_std_and_check(&reg, |_| Vec::new(), &[]);
}

#[test]
fn push_to_a_basic_auth_registry() {
    require_tools();
    let reg = Registry::start(RegistryOptions::basic("alice", "s3cret-pass"));
    let host = reg.host();
    push_std_and_check(
        &reg,
        |dir| {
            let config = docker_config(dir, &host, "alice", "s3cret-pass");
            vec![("DOCKER_CONFIG".to_owned(), s(&config).to_owned())]
        },
        &[],
    );
}

#[test]
fn push_to_a_token_auth_registry() {
    require_tools();
    let reg = Registry::start(RegistryOptions::token());
    let host = reg.host();
    let (user, password, _) = TOKEN_USERS[0];
    assert_eq!((user, password), ("ferry", "ferry-pass"));
    push_std_and_check(
        &reg,
        |dir| {
            let config = docker_config(dir, &host, user, password);
            vec![("DOCKER_CONFIG".to_owned(), s(&config).to_owned())]
        },
        &[],
    );
    let token_log = std::fs::read_to_string(reg.token_log_path().unwrap()).unwrap();
    assert!(
        token_log.contains("GRANT sub='ferry'") && token_log.contains("push"),
        "ferry pushed with tokens from the token service:\n{token_log}"
    );
}

#[test]
fn push_to_a_tls_registry_with_ca_cert() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain().with_tls());
    let ca = reg.ca_cert_path().unwrap().to_owned();
    push_std_and_check(&reg, |_| Vec::new(), &["--ca-cert", s(&ca)]);

    // Without the CA the certificate is not trusted: a clear error and no image map.
    let fx = std_bundle();
    let dir = scratch();
    let map = dir.path().join("image-map.json");
    let run = push(dir.path(), &[], &fx.bundle, &reg.host(), &map, &[]).failed();
    assert!(run.stderr.contains(&reg.host()), "{}", run.stderr);
    assert!(!map.exists(), "a failed push writes no image map");
}

// ============================================================================== 2. Harbor

#[test]
fn push_to_harbor_creates_projects_once_and_resumes_to_nothing() {
    require_tools();
    let fx = std_bundle();
    let reg = Registry::start(RegistryOptions::token());
    let harbor = HarborDouble::start(
        &reg.host(),
        &[("ferry", "ferry-pass"), ("admin", "Harbor12345")],
        reg.realm(),
    );
    // The double answers like Harbor: the version only for an authenticated caller.
    let anonymous = http(&harbor.host(), "GET", "/api/v2.0/systeminfo", &[]);
    assert_eq!(anonymous.status, 200);
    assert!(!String::from_utf8_lossy(&anonymous.body).contains("harbor_version"));
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ferry:ferry-pass")
    );
    let known = http(
        &harbor.host(),
        "GET",
        "/api/v2.0/systeminfo",
        &[("Authorization", &basic)],
    );
    let info: serde_json::Value = serde_json::from_slice(&known.body).unwrap();
    assert_eq!(info["harbor_version"], HARBOR_VERSION);

    let probes = harbor.api_calls().len();

    let dir = scratch();
    let config = docker_config(dir.path(), &harbor.host(), "ferry", "ferry-pass");
    let env = [("DOCKER_CONFIG", s(&config))];
    let to = format!("{}/platform", harbor.host());

    // First push: Harbor detected (systeminfo with credentials), the project created once.
    let map_path = dir.path().join("image-map.json");
    let report = push(dir.path(), &env, &fx.bundle, &to, &map_path, &[])
        .ok()
        .json();
    assert_eq!(report["harbor"], true, "{report}");
    assert_eq!(report["projects_created"], serde_json::json!(["platform"]));
    assert_eq!(harbor.project_posts(), 1, "{:?}", harbor.api_calls());
    assert!(harbor.projects().contains(&"platform".to_owned()));
    let systeminfo = harbor.api_calls()[probes..]
        .iter()
        .find(|c| c.target == "/api/v2.0/systeminfo")
        .cloned()
        .expect("ferry asked systeminfo");
    assert_eq!(
        systeminfo.user.as_deref(),
        Some("ferry"),
        "detection sends the credentials (anonymous systeminfo has no harbor_version)"
    );
    check_std_push(fx, &reg, &harbor.host(), "platform/", &map_path, dir.path());
    assert!(
        harbor
            .registry_calls()
            .iter()
            .any(|c| c.method == "PUT" && c.target.contains("/manifests/")),
        "manifests went through the Harbor endpoint"
    );
    assert!(
        harbor
            .registry_calls()
            .iter()
            .any(|c| c.method == "PATCH" && c.status == 202),
        "upload sessions came back through the Harbor endpoint (Location rewritten)"
    );
    let uploads_before = reg.count(RequestKind::BlobUploadCompleted);
    let manifests_before = reg.count(RequestKind::ManifestPut);
    let heads_before = harbor.count_api("HEAD", "/api/v2.0/projects");

    // Second push: nothing created, nothing uploaded.
    let map2 = dir.path().join("image-map-2.json");
    let again = push(dir.path(), &env, &fx.bundle, &to, &map2, &[])
        .ok()
        .json();
    assert_eq!(again["harbor"], true);
    assert_eq!(again["projects_created"], serde_json::json!([]));
    assert_eq!(harbor.project_posts(), 1, "{:?}", harbor.api_calls());
    assert_eq!(
        harbor.count_api("HEAD", "/api/v2.0/projects"),
        heads_before + 1,
        "the project's existence is checked, not re-created"
    );
    assert_eq!(again["blobs_uploaded"], 0, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
    assert_eq!(
        reg.count(RequestKind::BlobUploadCompleted),
        uploads_before,
        "no blob upload completed on the re-run"
    );
    assert_eq!(reg.count(RequestKind::ManifestPut), manifests_before);
    assert_eq!(read_map(&map2), read_map(&map_path));

    // Without the project API the push cannot land: Harbor refuses a missing project.
    let map_fresh = dir.path().join("image-map-fresh.json");
    let run = push(
        dir.path(),
        &env,
        &fx.bundle,
        &format!("{}/fresh", harbor.host()),
        &map_fresh,
        &["--no-harbor"],
    )
    .failed();
    assert!(
        run.stderr.contains("authentication to") && run.stderr.contains("/fresh/library/"),
        "{}",
        run.stderr
    );
    assert!(!map_fresh.exists());
    assert_eq!(harbor.project_posts(), 1);

    // Wrong credentials: a clear authentication error, no project, nothing written.
    let wrong = docker_config(dir.path(), &harbor.host(), "ferry", "not-the-password");
    let wrong_env = [("DOCKER_CONFIG", s(&wrong))];
    let to_other = format!("{}/other", harbor.host());
    let logged_before = reg.requests().len();
    let mut unclear = Vec::new();
    for extra in [&[][..], &["--harbor"][..]] {
        let map3 = dir.path().join("image-map-3.json");
        let run = push(dir.path(), &wrong_env, &fx.bundle, &to_other, &map3, extra).failed();
        assert_eq!(run.status, 1, "{}", run.stderr);
        assert!(!map3.exists(), "no image map after a failed push");
        // Checked last: the message must say that authentication failed, and where.
        let lower = run.stderr.to_lowercase();
        if !(lower.contains("authentication") || lower.contains("credentials"))
            || !run.stderr.contains(&harbor.host())
        {
            unclear.push(format!("ferry push {extra:?}:\n{}", run.stderr));
        }
    }
    assert_eq!(harbor.project_posts(), 1, "{:?}", harbor.api_calls());
    assert!(!harbor.projects().contains(&"other".to_owned()));
    assert!(
        writes(&reg.requests()[logged_before..]).is_empty(),
        "nothing was written with wrong credentials"
    );
    assert!(
        unclear.is_empty(),
        "rejected credentials must be reported as an authentication failure naming {}:\n{}",
        harbor.host(),
        unclear.join("\n")
    );
}

// ============================================================================== 3. efficiency

#[test]
fn shared_layers_are_mounted_and_a_repush_transfers_nothing() {
    require_tools();
    let fx = std_bundle();
    let reg = Registry::start(RegistryOptions::plain());
    let dir = scratch();
    let map_path = dir.path().join("image-map.json");
    let report = push(dir.path(), &[], &fx.bundle, &reg.host(), &map_path, &[])
        .ok()
        .json();
    check_std_push(fx, &reg, &reg.host(), "", &map_path, dir.path());
    let requests = reg.requests();

    // Every unique blob is uploaded once, and only once.
    let uploads = completed_uploads(&requests);
    let unique: BTreeSet<&String> = uploads.iter().collect();
    assert_eq!(
        unique.len(),
        uploads.len(),
        "a blob was uploaded twice: {uploads:?}"
    );
    assert_eq!(
        report["blobs_uploaded"].as_u64().unwrap() as usize,
        uploads.len()
    );

    // The layer the two images share reaches the second repository by a mount.
    let shared = &fx.share_a.layers[0].digest;
    assert_eq!(shared, &fx.share_b.layers[0].digest);
    assert_eq!(uploads.iter().filter(|d| *d == shared).count(), 1);
    let mounts = completed_mounts(&requests);
    assert!(!mounts.is_empty(), "no mount in the registry log");
    assert_eq!(
        report["blobs_mounted"].as_u64().unwrap() as usize,
        mounts.len(),
        "the report's blobs_mounted agrees with the registry log: {mounts:?}"
    );
    let shared_mounts: Vec<&(String, String)> =
        mounts.iter().filter(|(d, _)| d == shared).collect();
    assert_eq!(shared_mounts.len(), 1, "{mounts:?}");
    assert!(
        ["library/share-a", "team/share-b"].contains(&shared_mounts[0].1.as_str()),
        "{mounts:?}"
    );
    // The multi-arch image's common layer lives in one repository: uploaded once, not mounted.
    let multi_shared = &fx.multi.images[0].layers[0].digest;
    assert_eq!(multi_shared, &fx.multi.images[1].layers[0].digest);
    assert_eq!(uploads.iter().filter(|d| *d == multi_shared).count(), 1);
    assert!(mounts.iter().all(|(d, _)| d != multi_shared));
    // No byte of a mounted blob was sent.
    let patched: usize = requests
        .iter()
        .filter(|r| RequestKind::BlobUploadPatch.matches(r))
        .count();
    assert!(patched >= uploads.len());

    // Everything is there: a re-push transfers nothing and writes nothing.
    let before = requests.len();
    let map2 = dir.path().join("image-map-2.json");
    let again = push(dir.path(), &[], &fx.bundle, &reg.host(), &map2, &[])
        .ok()
        .json();
    assert_eq!(again["blobs_uploaded"], 0, "{again}");
    assert_eq!(again["bytes_uploaded"], 0, "{again}");
    assert_eq!(again["blobs_mounted"], 0, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
    assert_eq!(
        again["artifacts_skipped"].as_u64().unwrap() as usize,
        read_map(&map2).len(),
        "{again}"
    );
    let after = reg.requests();
    let new_writes = writes(&after[before..]);
    assert!(
        new_writes.is_empty(),
        "the re-push wrote to the registry: {new_writes:?}"
    );
    assert_eq!(read_map(&map2), read_map(&map_path));
}

#[test]
fn a_blob_already_in_another_repository_is_mounted_not_uploaded_again() {
    require_tools();
    let fx = std_bundle();
    // A first bundle carries only share-a; the registry then holds the shared layer there.
    let dir = scratch();
    write_component(
        dir.path(),
        "sub",
        "1.0.0",
        &format!(
            "images:\n  - ref: {SHARE_A}\n    layout: {}\n",
            fx.layout.display()
        ),
    );
    let spec = write_spec(dir.path(), "sub", "sub");
    let sub = dir.path().join("sub.tar");
    lock_and_build(dir.path(), &spec, "sub", &sub);
    let reg = Registry::start(RegistryOptions::plain());
    let map1 = dir.path().join("image-map-1.json");
    push(dir.path(), &[], &sub, &reg.host(), &map1, &[]).ok();
    let shared = &fx.share_b.layers[0].digest;
    assert_eq!(
        registry_blob_length(&reg, "library/share-a", shared),
        Some(fx.share_b.layers[0].size)
    );

    // The full bundle: share-a is complete; share-b needs the shared layer in its repository.
    let before = reg.requests().len();
    let map2 = dir.path().join("image-map-2.json");
    let report = push(dir.path(), &[], &fx.bundle, &reg.host(), &map2, &[])
        .ok()
        .json();
    check_std_push(fx, &reg, &reg.host(), "", &map2, dir.path());
    assert_eq!(
        report["artifacts_skipped"], 1,
        "share-a was complete: {report}"
    );
    let requests = reg.requests();
    let uploaded = completed_uploads(&requests[before..]);
    let mounted = completed_mounts(&requests[before..]);
    let shared_mounts: Vec<&String> = mounted
        .iter()
        .filter(|(d, _)| d == shared)
        .map(|(_, repo)| repo)
        .collect();
    assert!(
        !uploaded.contains(shared) && shared_mounts == ["team/share-b"],
        "the layer {shared} already in library/share-a must reach team/share-b by a mount; \
         uploaded again: {}, mounted into: {shared_mounts:?}",
        uploaded.contains(shared)
    );
}

#[test]
fn two_registries_with_the_same_repository() {
    require_tools();
    let fx = std_bundle();
    let dir = scratch();
    // docker.io/library/app and quay.io/library/app: different images, one repository path.
    write_component(
        dir.path(),
        "twins",
        "1.0.0",
        &format!(
            "images:\n  - ref: {APP}\n    layout: {layout}\n  - ref: quay.io/library/app:1.0\n    layout: {layout}\n    sourceRef: {SHARE_A}\n",
            layout = fx.layout.display()
        ),
    );
    let spec = write_spec(dir.path(), "twins", "twins");
    let twins = dir.path().join("twins.tar");
    lock_and_build(dir.path(), &spec, "twins", &twins);
    let (docker_digest, quay_digest) = (&fx.app.manifest_digest, &fx.share_a.manifest_digest);

    // Push: refused as a collision, unless the registry is kept as a path segment.
    let reg = Registry::start(RegistryOptions::plain());
    let map = dir.path().join("image-map.json");
    let run = push(dir.path(), &[], &twins, &reg.host(), &map, &[]).failed();
    assert!(
        run.stderr.contains("both map to") && run.stderr.contains("--keep-registry"),
        "{}",
        run.stderr
    );
    assert!(!map.exists());
    assert!(
        writes(&reg.requests()).is_empty(),
        "a refused push writes nothing"
    );
    push(
        dir.path(),
        &[],
        &twins,
        &reg.host(),
        &map,
        &["--keep-registry"],
    )
    .ok();
    let rows = read_map(&map);
    for (original, target, digest) in [
        (APP, "docker.io/library/app:1.0", docker_digest),
        (
            "quay.io/library/app:1.0",
            "quay.io/library/app:1.0",
            quay_digest,
        ),
    ] {
        let row = rows.iter().find(|r| r.original == original).unwrap();
        assert_eq!(row.target, format!("{}/{target}", reg.host()));
        assert_eq!(&row.digest, digest);
        assert_eq!(&digest_of(&skopeo_inspect_raw(&reg, target)), digest);
    }

    // Serve: the bare name needs `ns`; each registry's image under its own name.
    let served = Served::start(&twins, &[], &[]);
    let host = served.host();
    let bare = http(&host, "GET", "/v2/library/app/manifests/1.0", &[]);
    assert_eq!(bare.status, 404, "an ambiguous bare name without ns");
    for (ns, digest) in [("docker.io", docker_digest), ("quay.io", quay_digest)] {
        let reply = http(
            &host,
            "GET",
            &format!("/v2/library/app/manifests/1.0?ns={ns}"),
            &[],
        );
        assert_eq!(reply.status, 200, "ns={ns}");
        assert_eq!(reply.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(
            &skopeo_raw_digest(
                &host,
                &format!("{ns}/library/app:1.0"),
                &["--tls-verify=false"]
            ),
            digest
        );
    }
}

// ============================================================================== 4. resume

#[test]
fn a_killed_push_resumes_without_reuploading_completed_blobs() {
    require_tools();
    let big = big_bundle();
    let reg = Registry::start(RegistryOptions::plain());
    let dir = scratch();
    let map1 = dir.path().join("image-map-1.json");
    let flags = ["-j", "2", "--chunk-size", "8MiB"];

    let mut first = PushChild::spawn(dir.path(), &big.0.bundle, &reg.host(), &map1, &flags);
    wait_for_completed_uploads(&reg, &mut first, 2, &big.large_layers());
    first.child.kill().unwrap();
    let status = first.child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the first push was SIGKILLed");
    assert!(!map1.exists(), "the killed push wrote no image map");
    // An upload whose last request was already sent may still complete in the registry.
    std::thread::sleep(Duration::from_secs(1));
    let logged_before = reg.requests().len();

    let map2 = dir.path().join("image-map-2.json");
    let report = push(dir.path(), &[], &big.0.bundle, &reg.host(), &map2, &flags)
        .ok()
        .json();
    // The re-run's first request is its `GET /v2/`; everything logged before is the first run's.
    let all = reg.requests();
    let split = logged_before
        + all[logged_before..]
            .iter()
            .position(|r| r.method == "GET" && r.uri == "/v2/")
            .expect("the re-run asked /v2/");
    let done_first: BTreeSet<String> = completed_uploads(&all[..split]).into_iter().collect();
    let done_second: Vec<String> = completed_uploads(&all[split..]);
    assert!(done_first.len() >= 2);
    let again: Vec<&String> = done_second
        .iter()
        .filter(|d| done_first.contains(*d))
        .collect();
    assert!(
        again.is_empty(),
        "the re-run uploaded blobs the killed run had completed: {again:?}"
    );
    assert!(
        !done_second.is_empty(),
        "the first run was interrupted, so the second has work left"
    );
    assert_eq!(
        report["blobs_uploaded"].as_u64().unwrap() as usize,
        done_second.len(),
        "{report}"
    );
    assert_eq!(
        report["blobs_skipped"].as_u64().unwrap() as usize,
        done_first.len(),
        "every blob the first run completed is found and skipped: {report}"
    );
    // The large layers the first run completed are not sent again; the others are, once.
    let left: u64 = big
        .0
        .large_layer_sizes()
        .iter()
        .filter(|(d, _)| !done_first.contains(*d))
        .map(|(_, size)| size)
        .sum();
    assert!(
        left < 4 * (72 << 20),
        "a large layer was complete before the kill"
    );
    let sent = report["bytes_uploaded"].as_u64().unwrap();
    assert!(
        sent >= left && sent < left + (1 << 20),
        "the re-run sent {sent} bytes; the large layers left to send were {left} bytes"
    );

    // Every target resolves to its digest and every layer is complete.
    let map = read_map(&map2);
    assert_eq!(map.len(), big.0.images.len() + 1, "4 images + the metadata");
    for (reference, info) in &big.0.images {
        let row = map.iter().find(|r| &r.original == reference).unwrap();
        assert_eq!(row.digest, info.manifest_digest);
        let repo_tag = row
            .target
            .strip_prefix(&format!("{}/", reg.host()))
            .unwrap();
        assert_eq!(
            skopeo_inspect_raw(&reg, repo_tag).as_slice(),
            info.manifest.as_slice()
        );
        let repo = repo_tag.split(':').next().unwrap();
        for layer in &info.layers {
            assert_eq!(
                registry_blob_length(&reg, repo, &layer.digest),
                Some(layer.size),
                "{reference}: layer {}",
                layer.digest
            );
        }
    }
    let metadata = map.iter().find(|r| r.kind == "metadata").unwrap();
    let repo_tag = metadata
        .target
        .strip_prefix(&format!("{}/", reg.host()))
        .unwrap();
    assert_eq!(
        digest_of(&skopeo_inspect_raw(&reg, repo_tag)),
        metadata.digest
    );
}

// ============================================================================== 5. faults

#[test]
fn a_registry_stopped_mid_push_fails_the_push_and_a_rerun_completes() {
    require_tools();
    let big = big_bundle();
    let mut reg = Registry::start(RegistryOptions::plain());
    let dir = scratch();
    let map1 = dir.path().join("image-map-1.json");
    let flags = ["-j", "2", "--chunk-size", "8MiB"];

    let mut first = PushChild::spawn(dir.path(), &big.0.bundle, &reg.host(), &map1, &flags);
    wait_for_completed_uploads(&reg, &mut first, 2, &big.large_layers());
    // Stop the registry from another thread while the push runs.
    let stopper = std::thread::spawn(move || {
        reg.stop();
        reg
    });
    let mut reg = stopper.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the push did not give up on a stopped registry within 90 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "the push cannot succeed against a stopped registry"
    );
    assert_eq!(status.code(), Some(1), "{status}: {}", first.stderr());
    let stderr = first.stderr();
    assert!(
        stderr.contains(&reg.host()) && stderr.contains("cannot reach"),
        "the error says the registry could not be reached:\n{stderr}"
    );
    assert!(!map1.exists(), "a failed push writes no image map");
    let done_first: BTreeSet<String> = completed_uploads(&reg.requests()).into_iter().collect();

    reg.restart();
    let before = reg.requests().len();
    let map2 = dir.path().join("image-map-2.json");
    let report = push(dir.path(), &[], &big.0.bundle, &reg.host(), &map2, &flags)
        .ok()
        .json();
    assert!(report["blobs_uploaded"].as_u64().unwrap() > 0, "{report}");
    let requests = reg.requests();
    let done_second = completed_uploads(&requests[before..]);
    assert!(
        done_second.iter().all(|d| !done_first.contains(d)),
        "the re-run uploaded again what was complete before the stop"
    );
    let map = read_map(&map2);
    for (reference, info) in &big.0.images {
        let row = map.iter().find(|r| &r.original == reference).unwrap();
        let repo_tag = row
            .target
            .strip_prefix(&format!("{}/", reg.host()))
            .unwrap();
        assert_eq!(
            digest_of(&skopeo_inspect_raw(&reg, repo_tag)),
            info.manifest_digest
        );
    }
}

#[test]
fn server_errors_on_uploads_are_retried() {
    require_tools();
    let fx = std_bundle();
    let reg = Registry::start(RegistryOptions::plain());
    let proxy = FaultProxy::start(&reg.host());
    proxy.set_mode(FaultMode::status(500, 3, "/blobs/uploads/"));
    let dir = scratch();
    let map_path = dir.path().join("image-map.json");
    let report = push(dir.path(), &[], &fx.bundle, &proxy.host(), &map_path, &[])
        .ok()
        .json();
    assert_eq!(proxy.faults_injected(), 3, "{:?}", proxy.requests());
    assert_eq!(proxy.mode(), FaultMode::PassThrough);
    assert!(report["blobs_uploaded"].as_u64().unwrap() > 0);
    check_std_push(fx, &reg, &proxy.host(), "", &map_path, dir.path());
    let uploads = completed_uploads(&reg.requests());
    let unique: BTreeSet<&String> = uploads.iter().collect();
    assert_eq!(
        unique.len(),
        uploads.len(),
        "retries completed no blob twice"
    );
}

#[test]
fn a_lost_upload_chunk_is_sent_again_and_the_push_completes() {
    require_tools();
    let fx = std_bundle();
    let reg = Registry::start(RegistryOptions::plain());
    let proxy = FaultProxy::start(&reg.host());
    // The first chunk of the first upload reaches nobody: the connection closes unanswered.
    proxy.set_mode(FaultMode::close_without_response(
        "PATCH /blobs/uploads/",
        1,
    ));
    let dir = scratch();
    let map_path = dir.path().join("image-map.json");
    let run = push(
        dir.path(),
        &[],
        &fx.bundle,
        &proxy.host(),
        &map_path,
        &["-j", "1", "--chunk-size", "64KiB"],
    );
    let seen: Vec<String> = proxy
        .requests()
        .iter()
        .map(|r| format!("{} {} {} {:?}", r.method, r.target, r.status, r.fault))
        .collect();
    assert_eq!(
        run.status,
        0,
        "{}\nproxy saw:\n{}",
        run.stderr,
        seen.join("\n")
    );
    assert_eq!(proxy.faults_injected(), 1, "{}", seen.join("\n"));
    check_std_push(fx, &reg, &proxy.host(), "", &map_path, dir.path());
}

#[test]
fn a_chunk_failing_past_the_request_retries_resumes_from_the_acknowledged_offset() {
    require_tools();
    let fx = std_bundle();
    let reg = Registry::start(RegistryOptions::plain());
    let proxy = FaultProxy::start(&reg.host());
    // The first chunk of the first upload fails five times in a row (the request and its four
    // retries): the upload asks the session how far it got (nothing) and goes on from there.
    proxy.set_mode(FaultMode::status(500, 5, "PATCH /blobs/uploads/"));
    let dir = scratch();
    let map_path = dir.path().join("image-map.json");
    let run = push(
        dir.path(),
        &[],
        &fx.bundle,
        &proxy.host(),
        &map_path,
        &["-j", "1", "--chunk-size", "64KiB"],
    );
    let seen: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| r.target.contains("/blobs/uploads/"))
        .take(16)
        .map(|r| {
            format!(
                "{} {} {} {:?}",
                r.method,
                r.target.split('?').next().unwrap_or_default(),
                r.status,
                r.fault
            )
        })
        .collect();
    assert_eq!(proxy.faults_injected(), 5, "{}", seen.join("\n"));
    assert_eq!(
        run.status,
        0,
        "{}\nfirst upload requests through the proxy:\n{}",
        run.stderr,
        seen.join("\n")
    );
    check_std_push(fx, &reg, &proxy.host(), "", &map_path, dir.path());
}

#[test]
fn a_registry_rejecting_credentials_fails_clearly_without_an_image_map() {
    require_tools();
    let fx = std_bundle();
    let reg = Registry::start(RegistryOptions::basic("alice", "s3cret-pass"));
    let dir = scratch();

    // No credentials at all.
    let map = dir.path().join("image-map.json");
    let run = push(dir.path(), &[], &fx.bundle, &reg.host(), &map, &[]).failed();
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .contains(&format!("authentication to {}", reg.host()))
            && run.stderr.contains("no credentials are configured"),
        "{}",
        run.stderr
    );
    assert!(!map.exists(), "no image map after a refused push");

    // Wrong credentials.
    let wrong = docker_config(dir.path(), &reg.host(), "alice", "wrong-pass");
    let run = push(
        dir.path(),
        &[("DOCKER_CONFIG", s(&wrong))],
        &fx.bundle,
        &reg.host(),
        &map,
        &[],
    )
    .failed();
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .contains(&format!("authentication to {}", reg.host()))
            && run.stderr.contains("rejected"),
        "{}",
        run.stderr
    );
    assert!(!map.exists(), "no image map after a refused push");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(json["error"].is_array(), "--json reports the error: {json}");
    assert!(writes(&reg.requests()).iter().all(|r| r.status >= 400));
}

// ============================================================================== signed bundles

#[test]
fn a_signed_bundle_is_pushed_with_its_signature() {
    require_tools();
    let fx = std_bundle();
    let dir = scratch();
    let env = [("FERRY_KEY_PASSWORD", "key-pass")];
    let (key, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    generate_key(&dir.path().join("cache"), &env, &key, &public, &[]).ok();
    let signed = dir.path().join("signed.tar");
    let built = ferry_env(
        &fx.root.join("cache"),
        &env,
        &[
            "build",
            s(&fx.spec),
            "--locked",
            "-o",
            s(&signed),
            "--sign-key",
            s(&key),
            "--json",
        ],
    )
    .ok()
    .json();
    let root = built["root"].as_str().unwrap().to_owned();
    let sig_tag = format!("{}.sig", root.replace(':', "-"));

    let reg = Registry::start(RegistryOptions::plain());
    // Without a trust decision, or with another key, nothing is pushed.
    let map = dir.path().join("image-map.json");
    let host = reg.host();
    let mut args = vec!["push", s(&signed), "--to", &host];
    let run = ferry(&dir.path().join("cache"), &args).failed();
    assert!(run.stderr.contains("no trusted key"), "{}", run.stderr);
    let other_key = dir.path().join("other.pub");
    generate_key(
        &dir.path().join("cache"),
        &[],
        &dir.path().join("other.key"),
        &other_key,
        &[],
    )
    .ok();
    args.extend(["--key", s(&other_key)]);
    let run = ferry(&dir.path().join("cache"), &args).failed();
    assert!(run.stderr.contains("did not verify"), "{}", run.stderr);
    assert!(
        writes(&reg.requests()).is_empty(),
        "an unverified bundle writes nothing"
    );

    let report = ferry(
        &dir.path().join("cache"),
        &[
            "push",
            s(&signed),
            "--to",
            &reg.host(),
            "--key",
            s(&public),
            "--image-map",
            s(&map),
            "--json",
        ],
    )
    .ok()
    .json();
    assert!(report["blobs_uploaded"].as_u64().unwrap() > 0);
    let rows = read_map(&map);
    let signature: Vec<&MapRow> = rows.iter().filter(|r| r.kind == "signature").collect();
    assert_eq!(signature.len(), 1, "{rows:?}");
    let signature = signature[0];
    assert_eq!(signature.original, sig_tag);
    assert_eq!(
        signature.target,
        format!("{}/ferry-bundle/std:{sig_tag}", reg.host())
    );
    let raw = skopeo_inspect_raw(&reg, &format!("ferry-bundle/std:{sig_tag}"));
    assert_eq!(digest_of(&raw), signature.digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["subject"]["digest"], root.as_str(), "{manifest}");
    // The pushed signature verifies with openssl against the public key.
    let layer = &manifest["layers"][0];
    let payload_digest = layer["digest"].as_str().unwrap();
    let pulled = dir.path().join("sig");
    skopeo_copy_to_dir(&reg, &format!("ferry-bundle/std:{sig_tag}"), &pulled, false);
    let payload = pulled.join(payload_digest.trim_start_matches("sha256:"));
    let payload_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
    assert_eq!(
        payload_json["critical"]["image"]["docker-manifest-digest"],
        root.as_str()
    );
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let der_path = dir.path().join("sig.der");
    std::fs::write(&der_path, der).unwrap();
    let mut openssl = Command::new("openssl");
    openssl
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&der_path)
        .arg(&payload);
    let out = support::run_ok(&mut openssl);
    assert!(out.contains("Verified OK"), "{out}");
    // The rest of the bundle is where the unsigned push puts it.
    for row in rows.iter().filter(|r| r.kind == "image") {
        let repo_tag = row
            .target
            .strip_prefix(&format!("{}/", reg.host()))
            .unwrap();
        assert_eq!(digest_of(&skopeo_inspect_raw(&reg, repo_tag)), row.digest);
        assert_eq!(row.digest, fx.locked_image(&row.original));
    }

    // Serve trusts the same way.
    let config_dir = dir.path().join("config");
    let run = ferry(
        &dir.path().join("cache"),
        &[
            "serve",
            s(&signed),
            "--print-config",
            "--config-dir",
            s(&config_dir),
        ],
    )
    .failed();
    assert!(run.stderr.contains("no trusted key"), "{}", run.stderr);
    ferry(
        &dir.path().join("cache"),
        &[
            "serve",
            s(&signed),
            "--key",
            s(&public),
            "--print-config",
            "--config-dir",
            s(&config_dir),
        ],
    )
    .ok();
    assert!(config_dir.join("kubespray-offline.yml").is_file());
}

// ============================================================================== 6. serve

#[test]
fn serve_is_a_registry_for_every_image() {
    require_tools();
    let fx = std_bundle();
    let served = Served::start(&fx.bundle, &[], &[]);
    let host = served.host();
    let dir = scratch();

    for (reference, repo, tag) in [
        (APP, "docker.io/library/app", "1.0"),
        (MULTI, "quay.io/org/multi", "2.0"),
        (SHARE_A, "docker.io/library/share-a", "1"),
        (SHARE_B, "registry.k8s.io/team/share-b", "1"),
    ] {
        let locked = fx.locked_image(reference);
        assert_eq!(
            skopeo_raw_digest(&host, &format!("{repo}:{tag}"), &["--tls-verify=false"]),
            locked,
            "skopeo inspect --raw {reference}"
        );
        let layout = dir.path().join(repo.replace('/', "_"));
        let mut cmd = skopeo();
        cmd.args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{host}/{repo}:{tag}"))
            .arg(format!("oci:{}:x", layout.display()));
        support::run_ok(&mut cmd);
        let copied = oci_layout_digest(&layout, "x");
        if reference == MULTI {
            assert_eq!(copied, fx.multi.image(host_arch()).manifest_digest);
            let all = dir.path().join("multi-all");
            let mut cmd = skopeo();
            cmd.args(["copy", "--all", "--src-tls-verify=false"])
                .arg(format!("docker://{host}/{repo}:{tag}"))
                .arg(format!("oci:{}:x", all.display()));
            support::run_ok(&mut cmd);
            assert_eq!(
                oci_layout_digest(&all, "x"),
                locked,
                "copy --all keeps the index"
            );
        } else {
            assert_eq!(copied, locked, "skopeo copy of {reference}");
        }

        // The bare name, disambiguated by containerd's `ns`.
        let bare = repo.split_once('/').unwrap();
        let reply = http(
            &host,
            "GET",
            &format!("/v2/{}/manifests/{tag}?ns={}", bare.1, bare.0),
            &[("Accept", OCI_INDEX)],
        );
        assert_eq!(reply.status, 200, "bare {} with ns={}", bare.1, bare.0);
        assert_eq!(reply.header("docker-content-digest"), Some(locked.as_str()));
        assert_eq!(digest_of(&reply.body), locked);
    }
    // Manifests by digest.
    let by_digest = http(
        &host,
        "GET",
        &format!(
            "/v2/docker.io/library/app/manifests/{}",
            fx.app.manifest_digest
        ),
        &[],
    );
    assert_eq!(by_digest.status, 200);
    assert_eq!(by_digest.body, fx.app.manifest);
    // Media types, tags and the catalog.
    let reply = http(&host, "HEAD", "/v2/quay.io/org/multi/manifests/2.0", &[]);
    assert_eq!(reply.header("content-type"), Some(OCI_INDEX));
    let reply = http(
        &host,
        "HEAD",
        "/v2/docker.io/library/app/manifests/1.0",
        &[],
    );
    assert_eq!(reply.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(
        reply.header("content-length"),
        Some(fx.app.manifest_size.to_string().as_str())
    );
    let tags: serde_json::Value = serde_json::from_slice(
        &http(&host, "GET", "/v2/docker.io/library/app/tags/list", &[]).body,
    )
    .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["1.0"]), "{tags}");
    let catalog: serde_json::Value =
        serde_json::from_slice(&http(&host, "GET", "/v2/_catalog", &[]).body).unwrap();
    for repo in [
        "docker.io/library/app",
        "quay.io/org/multi",
        "docker.io/library/share-a",
        "registry.k8s.io/team/share-b",
    ] {
        assert!(
            catalog["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == repo),
            "{repo} in {catalog}"
        );
    }
    // Another registry's ns does not find it.
    let reply = http(
        &host,
        "GET",
        "/v2/library/app/manifests/1.0?ns=quay.io",
        &[],
    );
    assert_eq!(reply.status, 404);
    let reply = http(&host, "HEAD", "/v2/org/multi/manifests/2.0?ns=quay.io", &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("docker-content-digest"),
        Some(fx.multi.index_digest.as_str())
    );
    // The chart is served as the OCI artifact it is in the bundle (its registry has a port,
    // so only the bare form with `ns` can name it).
    let (chart_registry, _) = fx.chart.split_once('/').unwrap();
    let reply = http(
        &host,
        "GET",
        &format!("/v2/charts/hello/manifests/0.1.0?ns={chart_registry}"),
        &[],
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("docker-content-digest"),
        Some(fx.index[&fx.chart].as_str())
    );
    let chart: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(chart["config"]["mediaType"], HELM_CONFIG);

    // Blobs: HEAD, ranges, the bare form.
    let layer = &fx.app.layers[1];
    let bytes = fx.layout_blob(&layer.digest);
    let path = format!("/v2/docker.io/library/app/blobs/{}", layer.digest);
    let head = http(&host, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(layer.size.to_string().as_str())
    );
    assert_eq!(
        head.header("docker-content-digest"),
        Some(layer.digest.as_str())
    );
    let full = http(&host, "GET", &path, &[]);
    assert_eq!(full.status, 200);
    assert_eq!(digest_of(&full.body), layer.digest);
    let range = http(&host, "GET", &path, &[("Range", "bytes=10-19")]);
    assert_eq!(range.status, 206);
    assert_eq!(range.body, &bytes[10..20]);
    assert_eq!(range.header("content-length"), Some("10"));
    assert_eq!(
        range.header("content-range"),
        Some(format!("bytes 10-19/{}", layer.size).as_str())
    );
    let bare_blob = http(
        &host,
        "GET",
        &format!("/v2/library/app/blobs/{}?ns=docker.io", layer.digest),
        &[("Range", "bytes=0-9")],
    );
    assert_eq!(bare_blob.status, 206);
    assert_eq!(bare_blob.body, &bytes[0..10]);

    // Nothing outside the bundle.
    let absent = digest_of(b"not in the bundle");
    for target in [
        "/v2/docker.io/library/nope/manifests/1.0".to_owned(),
        "/v2/docker.io/library/app/manifests/9.9".to_owned(),
        format!("/v2/docker.io/library/app/blobs/{absent}"),
        format!("/v2/docker.io/library/app/manifests/{absent}"),
        "/127.0.0.1/not/a/file".to_owned(),
        "/etc/passwd".to_owned(),
    ] {
        assert_eq!(http(&host, "GET", &target, &[]).status, 404, "GET {target}");
    }
    // Path traversal is refused as such.
    for target in [
        "/..%2f..%2fetc/passwd",
        "/a/../b",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/local/../../etc/passwd",
    ] {
        assert_eq!(http(&host, "GET", target, &[]).status, 400, "GET {target}");
    }
    let out = curl()
        .args(["--path-as-is", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{host}/a/../b"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");
    // Read-only.
    assert_eq!(
        http(
            &host,
            "POST",
            "/v2/docker.io/library/app/blobs/uploads/",
            &[("Content-Length", "0")]
        )
        .status,
        405
    );

    // Last: a repository the bundle does not have is unknown, whatever digest is asked for
    // (a distribution registry answers 404 NAME_UNKNOWN / MANIFEST_UNKNOWN / BLOB_UNKNOWN).
    let outside: Vec<String> = [
        format!("/v2/nope/manifests/{}", fx.app.manifest_digest),
        format!(
            "/v2/docker.io/library/nope/manifests/{}",
            fx.app.manifest_digest
        ),
        format!("/v2/docker.io/library/nope/blobs/{}", layer.digest),
    ]
    .into_iter()
    .map(|target| (http(&host, "GET", &target, &[]).status, target))
    .filter(|(status, _)| *status != 404)
    .map(|(status, target)| format!("GET {target} -> {status}"))
    .collect();
    assert!(
        outside.is_empty(),
        "repositories that are not in the bundle answer:\n{}",
        outside.join("\n")
    );
}

#[test]
fn serve_is_a_file_server() {
    require_tools();
    let fx = std_bundle();
    let served = Served::start(&fx.bundle, &[], &[]);
    let host = served.host();
    for file in &fx.files {
        let reply = http(&host, "GET", &file.served_path, &[]);
        assert_eq!(reply.status, 200, "GET {}", file.served_path);
        assert_eq!(reply.body.len(), file.bytes.len());
        assert_eq!(digest_of(&reply.body), file.sha256);
        let head = http(&host, "HEAD", &file.served_path, &[]);
        assert_eq!(
            head.header("content-length"),
            Some(file.bytes.len().to_string().as_str())
        );
        let range = http(&host, "GET", &file.served_path, &[("Range", "bytes=10-19")]);
        assert_eq!(range.status, 206);
        assert_eq!(range.body, &file.bytes[10..20]);
        let tail = http(&host, "GET", &file.served_path, &[("Range", "bytes=-5")]);
        assert_eq!(tail.status, 206);
        assert_eq!(tail.body, &file.bytes[file.bytes.len() - 5..]);
        let beyond = format!("bytes={}-", file.bytes.len());
        assert_eq!(
            http(&host, "GET", &file.served_path, &[("Range", &beyond)]).status,
            416
        );
    }
    // curl, as kubespray downloads it.
    let file = &fx.files[0];
    let dir = scratch();
    let out = dir.path().join("download");
    let status = curl()
        .arg("-f")
        .arg("-o")
        .arg(&out)
        .arg(format!("http://{host}{}", file.served_path))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(format!("sha256:{}", sha256_file(&out)), file.sha256);
    // A sibling path that is not in the bundle.
    let missing = file.served_path.replace("tool-amd64", "tool-riscv64");
    assert_eq!(http(&host, "GET", &missing, &[]).status, 404);
}

#[test]
fn serve_with_basic_auth() {
    require_tools();
    let fx = std_bundle();
    let served = Served::start(
        &fx.bundle,
        &["--basic-auth-user", "puller"],
        &[("FERRY_SERVE_PASSWORD", "serve-pass")],
    );
    let host = served.host();
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("puller:serve-pass")
    );
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("puller:nope")
    );
    let manifest = "/v2/docker.io/library/app/manifests/1.0";
    for target in ["/v2/", manifest, fx.files[0].served_path.as_str()] {
        let reply = http(&host, "GET", target, &[]);
        assert_eq!(reply.status, 401, "GET {target} without credentials");
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic")),
            "a Basic challenge"
        );
        assert_eq!(
            http(&host, "GET", target, &[("Authorization", &bad)]).status,
            401,
            "GET {target} with a wrong password"
        );
        assert_eq!(
            http(&host, "GET", target, &[("Authorization", &good)]).status,
            200,
            "GET {target} with credentials"
        );
    }
    assert_eq!(
        skopeo_raw_digest(
            &host,
            "docker.io/library/app:1.0",
            &["--tls-verify=false", "--creds", "puller:serve-pass"]
        ),
        fx.locked_image(APP)
    );
}

#[test]
fn serve_over_tls() {
    require_tools();
    let fx = std_bundle();
    let dir = scratch();
    let certs = TestCerts::generate(&dir.path().join("certs"));
    let served = Served::start(
        &fx.bundle,
        &[
            "--tls-cert",
            s(&certs.server_cert),
            "--tls-key",
            s(&certs.server_key),
        ],
        &[],
    );
    let host = served.host();
    let cert_dir = format!("--src-cert-dir={}", certs.cert_dir.display());
    let layout = dir.path().join("copied");
    let mut cmd = skopeo();
    cmd.args(["copy", &cert_dir])
        .arg(format!("docker://{host}/docker.io/library/app:1.0"))
        .arg(format!("oci:{}:x", layout.display()));
    support::run_ok(&mut cmd);
    assert_eq!(oci_layout_digest(&layout, "x"), fx.locked_image(APP));
    assert_eq!(
        skopeo_raw_digest(
            &host,
            "quay.io/org/multi:2.0",
            &[&format!("--cert-dir={}", certs.cert_dir.display())]
        ),
        fx.multi.index_digest
    );
    // The file server is behind TLS too, and the CA is needed.
    let file = &fx.files[0];
    let out = curl()
        .arg("--cacert")
        .arg(&certs.ca_cert)
        .arg(format!("https://{host}{}", file.served_path))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(digest_of(&out.stdout), file.sha256);
    let untrusted = curl().arg(format!("https://{host}/v2/")).output().unwrap();
    assert!(
        !untrusted.status.success(),
        "without the CA the certificate is refused"
    );
}

#[test]
fn serve_print_config_writes_node_and_kubespray_configuration() {
    require_tools();
    let fx = std_bundle();
    let dir = scratch();
    let config_dir = dir.path().join("config");
    let run = ferry(
        &dir.path().join("cache"),
        &[
            "serve",
            s(&fx.bundle),
            "--insecure-skip-signature",
            "--print-config",
            "--advertise",
            "10.1.2.3:5000",
            "--config-dir",
            s(&config_dir),
        ],
    )
    .ok();
    assert!(run.stdout.contains(s(&config_dir)), "{}", run.stdout);

    // One containerd hosts.toml per registry the images come from, and no other.
    let certs_d = config_dir.join("containerd/certs.d");
    let mut registries: Vec<String> = std::fs::read_dir(&certs_d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    registries.sort();
    assert_eq!(registries, ["docker.io", "quay.io", "registry.k8s.io"]);
    for (registry, server) in [
        ("docker.io", "https://registry-1.docker.io"),
        ("quay.io", "https://quay.io"),
        ("registry.k8s.io", "https://registry.k8s.io"),
    ] {
        let text = std::fs::read_to_string(certs_d.join(registry).join("hosts.toml")).unwrap();
        let parsed: toml::Value = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("{registry}/hosts.toml is not TOML ({e}):\n{text}"));
        assert_eq!(parsed["server"].as_str(), Some(server), "{text}");
        let mirror = &parsed["host"]["http://10.1.2.3:5000"];
        assert_eq!(
            mirror["capabilities"],
            toml::Value::Array(vec!["pull".into(), "resolve".into()]),
            "{text}"
        );
    }

    let kubespray = std::fs::read_to_string(config_dir.join("kubespray-offline.yml")).unwrap();
    let values: serde_json::Value = serde_norway_to_json(&kubespray);
    assert_eq!(values["registry_host"], "10.1.2.3:5000", "{kubespray}");
    assert_eq!(values["files_repo"], "http://10.1.2.3:5000", "{kubespray}");
    assert_eq!(
        values["docker_image_repo"], "{{ registry_host }}/docker.io",
        "{kubespray}"
    );
    assert_eq!(values["quay_image_repo"], "{{ registry_host }}/quay.io");
    assert_eq!(
        values["kube_image_repo"],
        "{{ registry_host }}/registry.k8s.io"
    );
    let kubectl = &fx.files[3].served_path;
    assert!(kubectl.ends_with("/amd64/kubectl"));
    assert_eq!(
        values["kubectl_download_url"].as_str(),
        Some(
            format!(
                "{{{{ files_repo }}}}{}",
                kubectl.replace("/amd64/", "/{{ image_arch }}/")
            )
            .as_str()
        ),
        "{kubespray}"
    );
    let crio =
        std::fs::read_to_string(config_dir.join("crio/registries.conf.d/50-ferry.conf")).unwrap();
    for registry in ["docker.io", "quay.io", "registry.k8s.io"] {
        assert!(
            crio.contains(&format!("location = \"10.1.2.3:5000/{registry}\"")),
            "{crio}"
        );
    }

    // With a TLS certificate the advertised endpoint is https.
    let tls_dir = dir.path().join("config-tls");
    let certs = TestCerts::generate(&dir.path().join("certs"));
    ferry(
        &dir.path().join("cache"),
        &[
            "serve",
            s(&fx.bundle),
            "--insecure-skip-signature",
            "--print-config",
            "--advertise",
            "mirror.example:443",
            "--tls-cert",
            s(&certs.server_cert),
            "--tls-key",
            s(&certs.server_key),
            "--config-dir",
            s(&tls_dir),
        ],
    )
    .ok();
    let kubespray = std::fs::read_to_string(tls_dir.join("kubespray-offline.yml")).unwrap();
    assert!(
        kubespray.contains("files_repo: \"https://mirror.example:443\""),
        "{kubespray}"
    );
    let hosts =
        std::fs::read_to_string(tls_dir.join("containerd/certs.d/docker.io/hosts.toml")).unwrap();
    assert!(
        hosts.contains("[host.\"https://mirror.example:443\"]"),
        "{hosts}"
    );
}

/// Parses YAML (the kubespray variables) into JSON values.
fn serde_norway_to_json(text: &str) -> serde_json::Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"))
}

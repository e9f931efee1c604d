//! End-to-end tests of `ferry` against real `docker-registry` processes on 127.0.0.1
//! (plain, basic auth, Harbor-like token auth, TLS), HTTP chart and file servers, and a
//! fault-injecting proxy. `skopeo` is the independent client that must read what ferry writes.
//!
//! Every test writes its own spec (`bundles/<name>.yaml` + `vendor-manifests/…`) into a temp
//! dir and uses private caches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::{ferry, ferry_env, s};
use support::images::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
use support::{
    digest_of, require_tools, seed, sha256_file, sha256_hex, skopeo_copy_from_oci_layout,
    skopeo_copy_from_oci_layout_all, skopeo_inspect_media_type, skopeo_inspect_raw, write_chart,
    write_chart_index, FaultMode, FaultProxy, HttpServer, ImageInfo, ImageSpec, IndexInfo,
    LayerSpec, OciLayoutBuilder, Registry, RegistryOptions, RequestKind, SeedFormat,
};

// ---------------------------------------------------------------------------- helpers

/// A spec project in a temp dir: `bundles/`, `vendor-manifests/`, `lockfiles/`, caches.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("ferry-e2e-")
                .tempdir()
                .unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `vendor-manifests/<name>/<version>.yaml` with `body` (images/charts/files YAML).
    fn component(&self, name: &str, version: &str, body: &str) {
        let dir = self.root().join("vendor-manifests").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            "apiVersion: ferry/v1\nkind: Component\nname: {name}\nversion: {version}\nlicense: Apache-2.0\n{body}"
        );
        std::fs::write(dir.join(format!("{version}.yaml")), text).unwrap();
    }

    /// Writes `bundles/<name>.yaml`; returns its path.
    fn bundle(&self, name: &str, platforms: &[&str], components: &[(&str, &str)]) -> PathBuf {
        let dir = self.root().join("bundles");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = format!(
            "apiVersion: ferry/v1\nkind: Bundle\nname: {name}\nversion: 1.0.0\nplatforms: [{}]\ncomponents:\n",
            platforms.join(", ")
        );
        for (component, version) in components {
            text.push_str(&format!("  - name: {component}\n    version: {version}\n"));
        }
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn lockfile(&self, bundle: &str) -> PathBuf {
        self.root().join("lockfiles").join(format!("{bundle}.lock"))
    }

    fn lock(&self, bundle: &str) -> toml::Value {
        let text = std::fs::read_to_string(self.lockfile(bundle)).unwrap();
        toml::from_str(&text).unwrap_or_else(|e| panic!("lockfile is not TOML ({e}):\n{text}"))
    }

    fn cache(&self, name: &str) -> PathBuf {
        self.root().join("caches").join(name)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }
}

/// `images:` YAML for these references.
fn images_yaml(refs: &[&str]) -> String {
    let mut y = String::from("images:\n");
    for r in refs {
        y.push_str(&format!("  - ref: {r}\n"));
    }
    y
}

/// The `[[image]]` entry of a lock for `reference`.
fn lock_image<'a>(lock: &'a toml::Value, reference: &str) -> &'a toml::Value {
    lock.get("image")
        .and_then(|v| v.as_array())
        .and_then(|a| {
            a.iter()
                .find(|i| i.get("reference").and_then(|r| r.as_str()) == Some(reference))
        })
        .unwrap_or_else(|| panic!("no [[image]] `{reference}` in the lock:\n{lock}"))
}

fn str_of<'a>(v: &'a toml::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("no string `{key}` in {v}"))
}

/// The `(platform, digest)` pairs of a locked image.
fn lock_platforms(image: &toml::Value) -> Vec<(String, String)> {
    image
        .get("platform")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        str_of(p, "platform").to_owned(),
                        str_of(p, "digest").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The entries of a lock table (`chart`, `file`).
fn lock_entries<'a>(lock: &'a toml::Value, table: &str) -> Vec<&'a toml::Value> {
    lock.get(table)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// `~/.docker/config.json`-style credentials for `host`; returns the DOCKER_CONFIG dir.
fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    let config_dir = dir.join("docker");
    std::fs::create_dir_all(&config_dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { host: { "auth": auth } } });
    std::fs::write(config_dir.join("config.json"), json.to_string()).unwrap();
    config_dir
}

/// `skopeo inspect --raw oci:<layout>:<reference>` bytes.
fn layout_raw(layout: &Path, reference: &str) -> Vec<u8> {
    let mut cmd = support::skopeo::skopeo();
    cmd.args(["inspect", "--raw"])
        .arg(format!("oci:{}:{reference}", layout.display()));
    let out = support::run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        support::failure_message(&cmd, &out)
    );
    out.stdout
}

/// The architecture skopeo picks from an index on this host.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The `org.opencontainers.image.ref.name` → digest pairs of an unpacked layout's index.json.
fn layout_refs(layout: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(layout.join("index.json")).unwrap();
    let index: serde_json::Value = serde_json::from_str(&text).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Checks one image of an unpacked bundle with skopeo: raw digest, `copy` (and `copy --all`).
fn check_layout_image(
    layout: &Path,
    reference: &str,
    locked_digest: &str,
    multi: Option<&IndexInfo>,
    scratch: &Path,
) {
    let raw = layout_raw(layout, reference);
    assert_eq!(
        digest_of(&raw),
        locked_digest,
        "skopeo reads {reference} from the layout with another digest than the lock's"
    );
    let name = reference.replace(['/', ':'], "_");
    std::fs::create_dir_all(scratch).unwrap();
    let copied = skopeo_copy_from_oci_layout(layout, reference, &scratch.join(&name));
    match multi {
        None => assert_eq!(copied, locked_digest, "skopeo copy of {reference}"),
        Some(index) => {
            assert_eq!(
                copied,
                index.image(host_arch()).manifest_digest,
                "skopeo copy of {reference} picks this host's platform"
            );
            let all = skopeo_copy_from_oci_layout_all(
                layout,
                reference,
                &scratch.join(format!("{name}-all")),
            );
            assert_eq!(all, index.index_digest, "skopeo copy --all of {reference}");
        }
    }
}

/// Every file under `blobs-v1/sha256/` hashes to its name, and every pack entry to its digest.
fn assert_cache_is_sound(cache: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let blobs = cache.join("blobs-v1/sha256");
    if let Ok(entries) = std::fs::read_dir(&blobs) {
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert_eq!(
                sha256_file(entry.path()),
                name,
                "cache file {} does not hash to its name",
                entry.path().display()
            );
            names.push(name);
        }
    }
    if let Ok(entries) = std::fs::read_dir(cache.join("packs-v1")) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("idx") {
                continue;
            }
            let pack = std::fs::read(path.with_extension("tar")).unwrap();
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let (hex, offset, size) = (
                    parts[0],
                    parts[1].parse::<usize>().unwrap(),
                    parts[2].parse::<usize>().unwrap(),
                );
                assert_eq!(
                    sha256_hex(&pack[offset..offset + size]),
                    hex,
                    "pack {} holds bad content for {hex}",
                    path.display()
                );
                names.push(hex.to_owned());
            }
        }
    }
    names
}

/// Every file under `dir` (recursively), as `path size`.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(format!(
                    "{} {}",
                    e.path().display(),
                    e.metadata().unwrap().len()
                ));
            }
        }
    }
    out
}

/// Builds `spec` from its lock into `out`; returns the `--json` report.
fn build(cache: &Path, spec: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["build", s(spec), "--locked", "-o", s(out), "--json"];
    args.extend_from_slice(extra);
    let report = ferry(cache, &args).ok().json();
    assert_eq!(
        report["sha256"].as_str().unwrap(),
        format!("sha256:{}", sha256_file(out)),
        "the reported sha256 is the archive's"
    );
    report
}

/// Images seeded into a registry for most tests.
struct Seeded {
    _layout: tempfile::TempDir,
    single: ImageInfo,
    multi: IndexInfo,
    docker_digest: String,
    share_a: ImageInfo,
    share_b: ImageInfo,
}

impl Seeded {
    fn single_ref(reg_host: &str) -> String {
        format!("{reg_host}/lib/single:1.0")
    }
    fn multi_ref(reg_host: &str) -> String {
        format!("{reg_host}/lib/multi:2.0")
    }
    fn docker_ref(reg_host: &str) -> String {
        format!("{reg_host}/lib/docker:3.0")
    }
    fn share_a_ref(reg_host: &str) -> String {
        format!("{reg_host}/lib/share-a:1")
    }
    fn share_b_ref(reg_host: &str) -> String {
        format!("{reg_host}/team/share-b:1")
    }
}

/// Seeds a single-arch OCI image (with an incompressible 256 KiB layer), a multi-arch index
/// (amd64+arm64 sharing a layer), a Docker-media-type image and two images sharing a layer.
fn seed_images(reg: &Registry) -> Seeded {
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let single = layout.add_image(
        Some("single"),
        &ImageSpec::new(vec![
            LayerSpec::new(1, 16 * 1024),
            LayerSpec::random(2, 256 * 1024),
        ]),
    );
    let multi = layout.add_multi_arch(Some("multi"), 10, 24 * 1024);
    layout.add_image(Some("docker"), &ImageSpec::with_layers(20, 2, 8 * 1024));
    let shared = LayerSpec::random(30, 64 * 1024);
    let share_a = layout.add_image(
        Some("share-a"),
        &ImageSpec::new(vec![shared, LayerSpec::new(31, 4096)]).label("app", "a"),
    );
    let share_b = layout.add_image(
        Some("share-b"),
        &ImageSpec::new(vec![shared, LayerSpec::new(32, 4096)]).label("app", "b"),
    );
    let dir = layout_dir.path();
    let host = reg.host();
    let strip = |r: String| r.trim_start_matches(&format!("{host}/")).to_owned();
    assert_eq!(
        seed(
            dir,
            "single",
            reg,
            &strip(Seeded::single_ref(&host)),
            SeedFormat::Oci,
            false
        ),
        single.manifest_digest
    );
    assert_eq!(
        seed(
            dir,
            "multi",
            reg,
            &strip(Seeded::multi_ref(&host)),
            SeedFormat::Oci,
            true
        ),
        multi.index_digest
    );
    let docker_digest = seed(
        dir,
        "docker",
        reg,
        &strip(Seeded::docker_ref(&host)),
        SeedFormat::Docker,
        false,
    );
    assert_eq!(
        skopeo_inspect_media_type(reg, &strip(Seeded::docker_ref(&host))),
        DOCKER_MANIFEST
    );
    assert_eq!(
        seed(
            dir,
            "share-a",
            reg,
            &strip(Seeded::share_a_ref(&host)),
            SeedFormat::Oci,
            false
        ),
        share_a.manifest_digest
    );
    assert_eq!(
        seed(
            dir,
            "share-b",
            reg,
            &strip(Seeded::share_b_ref(&host)),
            SeedFormat::Oci,
            false
        ),
        share_b.manifest_digest
    );
    Seeded {
        _layout: layout_dir,
        single,
        multi,
        docker_digest,
        share_a,
        share_b,
    }
}

/// A project with component `apps` (all images of [`seed_images`]) in bundle `apps`
/// for linux/amd64 + linux/arm64.
fn apps_project(host: &str) -> (Project, PathBuf) {
    let project = Project::new();
    let refs = [
        Seeded::single_ref(host),
        Seeded::multi_ref(host),
        Seeded::docker_ref(host),
        Seeded::share_a_ref(host),
        Seeded::share_b_ref(host),
    ];
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    project.component("apps", "1.0.0", &images_yaml(&refs));
    let spec = project.bundle(
        "apps",
        &["linux/amd64", "linux/arm64"],
        &[("apps", "1.0.0")],
    );
    (project, spec)
}

// ---------------------------------------------------------------------------- 1. end to end

#[test]
fn lock_build_verify_unpack_against_a_plain_registry() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    let seeded = seed_images(&reg);
    let host = reg.host();
    // A Docker manifest list (amd64 + arm64), as most Docker Hub images are.
    let list_layout = tempfile::tempdir().unwrap();
    OciLayoutBuilder::new(list_layout.path()).add_multi_arch(Some("list"), 50, 8 * 1024);
    let list_digest = seed(
        list_layout.path(),
        "list",
        &reg,
        "lib/dockerlist:4.0",
        SeedFormat::Docker,
        true,
    );
    assert_eq!(
        skopeo_inspect_media_type(&reg, "lib/dockerlist:4.0"),
        DOCKER_MANIFEST_LIST
    );
    let list_raw: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect_raw(&reg, "lib/dockerlist:4.0")).unwrap();
    let mut list_platforms: Vec<(String, String)> = list_raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            (
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    list_platforms.sort();
    let list_ref = format!("{host}/lib/dockerlist:4.0");

    // An HTTP chart repository and files over HTTP.
    let www = tempfile::tempdir().unwrap();
    let chart = write_chart(
        &www.path().join("charts"),
        "hello",
        "0.1.0",
        &[(
            "configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n",
        )],
        "replicas: 1\n",
    );
    write_chart_index(&www.path().join("charts"), "", std::slice::from_ref(&chart));
    std::fs::create_dir_all(www.path().join("files")).unwrap();
    let tool_amd64 = b"#!/bin/sh\necho tool amd64\n".to_vec();
    let tool_arm64 = b"#!/bin/sh\necho tool arm64 (a little longer)\n".to_vec();
    let notes = b"release notes: nothing pinned me\n".to_vec();
    std::fs::write(www.path().join("files/tool-amd64"), &tool_amd64).unwrap();
    std::fs::write(www.path().join("files/tool-arm64"), &tool_arm64).unwrap();
    std::fs::write(www.path().join("files/notes.txt"), &notes).unwrap();
    let http = HttpServer::serve_dir(www.path());

    let project = Project::new();
    let images = [
        Seeded::single_ref(&host),
        Seeded::docker_ref(&host),
        Seeded::share_a_ref(&host),
        Seeded::share_b_ref(&host),
    ];
    let image_refs: Vec<&str> = images.iter().map(String::as_str).collect();
    project.component(
        "apps",
        "1.0.0",
        &format!(
            "{}charts:\n  - {{name: hello, version: 0.1.0, repo: {url}/charts}}\nfiles:\n  - name: tool\n    url: {url}/files/tool-{{arch}}\n    sha256:\n      amd64: {a}\n      arm64: {b}\n  - name: notes\n    url: {url}/files/notes.txt\n",
            images_yaml(&image_refs),
            url = http.url(),
            a = sha256_hex(&tool_amd64),
            b = sha256_hex(&tool_arm64),
        ),
    );
    let multi_ref = Seeded::multi_ref(&host);
    project.component("multi", "2.0.0", &images_yaml(&[&multi_ref, &list_ref]));
    let spec = project.bundle(
        "full",
        &["linux/amd64", "linux/arm64"],
        &[("apps", "1.0.0"), ("multi", "2.0.0")],
    );
    let cache = project.cache("main");

    let report = ferry(&cache, &["lock", s(&spec), "--json"]).ok().json();
    assert_eq!(report["changed"], true);
    assert_eq!(
        (
            report["images"].as_u64(),
            report["charts"].as_u64(),
            report["files"].as_u64()
        ),
        (Some(6), Some(1), Some(3))
    );
    let lock = project.lock("full");
    // Locking again against the unchanged registry rewrites the identical file.
    let first_text = std::fs::read(project.lockfile("full")).unwrap();
    let again = ferry(&project.cache("relock"), &["lock", s(&spec), "--json"])
        .ok()
        .json();
    assert_eq!(again["changed"], false);
    assert_eq!(std::fs::read(project.lockfile("full")).unwrap(), first_text);

    // Images: the digests the registry holds, the Docker media type kept.
    let expected_images = [
        (
            Seeded::single_ref(&host),
            seeded.single.manifest_digest.clone(),
        ),
        (Seeded::multi_ref(&host), seeded.multi.index_digest.clone()),
        (Seeded::docker_ref(&host), seeded.docker_digest.clone()),
        (
            Seeded::share_a_ref(&host),
            seeded.share_a.manifest_digest.clone(),
        ),
        (
            Seeded::share_b_ref(&host),
            seeded.share_b.manifest_digest.clone(),
        ),
        (list_ref.clone(), list_digest.clone()),
    ];
    for (reference, digest) in &expected_images {
        assert_eq!(
            str_of(lock_image(&lock, reference), "digest"),
            digest,
            "locked digest of {reference}"
        );
    }
    assert_eq!(
        str_of(lock_image(&lock, &Seeded::docker_ref(&host)), "media-type"),
        DOCKER_MANIFEST
    );
    assert_eq!(
        lock_platforms(lock_image(&lock, &Seeded::single_ref(&host))),
        vec![(
            "linux/amd64".to_owned(),
            seeded.single.manifest_digest.clone()
        )]
    );
    let multi = lock_image(&lock, &multi_ref);
    assert_eq!(str_of(multi, "media-type"), support::images::OCI_INDEX);
    assert_eq!(
        lock_platforms(multi),
        vec![
            (
                "linux/amd64".to_owned(),
                seeded.multi.image("amd64").manifest_digest.clone()
            ),
            (
                "linux/arm64".to_owned(),
                seeded.multi.image("arm64").manifest_digest.clone()
            ),
        ]
    );
    let list = lock_image(&lock, &list_ref);
    assert_eq!(str_of(list, "media-type"), DOCKER_MANIFEST_LIST);
    assert_eq!(lock_platforms(list), list_platforms);

    // The chart and files: pinned hashes, the unpinned one hashed by `lock`.
    let charts = lock_entries(&lock, "chart");
    assert_eq!(charts.len(), 1);
    assert_eq!(
        str_of(charts[0], "sha256"),
        format!("sha256:{}", chart.sha256)
    );
    assert_eq!(
        str_of(charts[0], "url"),
        format!("{}/charts/hello-0.1.0.tgz", http.url())
    );
    let files = lock_entries(&lock, "file");
    let file = |name: &str, platform: Option<&str>| {
        *files
            .iter()
            .find(|f| {
                str_of(f, "name") == name && f.get("platform").and_then(|p| p.as_str()) == platform
            })
            .unwrap_or_else(|| panic!("no file {name} {platform:?} in the lock:\n{lock}"))
    };
    for (platform, bytes, arch) in [
        ("linux/amd64", &tool_amd64, "amd64"),
        ("linux/arm64", &tool_arm64, "arm64"),
    ] {
        let f = file("tool", Some(platform));
        assert_eq!(str_of(f, "sha256"), digest_of(bytes));
        assert_eq!(
            str_of(f, "url"),
            format!("{}/files/tool-{arch}", http.url())
        );
        assert_eq!(
            f.get("size").and_then(|v| v.as_integer()),
            Some(bytes.len() as i64)
        );
    }
    let unpinned = file("notes", None);
    assert_eq!(
        str_of(unpinned, "sha256"),
        digest_of(&notes),
        "lock records the hash of an unpinned file"
    );
    assert_eq!(
        unpinned.get("size").and_then(|v| v.as_integer()),
        Some(notes.len() as i64)
    );

    // Build from a cold cache, verify, inspect.
    let out = project.path("full.tar");
    let logged_before = reg.requests().len();
    let built = build(&project.cache("build"), &spec, &out, &["-j", "8"]);
    assert!(built["blobs_fetched"].as_u64().unwrap() > 0);
    // Each blob crosses the network once, even the layer shared by two repositories.
    let blob_gets: Vec<String> = reg.requests()[logged_before..]
        .iter()
        .filter(|r| RequestKind::BlobGet.matches(r) && r.status == 200)
        .map(|r| r.uri.rsplit('/').next().unwrap().to_owned())
        .collect();
    let mut distinct = blob_gets.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        blob_gets.len(),
        distinct.len(),
        "a blob was downloaded twice: {blob_gets:?}"
    );
    let shared_layer = &seeded.share_a.layers[0].digest;
    assert_eq!(shared_layer, &seeded.share_b.layers[0].digest);
    assert_eq!(
        blob_gets.iter().filter(|d| *d == shared_layer).count(),
        1,
        "{blob_gets:?}"
    );
    let verified = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&out), "--json"],
    )
    .ok()
    .json();
    assert_eq!(verified["root"], built["root"]);
    assert_eq!(
        (
            verified["images"].as_u64(),
            verified["charts"].as_u64(),
            verified["files"].as_u64()
        ),
        (Some(6), Some(1), Some(3))
    );
    let inspection = ferry(&cache, &["inspect", s(&out), "--json"]).ok().json();
    let inspected = inspection["images"].as_array().unwrap();
    let multi_inspected = inspected
        .iter()
        .find(|i| i["reference"] == multi_ref.as_str())
        .unwrap();
    assert_eq!(
        multi_inspected["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );

    // Unpack; skopeo reads every image at its locked digest.
    let layout = project.path("layout");
    ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&out),
            "-o",
            s(&layout),
        ],
    )
    .ok();
    let scratch = project.path("scratch");
    let docker_ref = Seeded::docker_ref(&host);
    let docker_typed = [docker_ref.clone(), list_ref.clone()];
    for (reference, digest) in expected_images
        .iter()
        .filter(|(r, _)| !docker_typed.contains(r))
    {
        let index = (reference == &multi_ref).then_some(&seeded.multi);
        check_layout_image(&layout, reference, digest, index, &scratch);
    }
    // The shared layer is stored once.
    assert!(layout
        .join("blobs/sha256")
        .join(shared_layer.trim_start_matches("sha256:"))
        .is_file());
    // The chart and file artifacts are in the layout too.
    let refs = layout_refs(&layout);
    let manifest_of = |name: &str| -> serde_json::Value {
        let (_, digest) = refs
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("index.json has no {name}: {refs:?}"));
        let path = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    for (name, bytes) in [
        ("files.ferry.local/apps/tool:1.0.0-linux-amd64", &tool_amd64),
        ("files.ferry.local/apps/tool:1.0.0-linux-arm64", &tool_arm64),
        ("files.ferry.local/apps/notes:1.0.0", &notes),
    ] {
        let manifest = manifest_of(name);
        assert_eq!(
            manifest["layers"].as_array().unwrap().len(),
            1,
            "{name}: {manifest}"
        );
        assert_eq!(
            manifest["layers"][0]["digest"],
            digest_of(bytes).as_str(),
            "{name}"
        );
    }
    let chart_name = refs
        .iter()
        .map(|(n, _)| n.as_str())
        .find(|n| n.ends_with("/charts/hello:0.1.0"))
        .unwrap_or_else(|| panic!("no chart in index.json: {refs:?}"));
    let chart_manifest = manifest_of(chart_name);
    assert_eq!(
        chart_manifest["config"]["mediaType"],
        support::images::HELM_CONFIG
    );
    assert_eq!(
        chart_manifest["layers"][0]["mediaType"],
        support::images::HELM_CHART_LAYER
    );
    assert_eq!(
        chart_manifest["layers"][0]["digest"],
        format!("sha256:{}", chart.sha256)
    );

    // A bundle for linux/arm64 only keeps only the arm64 manifest of the multi-arch image.
    let arm_spec = project.bundle("arm", &["linux/arm64"], &[("multi", "2.0.0")]);
    ferry(&cache, &["lock", s(&arm_spec)]).ok();
    let arm_lock = project.lock("arm");
    let arm_multi = lock_image(&arm_lock, &multi_ref);
    assert_eq!(
        str_of(arm_multi, "digest"),
        seeded.multi.index_digest,
        "the index digest is still what is pinned"
    );
    assert_eq!(
        lock_platforms(arm_multi),
        vec![(
            "linux/arm64".to_owned(),
            seeded.multi.image("arm64").manifest_digest.clone()
        )]
    );
    let arm_out = project.path("arm.tar");
    build(&cache, &arm_spec, &arm_out, &[]);
    ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&arm_out)],
    )
    .ok();
    let arm_layout = project.path("arm-layout");
    ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&arm_out),
            "-o",
            s(&arm_layout),
        ],
    )
    .ok();
    let blob = |digest: &str| {
        arm_layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let (amd64, arm64) = (seeded.multi.image("amd64"), seeded.multi.image("arm64"));
    assert!(blob(&arm64.manifest_digest).is_file());
    assert!(blob(&arm64.layers[1].digest).is_file());
    assert!(
        !blob(&amd64.manifest_digest).exists(),
        "the amd64 manifest is not carried"
    );
    assert!(
        !blob(&amd64.layers[1].digest).exists(),
        "the amd64-only layer is not carried"
    );
    assert_eq!(
        digest_of(&layout_raw(&arm_layout, &multi_ref)),
        seeded.multi.index_digest
    );

    // The arm64-only bundle carries only the arm64 manifest of the Docker list too.
    let arm_list = lock_image(&arm_lock, &list_ref);
    assert_eq!(str_of(arm_list, "digest"), list_digest);
    assert_eq!(
        lock_platforms(arm_list),
        list_platforms
            .iter()
            .filter(|(p, _)| p == "linux/arm64")
            .cloned()
            .collect::<Vec<_>>()
    );

    // The Docker-media-type images must be readable from the unpacked layout
    // like every other image: skopeo 1.9.3 only looks up index.json entries of
    // OCI media types, so ferry lists them under their OCI equivalent there
    // (same digest, same bytes).
    let mut unreadable = Vec::new();
    for (reference, digest, is_list) in [
        (&docker_ref, &seeded.docker_digest, false),
        (&list_ref, &list_digest, true),
    ] {
        assert!(
            refs.contains(&(reference.clone(), digest.clone())),
            "index.json names {reference}: {refs:?}"
        );
        let mut cmd = support::skopeo::skopeo();
        cmd.args(["inspect", "--raw"])
            .arg(format!("oci:{}:{reference}", layout.display()));
        let out = support::run(&mut cmd);
        if !out.status.success() {
            unreadable.push(format!(
                "{reference}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        assert_eq!(
            &digest_of(&out.stdout),
            digest,
            "skopeo reads {reference} at its locked digest"
        );
        let target = scratch.join(reference.replace(['/', ':'], "_"));
        if is_list {
            // skopeo 1.9.3 rewrites a Docker manifest list read from an OCI layout
            // into an OCI index when copying with --all (it refuses with
            // --preserve-digests), so here the children are what must survive.
            skopeo_copy_from_oci_layout_all(&layout, reference, &target);
            let copied: serde_json::Value =
                serde_json::from_slice(&std::fs::read(target.join("manifest.json")).unwrap())
                    .unwrap();
            let children: Vec<String> = copied["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["digest"].as_str().unwrap().to_owned())
                .collect();
            let locked: Vec<String> = list_platforms.iter().map(|(_, d)| d.clone()).collect();
            for child in &locked {
                assert!(
                    children.contains(child),
                    "{child} survives the copy: {children:?}"
                );
            }
        } else {
            let copied = skopeo_copy_from_oci_layout_all(&layout, reference, &target);
            assert_eq!(&copied, digest);
        }
    }
    assert!(
        unreadable.is_empty(),
        "skopeo cannot read these images from the unpacked bundle:\n{}",
        unreadable.join("\n")
    );
}

// ---------------------------------------------------------------------------- 2. auth and TLS

/// Seeds a single-arch and a multi-arch image, locks and builds with `env`/`extra` flags.
fn lock_and_build_with(reg: &Registry, project: &Project, env: &[(&str, &str)], extra: &[&str]) {
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let single = layout.add_image(Some("single"), &ImageSpec::with_layers(100, 2, 8 * 1024));
    let multi = layout.add_multi_arch(Some("multi"), 110, 8 * 1024);
    seed(
        layout_dir.path(),
        "single",
        reg,
        "secure/single:1.0",
        SeedFormat::Oci,
        false,
    );
    seed(
        layout_dir.path(),
        "multi",
        reg,
        "secure/multi:1.0",
        SeedFormat::Oci,
        true,
    );
    let host = reg.host();
    let single_ref = format!("{host}/secure/single:1.0");
    let multi_ref = format!("{host}/secure/multi:1.0");
    project.component("secure", "1.0.0", &images_yaml(&[&single_ref, &multi_ref]));
    let spec = project.bundle(
        "secure",
        &["linux/amd64", "linux/arm64"],
        &[("secure", "1.0.0")],
    );
    let cache = project.cache("auth");

    let mut args = vec!["lock", s(&spec)];
    args.extend_from_slice(extra);
    ferry_env(&cache, env, &args).ok();
    let lock = project.lock("secure");
    assert_eq!(
        str_of(lock_image(&lock, &single_ref), "digest"),
        single.manifest_digest
    );
    assert_eq!(
        str_of(lock_image(&lock, &multi_ref), "digest"),
        multi.index_digest
    );
    assert_eq!(lock_platforms(lock_image(&lock, &multi_ref)).len(), 2);

    let out = project.path("secure.tar");
    let mut args = vec!["build", s(&spec), "--locked", "-o", s(&out), "--json"];
    args.extend_from_slice(extra);
    let report = ferry_env(&project.cache("auth-build"), env, &args)
        .ok()
        .json();
    assert!(report["blobs_fetched"].as_u64().unwrap() > 0);
    let verified = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&out), "--json"],
    )
    .ok()
    .json();
    assert_eq!(verified["images"], 2);
    let layout_out = project.path("layout");
    ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&out),
            "-o",
            s(&layout_out),
        ],
    )
    .ok();
    check_layout_image(
        &layout_out,
        &single_ref,
        &single.manifest_digest,
        None,
        &project.path("scratch"),
    );
    check_layout_image(
        &layout_out,
        &multi_ref,
        &multi.index_digest,
        Some(&multi),
        &project.path("scratch"),
    );
}

/// Locking without credentials fails with an authentication error and writes no lock.
fn assert_lock_needs_credentials(reg: &Registry, project: &Project, extra: &[&str]) {
    let spec = project.root().join("bundles/secure.yaml");
    let lockfile = project.lockfile("secure");
    std::fs::remove_file(&lockfile).unwrap();
    let mut args = vec!["lock", s(&spec)];
    args.extend_from_slice(extra);
    let run = ferry(&project.cache("anonymous"), &args).failed();
    assert!(run.stderr.contains("authentication"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&reg.host()),
        "the error names the registry: {}",
        run.stderr
    );
    assert!(!lockfile.exists(), "a failed lock writes no lockfile");

    // Wrong credentials are refused too.
    let wrong = docker_config(
        &project.path("wrong"),
        &reg.host(),
        "ferry",
        "not-the-password",
    );
    let run = ferry_env(
        &project.cache("wrong"),
        &[("DOCKER_CONFIG", s(&wrong))],
        &args,
    )
    .failed();
    assert!(run.stderr.contains("authentication"), "{}", run.stderr);
    assert!(!lockfile.exists());
}

#[test]
fn basic_auth_registry() {
    require_tools();
    let reg = Registry::start(RegistryOptions::basic("alice", "s3cret-pass"));
    let project = Project::new();
    let config = docker_config(project.root(), &reg.host(), "alice", "s3cret-pass");
    lock_and_build_with(&reg, &project, &[("DOCKER_CONFIG", s(&config))], &[]);
    assert_lock_needs_credentials(&reg, &project, &[]);
}

#[test]
fn token_auth_registry() {
    require_tools();
    let reg = Registry::start(RegistryOptions::token());
    let project = Project::new();
    let config = docker_config(project.root(), &reg.host(), "ferry", "ferry-pass");
    lock_and_build_with(&reg, &project, &[("DOCKER_CONFIG", s(&config))], &[]);
    let token_log = std::fs::read_to_string(reg.token_log_path().unwrap()).unwrap();
    assert!(
        token_log.contains("ferry"),
        "ferry got its tokens from the token service:\n{token_log}"
    );
    assert_lock_needs_credentials(&reg, &project, &[]);
}

#[test]
fn tls_registry_with_ca_cert() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain().with_tls());
    let project = Project::new();
    let ca = reg.ca_cert_path().unwrap().to_owned();
    lock_and_build_with(&reg, &project, &[], &["--ca-cert", s(&ca)]);
    let lockfile = project.lockfile("secure");
    let spec = project.root().join("bundles/secure.yaml");

    // The CA can come from `--registry-config` (`ca-certs`) instead of the flag.
    let config = project.path("registries.toml");
    std::fs::write(&config, format!("ca-certs = [{:?}]\n", s(&ca))).unwrap();
    ferry(
        &project.cache("config"),
        &["lock", s(&spec), "--check", "--registry-config", s(&config)],
    )
    .ok();

    // Without the CA the registry's certificate is not trusted: no lock.
    std::fs::remove_file(&lockfile).unwrap();
    let run = ferry(&project.cache("no-ca"), &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains(&reg.host()), "{}", run.stderr);
    assert!(!lockfile.exists());
}

#[test]
fn token_auth_registry_over_tls() {
    require_tools();
    let reg = Registry::start(RegistryOptions::token().with_tls());
    assert!(reg.realm().unwrap().starts_with("https://"));
    let project = Project::new();
    let config = docker_config(project.root(), &reg.host(), "reader", "reader-pass");
    let ca = reg.ca_cert_path().unwrap().to_owned();
    lock_and_build_with(
        &reg,
        &project,
        &[("DOCKER_CONFIG", s(&config))],
        &["--ca-cert", s(&ca)],
    );
    assert_lock_needs_credentials(&reg, &project, &["--ca-cert", s(&ca)]);
}

// ---------------------------------------------------------------------------- 3. reproducibility

#[test]
fn same_lock_same_archive_bytes_across_caches_and_concurrency() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    let seeded = seed_images(&reg);
    let (project, spec) = apps_project(&reg.host());
    ferry(&project.cache("lock"), &["lock", s(&spec)]).ok();
    assert_eq!(
        str_of(
            lock_image(&project.lock("apps"), &Seeded::multi_ref(&reg.host())),
            "digest"
        ),
        seeded.multi.index_digest
    );

    // A second copy of the project (spec + lock) elsewhere.
    let other = Project::new();
    for sub in ["bundles", "vendor-manifests", "lockfiles"] {
        copy_tree(&project.root().join(sub), &other.root().join(sub));
    }
    let out_a = project.path("out/a.tar");
    let out_b = other.path("elsewhere/b.tar");
    let a = build(&project.cache("one"), &spec, &out_a, &["-j", "1"]);
    let b = build(
        &other.cache("eight"),
        &other.root().join("bundles/apps.yaml"),
        &out_b,
        &["-j", "8"],
    );
    assert!(
        a["blobs_fetched"].as_u64().unwrap() > 0 && b["blobs_fetched"].as_u64().unwrap() > 0,
        "both builds were cold"
    );
    assert_eq!(
        sha256_file(&out_a),
        sha256_file(&out_b),
        "same lock, same bytes"
    );
    assert_eq!(a["root"], b["root"]);
    ferry(
        &project.cache("one"),
        &["verify", "--insecure-skip-signature", s(&out_b)],
    )
    .ok();
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------- 4. warm cache

#[test]
fn a_warm_cache_fetches_no_blobs() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    seed_images(&reg);
    let (project, spec) = apps_project(&reg.host());
    let cache = project.cache("shared");
    ferry(&cache, &["lock", s(&spec)]).ok();

    let before_first = reg.count(RequestKind::BlobGet);
    let first = build(&cache, &spec, &project.path("first.tar"), &[]);
    let after_first = reg.count(RequestKind::BlobGet);
    assert!(first["blobs_fetched"].as_u64().unwrap() > 0);
    assert!(
        after_first > before_first,
        "the cold build fetched blobs from the registry"
    );

    let any_before = reg.count(RequestKind::Any);
    let second = build(&cache, &spec, &project.path("second.tar"), &[]);
    assert_eq!(second["blobs_fetched"], 0, "{second}");
    assert_eq!(second["bytes_fetched"], 0, "{second}");
    assert_eq!(
        reg.count(RequestKind::BlobGet),
        after_first,
        "no blob GET reached the registry"
    );
    assert_eq!(
        reg.count(RequestKind::Any),
        any_before,
        "a warm build needs no registry at all"
    );
    assert_eq!(
        sha256_file(project.path("first.tar")),
        sha256_file(project.path("second.tar"))
    );
    assert_cache_is_sound(&cache);
}

// ---------------------------------------------------------------------------- 5. OCI chart

#[test]
fn oci_chart_is_locked_by_manifest_digest_and_carried() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let tgz = support::charts::chart_tgz_bytes(
        "mychart",
        "0.2.0",
        &[(
            "svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: mychart\n",
        )],
        "port: 80\n",
    );
    let artifact = layout.add_helm_chart(Some("chart"), "mychart", "0.2.0", &tgz);
    assert_eq!(
        seed(
            layout_dir.path(),
            "chart",
            &reg,
            "charts/mychart:0.2.0",
            SeedFormat::Oci,
            false
        ),
        artifact.manifest_digest
    );

    let project = Project::new();
    project.component(
        "charted",
        "1.0.0",
        &format!(
            "charts:\n  - {{name: mychart, version: 0.2.0, repo: oci://{}/charts}}\n",
            reg.host()
        ),
    );
    let spec = project.bundle("charted", &["linux/amd64"], &[("charted", "1.0.0")]);
    let cache = project.cache("c");
    ferry(&cache, &["lock", s(&spec)]).ok();
    let lock = project.lock("charted");
    let charts = lock_entries(&lock, "chart");
    assert_eq!(charts.len(), 1);
    assert_eq!(str_of(charts[0], "oci-digest"), artifact.manifest_digest);
    assert_eq!(
        str_of(charts[0], "sha256"),
        digest_of(&tgz),
        "sha256 is the chart archive's"
    );
    let chart_ref = format!("{}/charts/mychart:0.2.0", reg.host());

    let out = project.path("charted.tar");
    build(&project.cache("build"), &spec, &out, &[]);
    let verified = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&out), "--json"],
    )
    .ok()
    .json();
    assert_eq!(verified["charts"], 1);
    let inspection = ferry(&cache, &["inspect", s(&out), "--json"]).ok().json();
    let inspected = inspection["charts"].as_array().unwrap();
    assert_eq!(inspected.len(), 1, "{inspection}");
    assert_eq!(inspected[0]["name"], "mychart");
    assert_eq!(inspected[0]["version"], "0.2.0");
    assert_eq!(inspected[0]["sha256"], digest_of(&tgz).as_str());

    // The bundle carries the original chart manifest under the chart's OCI reference.
    let unpacked = project.path("layout");
    ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&out),
            "-o",
            s(&unpacked),
        ],
    )
    .ok();
    let refs = layout_refs(&unpacked);
    assert!(
        refs.contains(&(chart_ref.clone(), artifact.manifest_digest.clone())),
        "index.json names {chart_ref} at {}: {refs:?}",
        artifact.manifest_digest
    );
    assert_eq!(
        digest_of(&layout_raw(&unpacked, &chart_ref)),
        artifact.manifest_digest
    );
    let copied = skopeo_copy_from_oci_layout(&unpacked, &chart_ref, &project.path("scratch"));
    assert_eq!(copied, artifact.manifest_digest);
    let layer = std::fs::read(
        project
            .path("scratch")
            .join(artifact.layers[0].digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(layer, tgz, "the chart archive is carried byte for byte");
}

// ---------------------------------------------------------------------------- 6. bad input

#[test]
fn a_missing_tag_fails_naming_the_image_and_writes_no_lock() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    layout.add_image(Some("x"), &ImageSpec::with_layers(200, 1, 1024));
    seed(
        layout_dir.path(),
        "x",
        &reg,
        "lib/app:1.0",
        SeedFormat::Oci,
        false,
    );

    let project = Project::new();
    let good = format!("{}/lib/app:1.0", reg.host());
    let missing = format!("{}/lib/app:does-not-exist", reg.host());
    let no_repo = format!("{}/nowhere/app:1.0", reg.host());
    let bad_pin = format!("{}/lib/app:1.0@sha256:{}", reg.host(), "0".repeat(64));
    project.component(
        "broken",
        "1.0.0",
        &images_yaml(&[&good, &missing, &no_repo, &bad_pin]),
    );
    let spec = project.bundle("broken", &["linux/amd64"], &[("broken", "1.0.0")]);
    let run = ferry(&project.cache("c"), &["lock", s(&spec)]).failed();
    assert!(
        run.stderr.contains(&missing),
        "the error names the image: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&no_repo),
        "the error names the image: {}",
        run.stderr
    );
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&"0".repeat(64)),
        "a pinned digest the registry does not hold is named: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&format!("{good} ")),
        "the good image is not blamed: {}",
        run.stderr
    );
    assert!(
        !project.lockfile("broken").exists(),
        "no lockfile is written"
    );
    assert!(
        !project.root().join("lockfiles").exists()
            || std::fs::read_dir(project.root().join("lockfiles"))
                .unwrap()
                .count()
                == 0
    );
}

#[test]
fn a_file_with_the_wrong_sha256_is_refused() {
    require_tools();
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("kubelet-amd64"), b"the real kubelet\n").unwrap();
    let http = HttpServer::serve_dir(www.path());
    let project = Project::new();
    let pinned = sha256_hex(b"some other kubelet\n");
    project.component(
        "node",
        "1.0.0",
        &format!(
            "files:\n  - name: kubelet\n    url: {}/kubelet-{{arch}}\n    sha256:\n      amd64: {pinned}\n",
            http.url()
        ),
    );
    let spec = project.bundle("node", &["linux/amd64"], &[("node", "1.0.0")]);
    let cache = project.cache("c");
    let run = ferry(&cache, &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("sha256 mismatch"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}/kubelet-amd64", http.url())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&pinned), "{}", run.stderr);
    assert!(
        run.stderr.contains(&sha256_hex(b"the real kubelet\n")),
        "{}",
        run.stderr
    );
    assert!(!project.lockfile("node").exists());
    let stored = assert_cache_is_sound(&cache);
    assert!(
        !stored.contains(&sha256_hex(b"the real kubelet\n")),
        "the mismatching file is not cached"
    );
}

/// A plain registry behind a fault proxy with an image (one 256 KiB incompressible layer) and
/// a multi-arch index, locked through the proxy (refs name the proxy's host). Returns
/// (registry, proxy, project, spec, image, index).
fn proxied_project() -> (Registry, FaultProxy, Project, PathBuf, ImageInfo, IndexInfo) {
    let reg = Registry::start(RegistryOptions::plain());
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let image = layout.add_image(
        Some("app"),
        &ImageSpec::new(vec![
            LayerSpec::new(300, 8 * 1024),
            LayerSpec::random(301, 256 * 1024),
        ]),
    );
    let multi = layout.add_multi_arch(Some("multi"), 310, 16 * 1024);
    seed(
        layout_dir.path(),
        "app",
        &reg,
        "lib/app:1.0",
        SeedFormat::Oci,
        false,
    );
    seed(
        layout_dir.path(),
        "multi",
        &reg,
        "lib/multi:1.0",
        SeedFormat::Oci,
        true,
    );
    let proxy = FaultProxy::start(&reg.host());
    let project = Project::new();
    let app = format!("{}/lib/app:1.0", proxy.host());
    let multi_ref = format!("{}/lib/multi:1.0", proxy.host());
    project.component("app", "1.0.0", &images_yaml(&[&app, &multi_ref]));
    let spec = project.bundle("app", &["linux/amd64", "linux/arm64"], &[("app", "1.0.0")]);
    ferry(&project.cache("lock"), &["lock", s(&spec)]).ok();
    assert_eq!(
        str_of(lock_image(&project.lock("app"), &app), "digest"),
        image.manifest_digest
    );
    (reg, proxy, project, spec, image, multi)
}

#[test]
fn a_tampered_manifest_fails_the_build_naming_the_digest() {
    require_tools();
    let (_reg, proxy, project, spec, image, multi) = proxied_project();
    proxy.set_mode(FaultMode::tamper_body("GET /manifests/sha256:", 100));
    let out = project.path("tampered.tar");
    let cache = project.cache("build");
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    assert!(
        proxy.faults_injected() >= 1,
        "the proxy tampered with a manifest"
    );
    assert!(run.stderr.contains("content hashes to"), "{}", run.stderr);
    let wanted = [
        &image.manifest_digest,
        &multi.index_digest,
        &multi.images[0].manifest_digest,
        &multi.images[1].manifest_digest,
    ];
    assert!(
        wanted
            .iter()
            .any(|d| run.stderr.contains(&format!("not the requested {d}"))),
        "the error names the requested digest: {}",
        run.stderr
    );
    assert!(!out.exists(), "no archive after a failed build");
    assert_cache_is_sound(&cache);

    // A layer altered in transit: refused, named, and not cached.
    let layer = image.layers[1].digest.clone();
    proxy.set_mode(FaultMode::tamper_body(&format!("GET /blobs/{layer}"), 100));
    let before = proxy.faults_injected();
    let cache = project.cache("build-blob");
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    assert!(
        proxy.faults_injected() > before,
        "the proxy tampered with the layer"
    );
    assert!(
        run.stderr.contains(&layer),
        "the error names the blob: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hashes to") || run.stderr.contains("hashed to"),
        "the error says the content does not match its digest: {}",
        run.stderr
    );
    assert!(!out.exists(), "no archive after a failed build");
    let stored = assert_cache_is_sound(&cache);
    assert!(!stored.contains(&layer.trim_start_matches("sha256:").to_owned()));
}

#[test]
fn a_registry_dying_mid_blob_fails_cleanly_then_recovers() {
    require_tools();
    let (_reg, proxy, project, spec, image, _multi) = proxied_project();
    let layer = image.layers[1].digest.clone();
    proxy.set_mode(FaultMode::die_mid_body(
        &format!("GET /blobs/{layer}"),
        1000,
        20,
    ));
    let out = project.path("dying.tar");
    let cache = project.cache("build");
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    let cut = proxy.faults_injected();
    assert!(
        (2..20).contains(&cut),
        "ferry retried, then gave up ({cut} cut responses)"
    );
    assert!(
        run.stderr.contains(&layer),
        "the error names the blob: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("truncated") || run.stderr.contains("connection broke"),
        "the error says the download broke: {}",
        run.stderr
    );
    assert!(!out.exists(), "no archive after a failed build");
    let stored = assert_cache_is_sound(&cache);
    assert!(
        !stored.contains(&layer.trim_start_matches("sha256:").to_owned()),
        "the cut blob is not cached"
    );
    let leftovers: Vec<String> = [cache.join("tmp"), cache.join("packs-v1")]
        .iter()
        .flat_map(|d| walk(d))
        .collect();
    assert!(
        leftovers.is_empty(),
        "a failed build leaves no temporary files or packs: {leftovers:?}"
    );

    proxy.set_mode(FaultMode::PassThrough);
    let report = build(&cache, &spec, &out, &[]);
    assert!(report["blobs_fetched"].as_u64().unwrap() >= 1);
    ferry(&cache, &["verify", "--insecure-skip-signature", s(&out)]).ok();
    assert_cache_is_sound(&cache);
}

#[test]
fn transient_faults_are_retried_transparently() {
    require_tools();
    let (_reg, proxy, project, spec, image, _multi) = proxied_project();
    let reference = build(
        &project.cache("clean"),
        &spec,
        &project.path("clean.tar"),
        &[],
    );

    let layer = image.layers[1].digest.clone();
    let faults: [(&str, FaultMode, usize); 4] = [
        (
            "die",
            FaultMode::die_mid_body(&format!("GET /blobs/{layer}"), 1000, 2),
            2,
        ),
        ("blob-500", FaultMode::status(500, 2, "GET /blobs/"), 2),
        (
            "manifest-503",
            FaultMode::status(503, 1, "GET /manifests/"),
            1,
        ),
        ("429", FaultMode::rate_limit(2), 2),
    ];
    for (name, mode, times) in faults {
        let before = proxy.faults_injected();
        proxy.set_mode(mode);
        let out = project.path(&format!("{name}.tar"));
        let report = build(&project.cache(name), &spec, &out, &[]);
        assert_eq!(
            proxy.faults_injected() - before,
            times,
            "{name}: every fault fired"
        );
        assert_eq!(
            proxy.mode(),
            FaultMode::PassThrough,
            "{name}: the faults were used up"
        );
        assert_eq!(
            report["sha256"], reference["sha256"],
            "{name}: same archive as the clean build"
        );
    }
}

#[test]
fn file_downloads_retry_transient_faults_and_fail_cleanly_on_persistent_ones() {
    require_tools();
    let www = tempfile::tempdir().unwrap();
    let pinned = support::images::pseudo_random_bytes(600, 200 * 1024);
    let free = support::images::pseudo_random_bytes(601, 150 * 1024);
    std::fs::write(www.path().join("pinned.bin"), &pinned).unwrap();
    std::fs::write(www.path().join("free.bin"), &free).unwrap();
    let http = HttpServer::serve_dir(www.path());
    let proxy = FaultProxy::start(&http.host());
    let project = Project::new();
    project.component(
        "bins",
        "1.0.0",
        &format!(
            "files:\n  - name: pinned\n    url: {u}/pinned.bin\n    sha256: {h}\n  - name: free\n    url: {u}/free.bin\n",
            u = proxy.url(),
            h = sha256_hex(&pinned)
        ),
    );
    let spec = project.bundle("bins", &["linux/amd64"], &[("bins", "1.0.0")]);

    // A server that always dies mid-body: no lock, and nothing half-downloaded is cached.
    proxy.set_mode(FaultMode::die_mid_body("GET /free.bin", 1000, 20));
    let cache = project.cache("dying");
    let run = ferry(&cache, &["lock", s(&spec)]).failed();
    assert!(
        run.stderr.contains(&format!("{}/free.bin", proxy.url())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("truncated") || run.stderr.contains("connection broke"),
        "{}",
        run.stderr
    );
    assert!(!project.lockfile("bins").exists());
    let stored = assert_cache_is_sound(&cache);
    assert!(!stored.contains(&sha256_hex(&free)));

    // Two cut responses, then 500s: retried, and the unpinned file's hash is the whole file's.
    proxy.set_mode(FaultMode::die_mid_body("GET /free.bin", 1000, 2));
    let before = proxy.faults_injected();
    ferry(&cache, &["lock", s(&spec)]).ok();
    assert_eq!(proxy.faults_injected() - before, 2);
    let lock = project.lock("bins");
    let files = lock_entries(&lock, "file");
    let free_entry = files.iter().find(|f| str_of(f, "name") == "free").unwrap();
    assert_eq!(str_of(free_entry, "sha256"), digest_of(&free));
    assert_eq!(
        free_entry.get("size").and_then(|v| v.as_integer()),
        Some(free.len() as i64)
    );

    proxy.set_mode(FaultMode::status(500, 2, "GET /"));
    let out = project.path("bins.tar");
    build(&project.cache("build"), &spec, &out, &[]);
    assert_eq!(proxy.faults_injected() - before, 4);
    let verified = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&out), "--json"],
    )
    .ok()
    .json();
    assert_eq!(verified["files"], 2);
}

// ---------------------------------------------------------------------------- 7. mirror

#[test]
fn mirrors_resolve_while_the_lock_keeps_the_original_reference() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let app = layout.add_image(Some("app"), &ImageSpec::with_layers(400, 2, 8 * 1024));
    let multi = layout.add_multi_arch(Some("multi"), 410, 8 * 1024);
    seed(
        layout_dir.path(),
        "app",
        &reg,
        "lib/app:1.0",
        SeedFormat::Oci,
        false,
    );
    seed(
        layout_dir.path(),
        "multi",
        &reg,
        "prefix/x/y:1",
        SeedFormat::Oci,
        true,
    );

    let project = Project::new();
    let (app_ref, multi_ref) = ("mirror.test/lib/app:1.0", "upstream.example/x/y:1");
    project.component("mirrored", "1.0.0", &images_yaml(&[app_ref, multi_ref]));
    let spec = project.bundle(
        "mirrored",
        &["linux/amd64", "linux/arm64"],
        &[("mirrored", "1.0.0")],
    );
    let mirror_a = format!("mirror.test=http://{}", reg.host());
    let mirror_b = format!("upstream.example=http://{}/prefix", reg.host());
    let mirrors = ["--mirror", mirror_a.as_str(), "--mirror", mirror_b.as_str()];
    let cache = project.cache("c");

    let before = reg.count(RequestKind::ManifestGet);
    let mut args = vec!["lock", s(&spec)];
    args.extend_from_slice(&mirrors);
    ferry(&cache, &args).ok();
    assert!(
        reg.count(RequestKind::ManifestGet) > before,
        "the mirror answered"
    );
    let lock = project.lock("mirrored");
    assert_eq!(
        str_of(lock_image(&lock, app_ref), "digest"),
        app.manifest_digest
    );
    assert_eq!(
        str_of(lock_image(&lock, multi_ref), "digest"),
        multi.index_digest
    );
    let text = std::fs::read_to_string(project.lockfile("mirrored")).unwrap();
    assert!(
        !text.contains(&reg.host()),
        "the lock does not mention the mirror:\n{text}"
    );
    assert!(
        !text.contains("prefix/"),
        "the lock does not mention the mirror path:\n{text}"
    );

    let out = project.path("mirrored.tar");
    build(&project.cache("build"), &spec, &out, &mirrors);
    let verified = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&out), "--json"],
    )
    .ok()
    .json();
    assert_eq!(verified["images"], 2);
    let inspection = ferry(&cache, &["inspect", s(&out), "--json"]).ok().json();
    let names: Vec<&str> = inspection["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![app_ref, multi_ref]);
    let unpacked = project.path("layout");
    ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&out),
            "-o",
            s(&unpacked),
        ],
    )
    .ok();
    let refs = layout_refs(&unpacked);
    assert!(
        refs.contains(&(app_ref.to_owned(), app.manifest_digest.clone())),
        "{refs:?}"
    );
    assert!(
        refs.contains(&(multi_ref.to_owned(), multi.index_digest.clone())),
        "{refs:?}"
    );
    assert!(
        refs.iter().all(|(name, _)| !name.contains(&reg.host())),
        "{refs:?}"
    );
    check_layout_image(
        &unpacked,
        app_ref,
        &app.manifest_digest,
        None,
        &project.path("scratch"),
    );
    check_layout_image(
        &unpacked,
        multi_ref,
        &multi.index_digest,
        Some(&multi),
        &project.path("scratch"),
    );
}

#[test]
fn a_mirror_that_needs_credentials_uses_the_mirror_hosts_credentials() {
    require_tools();
    let reg = Registry::start(RegistryOptions::basic("mirror-user", "mirror-pass"));
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let app = layout.add_image(Some("app"), &ImageSpec::with_layers(450, 1, 4096));
    seed(
        layout_dir.path(),
        "app",
        &reg,
        "hub/lib/app:1.0",
        SeedFormat::Oci,
        false,
    );
    let project = Project::new();
    let app_ref = "private.example/lib/app:1.0";
    project.component("m", "1.0.0", &images_yaml(&[app_ref]));
    let spec = project.bundle("m", &["linux/amd64"], &[("m", "1.0.0")]);
    let mirror = format!("private.example=http://{}/hub", reg.host());
    let docker = docker_config(project.root(), &reg.host(), "mirror-user", "mirror-pass");
    let env = [("DOCKER_CONFIG", s(&docker))];
    ferry_env(
        &project.cache("c"),
        &env,
        &["lock", s(&spec), "--mirror", &mirror],
    )
    .ok();
    assert_eq!(
        str_of(lock_image(&project.lock("m"), app_ref), "digest"),
        app.manifest_digest
    );
    let out = project.path("m.tar");
    let report = ferry_env(
        &project.cache("b"),
        &env,
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&out),
            "--mirror",
            &mirror,
            "--json",
        ],
    )
    .ok()
    .json();
    assert!(report["blobs_fetched"].as_u64().unwrap() > 0);
    ferry(
        &project.cache("c"),
        &["verify", "--insecure-skip-signature", s(&out)],
    )
    .ok();
}

// ---------------------------------------------------------------------------- 8. lock --check

#[test]
fn lock_check_notices_a_retagged_image() {
    require_tools();
    let reg = Registry::start(RegistryOptions::plain());
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(layout_dir.path());
    let first = layout.add_image(Some("v1"), &ImageSpec::with_layers(500, 1, 4096));
    let second = layout.add_image(
        Some("v2"),
        &ImageSpec::with_layers(500, 1, 4096).label("rebuilt", "yes"),
    );
    assert_ne!(first.manifest_digest, second.manifest_digest);
    seed(
        layout_dir.path(),
        "v1",
        &reg,
        "lib/app:1.0",
        SeedFormat::Oci,
        false,
    );

    let project = Project::new();
    let reference = format!("{}/lib/app:1.0", reg.host());
    project.component("app", "1.0.0", &images_yaml(&[&reference]));
    let spec = project.bundle("app", &["linux/amd64"], &[("app", "1.0.0")]);
    let cache = project.cache("c");
    ferry(&cache, &["lock", s(&spec)]).ok();
    let locked = std::fs::read(project.lockfile("app")).unwrap();
    let report = ferry(&cache, &["lock", s(&spec), "--check", "--json"])
        .ok()
        .json();
    assert_eq!(report["up_to_date"], true);

    // Someone pushes another image to the same tag.
    seed(
        layout_dir.path(),
        "v2",
        &reg,
        "lib/app:1.0",
        SeedFormat::Oci,
        false,
    );
    let run = ferry(&project.cache("fresh"), &["lock", s(&spec), "--check"]).failed();
    assert!(
        run.stderr.contains(&format!(
            "image {reference} now resolves to {} (locked: {})",
            second.manifest_digest, first.manifest_digest
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(project.lockfile("app")).unwrap(),
        locked,
        "--check does not rewrite the lock"
    );
    // The same cache (holding the old manifest) must notice too.
    let run = ferry(&cache, &["lock", s(&spec), "--check"]).failed();
    assert!(
        run.stderr
            .contains(&format!("now resolves to {}", second.manifest_digest)),
        "{}",
        run.stderr
    );
    // The lock pins the digest, which the registry still serves: `build --locked` carries
    // the locked image, not what the tag points at now.
    let out = project.path("old.tar");
    build(&cache, &spec, &out, &[]);
    let inspection = ferry(&cache, &["inspect", s(&out), "--json"]).ok().json();
    assert_eq!(
        inspection["images"][0]["digest"],
        first.manifest_digest.as_str()
    );
}

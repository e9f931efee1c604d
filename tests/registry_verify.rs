//! What a registry holds after `ferry push` is provable: the signed root index is in the
//! bundle's repository at its exact digest (read back by `skopeo`), pushed artifacts are read by
//! independent clients (PyPI's `oras` for a file, the real Helm SDK for a chart), no blob is
//! uploaded twice (the root's blobs arrive by mounts, counted in the registry's request log),
//! and `ferry verify --registry` checks the signature and every artifact, reporting exactly what
//! was tampered with. Registries are Debian's `docker-registry` on 127.0.0.1; Harbor is
//! `tests/harbor_double` in front of one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod harbor_double;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{
    docker_config, ferry, ferry_env, generate_key, helm_python, lock_and_build_with, s,
    write_component, write_spec, Run,
};
use harbor_double::HarborDouble;
use support::skopeo::skopeo;
use support::{
    digest_of, require_tools, sha256_hex, skopeo_inspect_raw, write_chart, write_chart_index,
    HttpServer, ImageInfo, ImageSpec, IndexInfo, LayerSpec, LoggedRequest, OciLayoutBuilder,
    Registry, RegistryOptions, RequestKind,
};

const APP: &str = "docker.io/library/app:1.0";
const MULTI: &str = "quay.io/org/multi:2.0";
const NAME: &str = "rv";
const BUNDLE_REPO: &str = "ferry-bundle/rv";

/// A signed bundle with an image, a multi-arch image, a chart and a file.
struct Fixture {
    root: PathBuf,
    bundle: PathBuf,
    public: PathBuf,
    app: ImageInfo,
    multi: IndexInfo,
    /// The root's digest and exact bytes.
    root_digest: String,
    root_bytes: Vec<u8>,
    /// The file artifact's content.
    tool: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        require_tools();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("registry_verify")
            .join(format!("p{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let layout = root.join("upstream/layout");
        let mut builder = OciLayoutBuilder::new(&layout);
        let app = builder.add_image(
            Some(APP),
            &ImageSpec::new(vec![
                LayerSpec::new(1, 16 * 1024),
                LayerSpec::random(2, 128 * 1024),
            ]),
        );
        let multi = builder.add_multi_arch(Some(MULTI), 10, 24 * 1024);
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
        let tool: Vec<u8> = (0..300)
            .map(|i| format!("#!/bin/sh\n# the tool, line {i}\n"))
            .collect::<String>()
            .into_bytes();
        std::fs::write(www.join("files/tool"), &tool).unwrap();
        let http = HttpServer::serve_dir(&www);
        write_component(
            &root,
            "apps",
            "1.0.0",
            &format!(
                "images:\n  - ref: {APP}\n    layout: ../../upstream/layout\n  - ref: {MULTI}\n    layout: ../../upstream/layout\ncharts:\n  - {{name: hello, version: 0.1.0, repo: {url}/charts}}\nfiles:\n  - name: tool\n    url: {url}/files/tool\n    sha256: {sha}\n",
                url = http.url(),
                sha = sha256_hex(&tool),
            ),
        );
        let spec = write_spec(&root, NAME, "apps");
        let key = root.join("cosign.key");
        let public = root.join("cosign.pub");
        generate_key(&root.join("cache"), &[], &key, &public, &[]).ok();
        let bundle = root.join("rv.tar");
        lock_and_build_with(&root, &spec, NAME, &bundle, &["--sign-key", s(&key)]);
        drop(http);
        let (root_digest, root_bytes) = bundle_root(&bundle);
        Fixture {
            root,
            bundle,
            public,
            app,
            multi,
            root_digest,
            root_bytes,
            tool,
        }
    })
}

/// The root's digest (from `index.json`) and its exact bytes, read from the archive.
fn bundle_root(bundle: &Path) -> (String, Vec<u8>) {
    let mut index = None;
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
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
    let index: serde_json::Value = serde_json::from_slice(&index.unwrap()).unwrap();
    let root = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "ferry-bundle")
        .expect("a root in index.json")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = blobs.remove(&root).unwrap();
    (root, bytes)
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferry-registry-verify-")
        .tempdir()
        .unwrap()
}

/// `ferry push` of the signed bundle (trusting its key) to `to`; returns the image map rows
/// as `original → (target without host, digest, kind)`.
fn push_signed(
    dir: &Path,
    env: &[(&str, &str)],
    to: &str,
    host: &str,
) -> BTreeMap<String, (String, String, String)> {
    let fx = fixture();
    let map = dir.join("image-map.json");
    ferry_env(
        &dir.join("cache"),
        env,
        &[
            "push",
            s(&fx.bundle),
            "--to",
            to,
            "--key",
            s(&fx.public),
            "--image-map",
            s(&map),
            "--json",
        ],
    )
    .ok();
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let target = row["target"].as_str().unwrap();
            (
                row["original"].as_str().unwrap().to_owned(),
                (
                    target
                        .strip_prefix(&format!("{host}/"))
                        .unwrap_or(target)
                        .to_owned(),
                    row["digest"].as_str().unwrap().to_owned(),
                    row["kind"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

/// `ferry verify --registry REGISTRY BUNDLE --key PUB --json EXTRA…`.
fn verify_registry(dir: &Path, env: &[(&str, &str)], registry: &str, extra: &[&str]) -> Run {
    let fx = fixture();
    let mut args = vec![
        "verify",
        s(&fx.bundle),
        "--registry",
        registry,
        "--key",
        s(&fx.public),
        "--json",
    ];
    args.extend_from_slice(extra);
    ferry_env(&dir.join("cache"), env, &args)
}

/// `kind original → status` of a `verify --registry --json` report.
fn statuses(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                format!(
                    "{} {}",
                    a["kind"].as_str().unwrap(),
                    a["original"].as_str().unwrap()
                ),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The report: the first JSON document on stdout (a failed run prints its error after it).
fn json_of(run: &Run) -> serde_json::Value {
    serde_json::Deserializer::from_str(&run.stdout)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON report:\n{}\n{}", run.stdout, run.stderr))
}

/// `(repository, digest)` of each completed (201) blob upload in a registry log.
fn uploads_by_repo(requests: &[LoggedRequest]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|r| r.method == "PUT" && r.status == 201 && r.uri.contains("/blobs/uploads/"))
        .filter_map(|r| {
            let repo = r
                .uri
                .trim_start_matches("/v2/")
                .split("/blobs/uploads/")
                .next()?;
            let query = r.uri.split_once('?')?.1;
            let digest = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "digest")?
                .1
                .into_owned();
            Some((repo.to_owned(), digest))
        })
        .collect()
}

/// The digests mounted (201) into `repository`.
fn mounts_into(requests: &[LoggedRequest], repository: &str) -> BTreeSet<String> {
    requests
        .iter()
        .filter(|r| RequestKind::BlobMount.matches(r) && r.status == 201)
        .filter(|r| {
            r.uri
                .starts_with(&format!("/v2/{repository}/blobs/uploads/"))
        })
        .filter_map(|r| {
            let query = r.uri.split_once('?')?.1;
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "mount")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

fn python(program: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Python with PyPI's `oras` (installed by scripts/test.sh); fails loudly without it.
fn oras_python() -> PathBuf {
    let python = PathBuf::from("python3");
    let probe = Command::new(&python)
        .args(["-c", "import oras.client"])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "PyPI's `oras` is not installed for python3 (scripts/test.sh installs it: `python3 -m pip install oras`): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

#[test]
fn the_signed_root_is_in_the_registry_and_independent_clients_read_what_was_pushed() {
    let fx = fixture();
    let reg = Registry::start(RegistryOptions::plain());
    let dir = scratch();
    let host = reg.host();
    let map = push_signed(dir.path(), &[], &host, &host);

    // The root, by digest, in the bundle's repository: the exact signed bytes.
    let raw = skopeo_inspect_raw(&reg, &format!("{BUNDLE_REPO}@{}", fx.root_digest));
    assert_eq!(digest_of(&raw), fx.root_digest);
    assert_eq!(raw, fx.root_bytes, "the registry's root is byte-identical");
    // Under the version tag too, with the metadata beside it and in the image map.
    assert_eq!(
        digest_of(&skopeo_inspect_raw(&reg, &format!("{BUNDLE_REPO}:1.0.0"))),
        fx.root_digest
    );
    let root_row = &map[&format!("ferry-bundle/{NAME}:1.0.0")];
    assert_eq!(
        root_row,
        &(
            format!("{BUNDLE_REPO}:1.0.0"),
            fx.root_digest.clone(),
            "root".to_owned()
        )
    );
    let metadata = &map[&format!("ferry-bundle/{NAME}:1.0.0.metadata")];
    assert_eq!(metadata.0, format!("{BUNDLE_REPO}:1.0.0.metadata"));
    assert_eq!(
        digest_of(&skopeo_inspect_raw(&reg, &metadata.0)),
        metadata.1
    );
    // Every manifest the root lists resolves in the bundle's repository, and the signature's
    // subject is the root.
    let root: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    for listed in root["manifests"].as_array().unwrap() {
        let digest = listed["digest"].as_str().unwrap();
        assert_eq!(
            digest_of(&skopeo_inspect_raw(
                &reg,
                &format!("{BUNDLE_REPO}@{digest}")
            )),
            digest
        );
    }
    let sig_tag = format!(
        "sha256-{}.sig",
        fx.root_digest.trim_start_matches("sha256:")
    );
    let signature: serde_json::Value = serde_json::from_slice(&skopeo_inspect_raw(
        &reg,
        &format!("{BUNDLE_REPO}:{sig_tag}"),
    ))
    .unwrap();
    assert_eq!(signature["subject"]["digest"], fx.root_digest.as_str());

    // No blob was uploaded twice; the bundle's repository got every artifact blob by a mount.
    let requests = reg.requests();
    let uploads = uploads_by_repo(&requests);
    let digests: Vec<&String> = uploads.iter().map(|(_, d)| d).collect();
    let unique: BTreeSet<&String> = digests.iter().copied().collect();
    assert_eq!(
        unique.len(),
        digests.len(),
        "a blob was uploaded twice: {uploads:?}"
    );
    let mounted = mounts_into(&requests, BUNDLE_REPO);
    let mut artifact_blobs: Vec<String> = fx.app.blob_digests();
    artifact_blobs.extend(fx.multi.blob_digests());
    for blob in &artifact_blobs {
        assert!(
            mounted.contains(blob),
            "{blob} did not reach {BUNDLE_REPO} by a mount: {mounted:?}"
        );
        assert!(
            !uploads
                .iter()
                .any(|(repo, d)| repo == BUNDLE_REPO && d == blob),
            "{blob} was uploaded into {BUNDLE_REPO}"
        );
    }

    // PyPI's oras pulls the file artifact and gets the original bytes.
    let tool = map
        .iter()
        .find(|(_, (_, _, kind))| kind == "file")
        .map(|(_, (target, _, _))| target.clone())
        .unwrap();
    let pulled = dir.path().join("oras");
    let files = python(
        &oras_python(),
        "import sys, oras.client\nc = oras.client.OrasClient(hostname=sys.argv[1], insecure=True)\nfor f in c.pull(target=sys.argv[2], outdir=sys.argv[3]):\n    print(f)\n",
        &[&host, &format!("{host}/{tool}"), s(&pulled)],
    );
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read(files[0]).unwrap(),
        fx.tool,
        "oras pulled {tool}"
    );

    // The real Helm SDK pulls the chart by oci:// and loads it.
    let chart = map
        .iter()
        .find(|(_, (_, _, kind))| kind == "chart")
        .map(|(_, (target, _, _))| target.clone())
        .unwrap();
    let (repository, version) = chart.rsplit_once(':').unwrap();
    let charts = dir.path().join("helm");
    std::fs::create_dir_all(&charts).unwrap();
    let loaded = python(
        &helm_python(),
        "import glob, json, os, sys\nfrom helm_python import Chart, registry\nregistry.pull(sys.argv[1], version=sys.argv[2], destination=sys.argv[3], plain_http=True)\n[tgz] = glob.glob(os.path.join(sys.argv[3], '*.tgz'))\nprint(json.dumps(Chart.load(tgz).metadata))\n",
        &[
            &format!("oci://{host}/{repository}"),
            version,
            s(&charts),
        ],
    );
    let metadata: serde_json::Value = serde_json::from_str(loaded.trim()).unwrap();
    assert_eq!(metadata["name"], "hello", "{metadata}");
    assert_eq!(metadata["version"], "0.1.0", "{metadata}");

    // ferry verify --registry passes, from the bundle file and from the root alone.
    let report = json_of(&verify_registry(dir.path(), &[], &host, &[]).ok());
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["root"], fx.root_digest.as_str());
    assert!(report["signature"]["signed_by"].is_string(), "{report}");
    let found = statuses(&report);
    // The root, the metadata, two images, the chart, the file.
    assert_eq!(found.len(), 6, "{found:?}");
    assert!(found.values().all(|s| s == "ok"), "{found:?}");
    let alone = ferry(
        &dir.path().join("cache"),
        &[
            "verify",
            "--registry",
            &host,
            "--root",
            &fx.root_digest,
            "--bundle-name",
            NAME,
            "--version",
            "1.0.0",
            "--key",
            s(&fx.public),
        ],
    )
    .ok();
    assert!(
        alone.stdout.contains("holds bundle rv") && alone.stdout.contains("6 artifacts ok"),
        "{}",
        alone.stdout
    );
}

#[test]
fn verify_registry_reports_exactly_what_was_tampered_with() {
    let fx = fixture();
    let reg = Registry::start(RegistryOptions::plain());
    let dir = scratch();
    let host = reg.host();
    let map = push_signed(dir.path(), &[], &host, &host);
    json_of(&verify_registry(dir.path(), &[], &host, &[]).ok());

    // A wrong trusted key: the signature fails, nothing else changes.
    let other_pub = dir.path().join("other.pub");
    generate_key(
        &dir.path().join("cache"),
        &[],
        &dir.path().join("other.key"),
        &other_pub,
        &[],
    )
    .ok();
    let wrong = ferry(
        &dir.path().join("cache"),
        &[
            "verify",
            "--registry",
            &host,
            "--root",
            &fx.root_digest,
            "--bundle-name",
            NAME,
            "--version",
            "1.0.0",
            "--key",
            s(&other_pub),
            "--json",
        ],
    )
    .failed();
    let report = json_of(&wrong);
    assert_eq!(report["ok"], false);
    assert_eq!(report["signature"]["ok"], false, "{report}");
    assert!(
        report["signature"]["detail"]
            .as_str()
            .unwrap()
            .contains("does not verify with any trusted key"),
        "{report}"
    );
    assert!(
        wrong.stderr.contains("trusted signature"),
        "{}",
        wrong.stderr
    );
    assert!(statuses(&report).values().all(|s| s == "ok"));

    // Retag the app to the multi-arch image's digest (skopeo copy), and delete the file
    // artifact's manifest (the registry API's DELETE).
    let app = &map[APP];
    let multi = &map[MULTI];
    let mut copy = skopeo();
    copy.args(["copy", "--all"])
        .args(reg.skopeo_args("src-"))
        .args(reg.skopeo_args("dest-"))
        .arg(format!(
            "docker://{host}/{}@{}",
            multi.0.rsplit_once(':').unwrap().0,
            multi.1
        ))
        .arg(format!("docker://{host}/{}", app.0));
    support::run_ok(&mut copy);
    let (file_original, file) = map
        .iter()
        .find(|(_, (_, _, kind))| kind == "file")
        .map(|(o, row)| (o.clone(), row.clone()))
        .unwrap();
    let file_repo = file.0.rsplit_once(':').unwrap().0;
    let status = support::registry::raw_http_status(
        &host,
        "DELETE",
        &format!("/v2/{file_repo}/manifests/{}", file.1),
    );
    assert_eq!(status, Some(202), "DELETE of {file_repo}@{}", file.1);

    let run = verify_registry(dir.path(), &[], &host, &[]).failed();
    let report = json_of(&run);
    assert_eq!(report["ok"], false);
    assert_eq!(report["signature"]["ok"], true, "{report}");
    let found = statuses(&report);
    let not_ok: BTreeMap<&String, &String> = found.iter().filter(|(_, s)| *s != "ok").collect();
    let app_key = format!("image {APP}");
    let file_key = format!("file {file_original}");
    assert_eq!(
        not_ok,
        BTreeMap::from([
            (&app_key, &"different".to_owned()),
            (&file_key, &"missing".to_owned())
        ]),
        "{report}"
    );
    let artifacts = report["artifacts"].as_array().unwrap();
    let app_check = artifacts.iter().find(|a| a["original"] == APP).unwrap();
    assert_eq!(app_check["actual"], multi.1.as_str(), "{app_check}");
    assert_eq!(app_check["digest"], app.1.as_str());
    let file_check = artifacts
        .iter()
        .find(|a| a["original"] == file_original.as_str())
        .unwrap();
    assert!(
        file_check["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("tag ")),
        "{file_check}"
    );
    assert!(
        run.stderr.contains("2 of 6 artifacts missing or different"),
        "{}",
        run.stderr
    );

    // The human report names them too.
    let human = ferry(
        &dir.path().join("cache"),
        &[
            "verify",
            s(&fx.bundle),
            "--registry",
            &host,
            "--key",
            s(&fx.public),
        ],
    )
    .failed();
    let line = |status: &str, target: &str| {
        human
            .stdout
            .lines()
            .any(|l| l.starts_with(status) && l.contains(target))
    };
    assert!(line("different", &app.0), "{}", human.stdout);
    assert!(line("missing", &file.0), "{}", human.stdout);
    assert!(line("ok", &multi.0), "{}", human.stdout);

    // The signature deleted from the registry: the check fails on it, by name.
    let sig_tag = format!(
        "sha256-{}.sig",
        fx.root_digest.trim_start_matches("sha256:")
    );
    let sig_digest = digest_of(&skopeo_inspect_raw(
        &reg,
        &format!("{BUNDLE_REPO}:{sig_tag}"),
    ));
    let status = support::registry::raw_http_status(
        &host,
        "DELETE",
        &format!("/v2/{BUNDLE_REPO}/manifests/{sig_digest}"),
    );
    assert_eq!(status, Some(202));
    let report = json_of(&verify_registry(dir.path(), &[], &host, &[]).failed());
    assert_eq!(report["signature"]["ok"], false, "{report}");
    assert!(
        report["signature"]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "holds no signature of the root ({host}/{BUNDLE_REPO}:{sig_tag} is absent)"
            )),
        "{report}"
    );
}

#[test]
fn harbor_accepts_the_root_and_verify_registry_checks_it_there() {
    let fx = fixture();
    let reg = Registry::start(RegistryOptions::plain());
    let harbor = HarborDouble::start(&reg.host(), &[("ferry", "ferry-pass")], None);
    let dir = scratch();
    let config = docker_config(dir.path(), &harbor.host(), "ferry", "ferry-pass");
    let env = [("DOCKER_CONFIG", s(&config))];
    let to = format!("{}/platform", harbor.host());
    let map = push_signed(dir.path(), &env, &to, &harbor.host());
    assert_eq!(
        map[&format!("ferry-bundle/{NAME}:1.0.0")].0,
        format!("platform/{BUNDLE_REPO}:1.0.0")
    );
    assert!(harbor.projects().contains(&"platform".to_owned()));
    // The root's PUT went through Harbor's endpoint and was accepted.
    assert!(
        harbor.registry_calls().iter().any(|c| c.method == "PUT"
            && c.target == format!("/v2/platform/{BUNDLE_REPO}/manifests/1.0.0")
            && (200..300).contains(&c.status)),
        "{:?}",
        harbor.registry_calls()
    );
    let raw = skopeo_inspect_raw(&reg, &format!("platform/{BUNDLE_REPO}@{}", fx.root_digest));
    assert_eq!(raw, fx.root_bytes);
    let report = json_of(&verify_registry(dir.path(), &env, &to, &[]).ok());
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["repository"], format!("platform/{BUNDLE_REPO}"));
    // Without the project, nothing is where verify looks: the root is missing.
    let run = verify_registry(
        dir.path(),
        &env,
        &harbor.host(),
        &["--project", "elsewhere"],
    );
    assert_ne!(run.status, 0, "{}", run.stdout);
    let _ = &fx.root;
}

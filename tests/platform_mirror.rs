//! The real K-PaaS platform specs through a synthetic mirror, at reduced size (issue 6, items 4 and 5).
//!
//! `bench/platform/mirror.py` fills a real `docker-registry` and a file server with synthetic content at
//! exactly the references `bundles/k-paas-container-platform-1.6.2.yaml` and
//! `bundles/paasta-container-platform-1.4.0.yaml` name, and writes overlays on them that point every
//! upstream at the mirrors. This test locks both through the overlays, builds, verifies and pushes 1.6.2
//! into a second registry, reads the pushed copy back with skopeo, and checks `ferry diff` between the
//! two locks and `ferry licenses` of 1.6.2. What it expects is computed here from the specs and
//! manifests themselves, not taken from the generator. `bench/platform.sh` is the same at >= 5 GiB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ferry_env, repo_root, s, Run};
use support::{skopeo_inspect_digest, HttpServer, Registry, RegistryOptions};

const SPEC_162: &str = "bundles/k-paas-container-platform-1.6.2.yaml";
const SPEC_140: &str = "bundles/paasta-container-platform-1.4.0.yaml";
/// The 1.6.2 content the mirror holds (image blobs, files, charts, portal archives).
const SCALE: &str = "48MiB";

/// Panics (never skips) unless python3 can import PyYAML, which the generator needs.
fn require_python_yaml() {
    let out = Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "\n\n*** tests/platform_mirror.rs needs python3 (with PyYAML): cannot run python3: {e} ***\n\
                 Install: apt-get install -y python3 python3-yaml (or run scripts/test.sh)\n\n"
            )
        });
    assert!(
        out.status.success(),
        "\n\n*** tests/platform_mirror.rs needs PyYAML for bench/platform/mirror.py: `python3 -c 'import yaml'` failed ***\n\
         Install: python3 -m pip install pyyaml (scripts/test.sh does it), or apt-get install -y python3-yaml\n{}\n",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The reference as the lock records it through the mirror overlay: Docker Hub's defaults applied,
/// `tag@digest` unpinned (`unpinImages`), a digest-only `repo@sha256:HEX` under the mirror tag
/// `sha256-HEX` that the harness documents.
fn locked_reference(reference: &str) -> String {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    let last = name.rsplit('/').next().unwrap();
    let (name, tag) = match last.rsplit_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag.to_owned())),
        None => (name, None),
    };
    let tag = tag.unwrap_or_else(|| digest.unwrap().replace(':', "-"));
    let first = name.split('/').next().unwrap();
    let qualified = if name.contains('/') && (first.contains('.') || first.contains(':')) {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{qualified}:{tag}")
}

/// One spec as the test reads it, independently of ferry and of the generator.
struct Expected {
    name: String,
    /// Component name -> (version, licence).
    components: BTreeMap<String, (String, String)>,
    /// (component, locked reference).
    images: BTreeSet<(String, String)>,
    /// (component, locked reference) of images from `podman save` archives.
    archive_images: BTreeSet<(String, String)>,
    charts: usize,
    files: usize,
}

fn expected(spec: &str) -> Expected {
    let path = repo_root().join(spec);
    let bundle = yaml(&path);
    assert!(
        bundle.get("base").is_none(),
        "{spec} is expected to be a full spec"
    );
    let arches: BTreeSet<String> = bundle["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| str_of(p).split('/').nth(1).unwrap().to_owned())
        .collect();
    let mut out = Expected {
        name: str_of(&bundle["name"]),
        components: BTreeMap::new(),
        images: BTreeSet::new(),
        archive_images: BTreeSet::new(),
        charts: 0,
        files: 0,
    };
    for entry in bundle["components"].as_array().unwrap() {
        let name = str_of(&entry["name"]);
        let version = str_of(&entry["version"]);
        let manifest = yaml(
            &repo_root()
                .join("vendor-manifests")
                .join(&name)
                .join(format!("{version}.yaml")),
        );
        out.components
            .insert(name.clone(), (version, str_of(&manifest["license"])));
        for image in manifest["images"].as_array().into_iter().flatten() {
            let reference = (name.clone(), locked_reference(&str_of(&image["ref"])));
            if image.get("archive").is_some() {
                out.archive_images.insert(reference.clone());
            }
            out.images.insert(reference);
        }
        out.charts += manifest["charts"].as_array().map_or(0, Vec::len);
        for file in manifest["files"].as_array().into_iter().flatten() {
            out.files += if str_of(&file["url"]).contains("{arch}") {
                arches.len()
            } else {
                1
            };
        }
    }
    out
}

fn lock_of(path: &Path) -> toml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap()
}

fn entries<'a>(lock: &'a toml::Value, kind: &str) -> &'a [toml::Value] {
    lock.get(kind)
        .and_then(toml::Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn field(value: &toml::Value, key: &str) -> String {
    value
        .get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

struct Harness {
    dir: tempfile::TempDir,
    mirror: PathBuf,
    mirrors: Vec<String>,
    cache: PathBuf,
}

impl Harness {
    fn ferry(&self, args: &[&str]) -> Run {
        let env = [
            ("FERRY_KEY_PASSWORD", "platform-mirror"),
            ("SOURCE_DATE_EPOCH", "0"),
        ];
        ferry_env(&self.cache, &env, args)
    }

    /// `ferry ARGS --mirror …` (every upstream through the mirrors).
    fn ferry_mirrored(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.mirrors.iter().map(String::as_str));
        self.ferry(&all)
    }

    fn overlay(&self, name: &str) -> PathBuf {
        self.mirror.join("bundles").join(format!("{name}.yaml"))
    }

    fn lockfile(&self, name: &str) -> PathBuf {
        self.mirror.join("lockfiles").join(format!("{name}.lock"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Components kubespray puts on the nodes (or CLIs copied to the master): no `deploy:` steps.
const NODE_COMPONENTS: &[&str] = &[
    "calico",
    "cni-plugins",
    "coredns",
    "cri-o",
    "crictl",
    "crun",
    "dns-autoscaler",
    "etcd",
    "helm",
    "kubernetes",
    "kubespray",
    "kustomize",
    "metallb",
    "metrics-server",
    "nginx-proxy",
    "nodelocaldns",
    "opentofu",
    "skopeo",
    "terraform",
];

#[test]
fn platform_specs_load_with_their_deploy_steps() {
    use ferry::spec::{DeployAction, Spec};
    let steps = |spec: &Spec, name: &str| -> Vec<String> {
        let component = spec
            .components
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} not in {}", spec.name));
        component
            .deploy
            .iter()
            .map(|step| match &step.action {
                DeployAction::Chart(chart) => {
                    format!(
                        "chart {} as {} in {}",
                        chart.chart, chart.release, chart.namespace
                    )
                }
                DeployAction::Manifests(files) => format!("manifests {}", files.files.join(",")),
                DeployAction::Wait(wait) => format!(
                    "wait {}",
                    wait.targets
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            })
            .collect()
    };
    let new = Spec::load(&repo_root().join(SPEC_162)).unwrap();
    let old = Spec::load(&repo_root().join(SPEC_140)).unwrap();
    for spec in [&new, &old] {
        for component in &spec.components {
            if NODE_COMPONENTS.contains(&component.name.as_str()) {
                assert!(component.deploy.is_empty(), "{} deploys", component.name);
            }
        }
    }
    // Every cluster application of 1.6.2 but the portal services (whose charts are not carried) deploys.
    for component in &new.components {
        let node = NODE_COMPONENTS.contains(&component.name.as_str());
        assert_eq!(
            component.deploy.is_empty(),
            node || component.name == "cp-portal",
            "{}",
            component.name
        );
    }
    assert_eq!(
        steps(&new, "ingress-nginx"),
        [
            "manifests ingress-nginx-deploy.yaml",
            "wait Deployment/ingress-nginx/ingress-nginx-controller Available"
        ]
    );
    assert_eq!(
        steps(&new, "istio"),
        [
            "chart base as istio-base in istio-system",
            "chart istiod as istiod in istio-system",
            "chart gateway as istio-ingressgateway in istio-system"
        ]
    );
    assert_eq!(
        steps(&new, "nfs-subdir-external-provisioner"),
        ["chart nfs-subdir-external-provisioner as nfs-subdir-external-provisioner in default"]
    );
    assert_eq!(steps(&new, "harbor"), ["chart harbor as harbor in harbor"]);
    assert_eq!(steps(&new, "rook-ceph").len(), 6);
    assert_eq!(steps(&old, "vault"), ["chart vault as vault in vault"]);
}

#[test]
fn k_paas_platform_through_a_synthetic_mirror() {
    require_python_yaml();
    let started = std::time::Instant::now();
    let upstream = Registry::start(RegistryOptions::plain());
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(mirror.join("files")).unwrap();
    let files = HttpServer::serve_dir(mirror.join("files"));

    // 1. The mirror: synthetic content at the specs' exact references, and the overlays.
    let generator = repo_root().join("bench/platform/mirror.py");
    let out = Command::new("python3")
        .arg(&generator)
        .args(["--out", s(&mirror)])
        .args(["--registry", &upstream.host()])
        .args(["--files-url", &files.url()])
        .args(["--registry-storage", s(&upstream.data_dir())])
        .args(["--scale", SCALE])
        .args(["--spec", s(&repo_root().join(SPEC_162))])
        .args(["--spec", s(&repo_root().join(SPEC_140))])
        .output()
        .expect("run bench/platform/mirror.py");
    assert!(
        out.status.success(),
        "bench/platform/mirror.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mirror_args = std::fs::read_to_string(mirror.join("mirror-args.txt")).unwrap();
    let harness = Harness {
        mirrors: mirror_args.lines().map(str::to_owned).collect(),
        cache: dir.path().join("cache"),
        mirror,
        dir,
    };
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(harness.mirror.join("summary.json")).unwrap(),
    )
    .unwrap();
    let generated = summary["registry_bytes"].as_u64().unwrap()
        + summary["files_bytes"].as_u64().unwrap()
        + summary["archive_bytes"].as_u64().unwrap();
    assert!(
        generated <= 100 << 20,
        "the test mirror should stay under 100 MiB, it holds {generated} bytes"
    );
    // Only the overlays touch hashes and pins; the real specs stay as they are.
    let overlay_text =
        std::fs::read_to_string(harness.overlay("k-paas-container-platform")).unwrap();
    assert!(
        overlay_text.contains("base: ")
            && overlay_text.contains("k-paas-container-platform-1.6.2.yaml")
    );
    assert!(overlay_text.contains("unpinImages: true") && overlay_text.contains("fileSha256:"));

    let new = expected(SPEC_162);
    let old = expected(SPEC_140);

    // 2. Lock both specs through the mirror: every reference resolves, the counts are the spec's.
    for spec in [&new, &old] {
        let lockfile = harness.lockfile(&spec.name);
        harness
            .ferry_mirrored(&["lock", s(&harness.overlay(&spec.name)), "-q"])
            .ok();
        let lock = lock_of(&lockfile);
        let images = entries(&lock, "image");
        assert_eq!(images.len(), spec.images.len(), "{}: images", spec.name);
        assert_eq!(
            entries(&lock, "chart").len(),
            spec.charts,
            "{}: charts",
            spec.name
        );
        assert_eq!(
            entries(&lock, "file").len(),
            spec.files,
            "{}: files",
            spec.name
        );
        let locked: BTreeSet<(String, String)> = images
            .iter()
            .map(|i| (field(i, "component"), field(i, "reference")))
            .collect();
        assert_eq!(
            locked, spec.images,
            "{}: locked image references",
            spec.name
        );
        // Each registry image is pinned to what the mirror holds; multi-arch ones keep every
        // platform the bundle carries.
        let platforms = lock["platforms"].as_array().unwrap().len();
        let held = &summary["specs"][&spec.name]["images"];
        for image in images {
            let reference = field(image, "reference");
            if let Some(digest) = held.get(&reference) {
                assert_eq!(
                    field(image, "digest"),
                    digest.as_str().unwrap(),
                    "{reference}"
                );
            }
            let kept = image
                .get("platform")
                .and_then(toml::Value::as_array)
                .unwrap();
            if field(image, "media-type").contains("index")
                || field(image, "media-type").contains("list")
            {
                assert_eq!(kept.len(), platforms, "{reference}: platforms kept");
            } else {
                assert_eq!(kept.len(), 1, "{reference}");
            }
        }
    }
    let lock_162 = lock_of(&harness.lockfile(&new.name));
    assert!(
        entries(&lock_162, "image").iter().any(|i| i
            .get("platform")
            .and_then(toml::Value::as_array)
            .unwrap()
            .len()
            == 2),
        "1.6.2 carries two platforms: some image must keep both"
    );
    harness
        .ferry_mirrored(&["lock", s(&harness.overlay(&new.name)), "--check", "-q"])
        .ok();

    // 3. Build (signed) and verify.
    let key = harness.path("cosign.key");
    let public = harness.path("cosign.pub");
    harness
        .ferry(&[
            "key",
            "generate",
            "--output-key",
            s(&key),
            "--output-pub",
            s(&public),
            "-q",
        ])
        .ok();
    let bundle = harness.path("k-paas-1.6.2.tar");
    harness
        .ferry_mirrored(&[
            "build",
            s(&harness.overlay(&new.name)),
            "--locked",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&key),
            "-q",
        ])
        .ok();
    let verified = harness
        .ferry(&["verify", s(&bundle), "--key", s(&public), "--json"])
        .ok()
        .json();
    assert_eq!(
        verified["images"].as_u64().unwrap() as usize,
        new.images.len()
    );
    assert_eq!(verified["charts"].as_u64().unwrap() as usize, new.charts);
    assert_eq!(verified["files"].as_u64().unwrap() as usize, new.files);
    assert!(verified["signed_by"].is_string(), "{verified}");
    // The older release builds and verifies too (issue 6: both specs lock and build).
    let old_bundle = harness.path("paasta-1.4.0.tar");
    harness
        .ferry_mirrored(&[
            "build",
            s(&harness.overlay(&old.name)),
            "--locked",
            "-o",
            s(&old_bundle),
            "-q",
        ])
        .ok();
    let old_verified = harness
        .ferry(&[
            "verify",
            s(&old_bundle),
            "--insecure-skip-signature",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        old_verified["images"].as_u64().unwrap() as usize,
        old.images.len()
    );
    assert_eq!(old_verified["files"].as_u64().unwrap() as usize, old.files);
    std::fs::remove_file(&old_bundle).unwrap();
    let inspected = harness
        .ferry(&["inspect", s(&bundle), "--json"])
        .ok()
        .json();
    assert_eq!(
        inspected["components"].as_array().unwrap().len(),
        new.components.len()
    );

    // 4. Push into a second, empty registry; skopeo reads the locked digests back.
    let target = Registry::start(RegistryOptions::plain());
    let image_map = harness.path("image-map.json");
    harness
        .ferry(&[
            "push",
            s(&bundle),
            "--to",
            &format!("{}/k-paas", target.host()),
            "--key",
            s(&public),
            "--image-map",
            s(&image_map),
            "-q",
        ])
        .ok();
    let map: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&image_map).unwrap()).unwrap();
    let locked_digests: BTreeMap<String, String> = entries(&lock_162, "image")
        .iter()
        .map(|i| (field(i, "reference"), field(i, "digest")))
        .collect();
    let pushed_images: Vec<&serde_json::Value> =
        map.iter().filter(|e| e["kind"] == "image").collect();
    assert_eq!(
        pushed_images
            .iter()
            .map(|e| str_of(&e["original"]))
            .collect::<BTreeSet<_>>(),
        locked_digests.keys().cloned().collect::<BTreeSet<_>>(),
        "the image map names every locked image"
    );
    let prefix = format!("{}/", target.host());
    let mut sampled = 0;
    for (n, entry) in map.iter().enumerate() {
        let is_image = entry["kind"] == "image";
        // Every 6th image, and every other artifact (charts, files, the bundle metadata).
        if is_image && n % 6 != 0 {
            continue;
        }
        let target_ref = str_of(&entry["target"]);
        let reference = target_ref
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{target_ref} is not in {}", target.host()));
        let digest = skopeo_inspect_digest(&target, reference);
        assert_eq!(digest, str_of(&entry["digest"]), "{target_ref}");
        if is_image {
            assert_eq!(
                digest,
                locked_digests[&str_of(&entry["original"])],
                "{target_ref}"
            );
        }
        sampled += 1;
    }
    assert!(sampled >= 20, "only {sampled} pushed artifacts checked");

    // 5. The upgrade, as `ferry diff` of the two locks shows it.
    let lock_140_path = harness.lockfile(&old.name);
    let lock_162_path = harness.lockfile(&new.name);
    let diff = harness
        .ferry(&["diff", s(&lock_140_path), s(&lock_162_path), "--json"])
        .ok()
        .json();
    let names = |list: &serde_json::Value| -> BTreeSet<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| str_of(&c["name"]))
            .collect()
    };
    let only = |a: &Expected, b: &Expected| -> BTreeSet<String> {
        a.components
            .keys()
            .filter(|c| !b.components.contains_key(*c))
            .cloned()
            .collect()
    };
    assert_eq!(names(&diff["components"]["added"]), only(&new, &old));
    assert_eq!(names(&diff["components"]["removed"]), only(&old, &new));
    let changed: BTreeMap<String, (String, String)> = diff["components"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                str_of(&c["name"]),
                (str_of(&c["old_version"]), str_of(&c["new_version"])),
            )
        })
        .collect();
    let mut upgraded = BTreeMap::new();
    for (name, (version, _)) in &new.components {
        if let Some((before, _)) = old.components.get(name) {
            if before != version {
                upgraded.insert(name.clone(), (before.clone(), version.clone()));
            }
        }
    }
    assert_eq!(changed, upgraded, "re-versioned components");
    assert!(upgraded.contains_key("kubernetes"));
    let pairs = |list: &serde_json::Value| -> BTreeSet<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| (str_of(&e["component"]), str_of(&e["name"])))
            .collect()
    };
    let added: BTreeSet<_> = new.images.difference(&old.images).cloned().collect();
    let removed: BTreeSet<_> = old.images.difference(&new.images).cloned().collect();
    assert!(!added.is_empty() && !removed.is_empty());
    assert_eq!(pairs(&diff["images"]["added"]), added, "images added");
    assert_eq!(pairs(&diff["images"]["removed"]), removed, "images removed");
    let repinned = pairs(&diff["images"]["changed"]);
    let common: BTreeSet<_> = new.images.intersection(&old.images).cloned().collect();
    assert!(repinned.is_subset(&common), "{repinned:?}");
    // The portal archives of the two releases differ, so their common references are re-pinned.
    let portal_common: BTreeSet<_> = new
        .archive_images
        .intersection(&old.archive_images)
        .cloned()
        .collect();
    assert!(!portal_common.is_empty() && portal_common.is_subset(&repinned));
    let text = harness
        .ferry(&["diff", s(&lock_140_path), s(&lock_162_path)])
        .ok()
        .stdout;
    for (name, (before, after)) in &upgraded {
        assert!(
            text.contains(&format!("~ {name} {before} -> {after}")),
            "diff does not show {name} {before} -> {after}:\n{text}"
        );
    }
    for (component, reference) in added.iter().take(5) {
        assert!(
            text.contains(&format!("+ {reference} (component {component})")),
            "{text}"
        );
    }

    // 6. The open-source list of 1.6.2: every component with its manifest's licence.
    let spec_162 = repo_root().join(SPEC_162);
    let licenses = harness
        .ferry(&["licenses", s(&spec_162), "--format", "json"])
        .ok()
        .json();
    let listed: BTreeMap<String, (String, String)> = licenses
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                str_of(&row["component"]),
                (str_of(&row["version"]), str_of(&row["license"])),
            )
        })
        .collect();
    assert_eq!(listed, new.components, "ferry licenses of {SPEC_162}");
    let table = harness.ferry(&["licenses", s(&spec_162)]).ok().stdout;
    for (name, (version, license)) in &new.components {
        assert!(!license.is_empty(), "{name} has no licence");
        assert!(
            table.lines().any(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                cells.len() >= 3 && cells[0] == name && cells[1] == version && cells[2] == license
            }),
            "licence table lacks `{name} {version} {license}`:\n{table}"
        );
    }
    eprintln!("platform mirror run: {:?}", started.elapsed());
    drop(files);
}

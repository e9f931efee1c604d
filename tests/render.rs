//! Rendering from ferry's CLI: reproducible randomness from the site seed,
//! image discovery, and the build's check that every image a chart runs is carried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;

use common::{copy_example, ferry, ferry_env, s};

fn random_chart(dir: &Path) -> std::path::PathBuf {
    let chart = dir.join("rand");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: rand\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "image: busybox:1.36\n").unwrap();
    std::fs::write(
        chart.join("templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\nstringData:\n  password: {{ randAlphaNum 24 | quote }}\n  id: {{ uuidv4 | quote }}\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  initContainers:\n    - name: init\n      image: {{ .Values.image }}\n  containers:\n    - name: main\n      image: registry.k8s.io/pause:3.10\n",
    )
    .unwrap();
    chart
}

#[test]
fn the_same_site_seed_renders_the_same_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let chart = random_chart(dir.path());
    let cache = dir.path().join("cache");
    let seed_a = dir.path().join("a.seed");
    let seed_b = dir.path().join("b.seed");
    std::fs::write(&seed_a, "site-a").unwrap();
    std::fs::write(&seed_b, "site-b").unwrap();
    let render = |seed: &Path| {
        ferry(&cache, &["template", s(&chart), "--seed-file", s(seed)])
            .ok()
            .stdout
    };
    let first = render(&seed_a);
    assert!(first.contains("password: \""), "{first}");
    assert_eq!(first, render(&seed_a), "same seed, same manifests");
    assert_ne!(
        first,
        render(&seed_b),
        "another site's seed gives other secrets"
    );
    // Without --seed-file a site seed is created once and kept.
    let seed_file = dir.path().join("site.seed");
    let env = [("FERRY_SEED_FILE", seed_file.to_str().unwrap())];
    let once = ferry_env(&cache, &env, &["template", s(&chart)])
        .ok()
        .stdout;
    let seed = std::fs::read(&seed_file).unwrap();
    // 32 random bytes, hex, newline; then when it was created (the default render clock)
    let text = String::from_utf8(seed.clone()).unwrap();
    let (secret, created) = text.split_once('\n').unwrap();
    assert_eq!(secret.len(), 64, "{text}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
    let created = created
        .strip_prefix("created ")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        ferry::clock::parse_rfc3339(created.trim_end()).is_some() && created.ends_with("Z\n"),
        "{text}"
    );
    assert_eq!(
        once,
        ferry_env(&cache, &env, &["template", s(&chart)])
            .ok()
            .stdout
    );
    assert_eq!(seed, std::fs::read(&seed_file).unwrap());
}

#[test]
fn images_lists_containers_and_init_containers() {
    let dir = tempfile::tempdir().unwrap();
    let chart = random_chart(dir.path());
    let run = ferry(
        &dir.path().join("cache"),
        &["images", s(&chart), "--set", "image=quay.io/x/y:2"],
    )
    .ok();
    assert_eq!(run.stdout, "quay.io/x/y:2\nregistry.k8s.io/pause:3.10\n");
}

#[test]
fn build_refuses_a_chart_image_the_bundle_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "      replicas: 2",
        "      replicas: 2\n      image: {tag: \"9.9\"}",
    );
    std::fs::write(&spec, text).unwrap();
    let cache = dir.path().join("cache");
    ferry(&cache, &["lock", s(&spec)]).ok();
    let out = dir.path().join("b.tar");
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    assert!(
        run.stderr
            .contains("1 image(s) the charts will run are not in the bundle"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("example.local/demo/hello:9.9 (chart hello 0.1.0)"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    ferry(
        &cache,
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&out),
            "--allow-missing-images",
        ],
    )
    .ok();
}

#[test]
fn lock_can_add_the_images_charts_run() {
    support::require_tools();
    let registry = support::Registry::start(support::RegistryOptions::plain());
    let dir = tempfile::tempdir().unwrap();
    let mut layout = support::OciLayoutBuilder::new(dir.path().join("layout"));
    let sidecar = layout.add_image(Some("2.0"), &support::ImageSpec::with_layers(11, 1, 2048));
    support::seed(
        &dir.path().join("layout"),
        "2.0",
        &registry,
        "lib/sidecar:2.0",
        support::SeedFormat::Oci,
        false,
    );
    let image = format!("{}/lib/sidecar:2.0", registry.host());
    let template = format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  template:\n    spec:\n      containers:\n        - name: agent\n          image: {image}\n"
    );
    let repo = dir.path().join("charts");
    let chart = support::write_chart(
        &repo,
        "agent",
        "1.0.0",
        &[("templates/ds.yaml", &template)],
        "",
    );
    support::write_chart_index(&repo, "", &[chart]);
    std::fs::create_dir_all(dir.path().join("bundles")).unwrap();
    std::fs::create_dir_all(dir.path().join("vendor-manifests/agent")).unwrap();
    std::fs::write(
        dir.path().join("vendor-manifests/agent/1.0.0.yaml"),
        "apiVersion: ferry/v1\nkind: Component\nname: agent\nversion: 1.0.0\nlicense: MIT\ncharts:\n  - {name: agent, version: 1.0.0, repo: ../../charts}\n",
    )
    .unwrap();
    let spec = dir.path().join("bundles/agent.yaml");
    std::fs::write(&spec, "apiVersion: ferry/v1\nkind: Bundle\nname: agent\nplatforms: [linux/amd64]\ncomponents:\n  - {name: agent, version: 1.0.0}\n").unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("agent.tar");

    ferry(&cache, &["lock", s(&spec)]).ok();
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    assert!(
        run.stderr.contains(&format!("{image} (chart agent 1.0.0)")),
        "{}",
        run.stderr
    );

    ferry(&cache, &["lock", s(&spec), "--add-chart-images"]).ok();
    let lock = std::fs::read_to_string(dir.path().join("lockfiles/agent.lock")).unwrap();
    assert!(lock.contains(&format!("reference = \"{image}\"")), "{lock}");
    assert!(
        lock.contains(&sidecar.manifest_digest),
        "pinned to the registry's digest: {lock}"
    );
    ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).ok();
    ferry(&cache, &["lock", s(&spec), "--add-chart-images", "--check"]).ok();
}

#[test]
fn render_rewrites_a_bundles_charts_to_the_pushed_images() {
    support::require_tools();
    let registry = support::Registry::start(support::RegistryOptions::plain());
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let bundle = dir.path().join("example.tar");
    ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&bundle)]).ok();
    let map = dir.path().join("map.json");
    let skip = "--insecure-skip-signature";
    ferry(
        &cache,
        &[
            "push",
            s(&bundle),
            "--to",
            &format!("{}/site", registry.host()),
            "--image-map",
            s(&map),
            skip,
        ],
    )
    .ok();

    let out = dir.path().join("rendered");
    ferry(
        &cache,
        &[
            "render",
            s(&bundle),
            "--image-map",
            s(&map),
            "-o",
            s(&out),
            "--strict",
            skip,
        ],
    )
    .ok();
    let text = std::fs::read_to_string(out.join("hello/hello.yaml")).unwrap();
    let pinned = format!(
        "image: \"{}/site/demo/hello:1.0@sha256:546391426a552a37f22f2d1eae7d69eec1bf502ab374348abc5f2c8a29de13fb\"",
        registry.host()
    );
    assert!(text.contains(&pinned), "{text}");
    assert!(
        text.contains("replicas: 2"),
        "the component's values apply: {text}"
    );
    assert!(
        text.contains("name: hello-hello"),
        "the release is the component: {text}"
    );
    // The cluster can pull that digest (kubelet accepts `name:tag@digest`; skopeo wants `name@digest`).
    let reference = pinned
        .trim_start_matches("image: \"")
        .trim_end_matches('"')
        .replace(":1.0@", "@");
    let copied = support::run(
        support::skopeo::skopeo()
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!("docker://{reference}")),
    );
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );

    // Rendering again gives the same files; without a map, --strict refuses.
    let again = dir.path().join("again");
    ferry(
        &cache,
        &[
            "render",
            s(&bundle),
            "--image-map",
            s(&map),
            "-o",
            s(&again),
            skip,
        ],
    )
    .ok();
    assert_eq!(
        text,
        std::fs::read_to_string(again.join("hello/hello.yaml")).unwrap()
    );
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    let run = ferry(
        &cache,
        &[
            "render",
            s(&bundle),
            "--image-map",
            s(&empty),
            "-o",
            s(&again),
            "--strict",
            skip,
        ],
    )
    .failed();
    assert!(
        run.stderr
            .contains("example.local/demo/hello:1.0 (chart hello 0.1.0)"),
        "{}",
        run.stderr
    );
}

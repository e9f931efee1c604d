//! Bad specs get clear errors naming file:line:column, and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{copy_example, ferry, s};

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    write(&spec, "apiVersion: ferry/v1\nkind: Bundle\nname: example\nplatforms: [linux/amd64\ncomponents: []\n");
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("example.yaml:"), "{}", run.stderr);
    let lock = dir.path().join("examples/lockfiles/example.lock");
    let before = std::fs::read_to_string(&lock).unwrap();
    assert_eq!(
        before,
        std::fs::read_to_string(common::repo_root().join("examples/lockfiles/example.lock"))
            .unwrap(),
        "the lock is untouched"
    );
}

#[test]
fn unknown_key_is_an_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "    namespace: hello\n",
        "    namespace: hello\n    namespce: typo\n",
    );
    write(&spec, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    let line = text.lines().position(|l| l.contains("namespce")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("example.yaml:{line}:5")),
        "expected line {line} col 5 in: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("unknown field `namespce`"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_key_in_a_component_manifest_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("license: Apache-2.0", "license: Apache-2.0\nlicence: typo");
    write(&manifest, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(
        run.stderr.contains("hello/1.0.0.yaml:6:1"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_component_manifest_points_at_the_spec_entry() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "  - name: hello-cli\n    version: 1.0.0",
        "  - name: hello-cli\n    version: 9.9.9",
    );
    write(&spec, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    let line = text
        .lines()
        .position(|l| l.contains("name: hello-cli"))
        .unwrap()
        + 1;
    assert!(
        run.stderr.contains(&format!("example.yaml:{line}:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("no component manifest for `hello-cli` version `9.9.9`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("available versions: 1.0.0"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_reference_and_platform_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("example.local/demo/tool:2.1", "example.local/Demo/tool");
    write(&manifest, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    let line = text.lines().position(|l| l.contains("Demo/tool")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("1.0.0.yaml:{line}:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("invalid image reference"),
        "{}",
        run.stderr
    );

    let spec_text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("linux/arm64]", "arm64]");
    write(&spec, &spec_text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("example.yaml:7:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("invalid platform `arm64`"),
        "{}",
        run.stderr
    );
}

#[test]
fn wrong_file_sha256_fails_the_lock_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello-cli/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("amd64: 16ef", "amd64: 26ef");
    write(&manifest, &text);
    let lock = dir.path().join("examples/lockfiles/example.lock");
    let before = std::fs::read(&lock).unwrap();
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(
        run.stderr.contains("file hello-cli 1.0.0 linux/amd64"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the content hashes to sha256:16efe47a"),
        "{}",
        run.stderr
    );
    assert_eq!(before, std::fs::read(&lock).unwrap());
}

#[test]
fn overlay_changes_values_adds_images_and_removes_components() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let site = spec.with_file_name("site.yaml");
    write(
        &site,
        "apiVersion: ferry/v1\nkind: Bundle\nname: site\nbase: example.yaml\nplatforms: [linux/amd64]\ncomponents:\n  - name: hello\n    values: {replicas: 5}\n",
    );
    ferry(dir.path(), &["lock", s(&site)]).ok();
    let lock = std::fs::read_to_string(dir.path().join("examples/lockfiles/site.lock")).unwrap();
    assert!(lock.contains("platforms = [\"linux/amd64\"]"), "{lock}");
    assert!(
        !lock.contains("linux/arm64"),
        "arm64 files and manifests are dropped: {lock}"
    );
    let base = std::fs::read_to_string(dir.path().join("examples/lockfiles/example.lock")).unwrap();
    let fingerprint = |text: &str, name: &str| {
        let start = text.find(&format!("name = \"{name}\"")).unwrap();
        text[start..]
            .lines()
            .find(|l| l.starts_with("fingerprint"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        fingerprint(&lock, "hello"),
        fingerprint(&base, "hello"),
        "values are part of the component"
    );

    // Removing a component others depend on is refused, naming the dependency.
    write(
        &site,
        "apiVersion: ferry/v1\nkind: Bundle\nname: site\nbase: example.yaml\nremove: [hello-cli]\n",
    );
    let run = ferry(dir.path(), &["lock", s(&site)]).failed();
    assert!(
        run.stderr.contains("depends on `hello-cli`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hello/1.0.0.yaml:"), "{}", run.stderr);
}

/// The example's `hello` manifest with `deploy` appended; returns the spec, the
/// manifest's path and its text.
fn example_with_deploy(
    dir: &std::path::Path,
    deploy: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let spec = copy_example(dir);
    let manifest = dir.join("examples/vendor-manifests/hello/1.0.0.yaml");
    // The example's own deploy section (and its comment) give way to the one under test.
    let original = std::fs::read_to_string(&manifest).unwrap();
    let base = original
        .split("# How the cluster installs it")
        .next()
        .unwrap()
        .to_owned();
    let text = format!("{base}deploy:\n{deploy}");
    write(&manifest, &text);
    (spec, manifest, text)
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{text}"))
        + 1
}

/// Runs `ferry lock` on the spec, expecting failure at `hello/1.0.0.yaml:LINE:`
/// with `message`; the example's lock stays as it was.
fn fails_at(dir: &std::path::Path, spec: &std::path::Path, line: usize, message: &str) {
    let lock = dir.join("examples/lockfiles/example.lock");
    let before = std::fs::read(&lock).unwrap();
    let run = ferry(dir, &["lock", s(spec)]).failed();
    assert!(
        run.stderr.contains(&format!("hello/1.0.0.yaml:{line}:")),
        "expected line {line} in: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(message),
        "expected `{message}` in: {}",
        run.stderr
    );
    assert_eq!(
        before,
        std::fs::read(&lock).unwrap(),
        "the lock is untouched"
    );
}

#[test]
fn deploy_steps_load_with_their_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, _) = example_with_deploy(
        dir.path(),
        "  - chart: hello\n    values: {greeting: \"{HOST_DOMAIN}\"}\n  - name: wait for it\n    wait:\n      - Deployment/hello Available\n      - CRD/widgets.example.com Established\n    timeout: 1h30m\n",
    );
    let loaded = ferry::spec::Spec::load(&spec).unwrap();
    let hello = loaded
        .components
        .iter()
        .find(|c| c.name == "hello")
        .unwrap();
    use ferry::spec::{ChartStep, DeployAction, WaitStep};
    assert_eq!(hello.deploy.len(), 2);
    assert_eq!(hello.deploy[0].name, None);
    assert_eq!(
        hello.deploy[0].action,
        DeployAction::Chart(ChartStep {
            chart: "hello".into(),
            release: "hello".into(),
            namespace: "hello".into(),
            values: serde_json::json!({"greeting": "{HOST_DOMAIN}"}),
            values_key: None,
            timeout_seconds: 300,
            wait: true,
        }),
        "release defaults to the component, namespace to the bundle's, timeout to 5m"
    );
    assert_eq!(hello.deploy[1].name.as_deref(), Some("wait for it"));
    let DeployAction::Wait(WaitStep {
        targets,
        timeout_seconds,
    }) = &hello.deploy[1].action
    else {
        panic!("{:?}", hello.deploy[1]);
    };
    assert_eq!(*timeout_seconds, 5400);
    assert_eq!(targets[0].group, "apps");
    assert_eq!(targets[1].kind, "CustomResourceDefinition");
    assert_eq!(
        targets[1].to_string(),
        "CustomResourceDefinition/widgets.example.com Established"
    );
    // The composed spec carries the steps; a component without any keeps its
    // canonical JSON (no `deploy` key), so its fingerprint does not change.
    let json: serde_json::Value = serde_json::from_slice(&loaded.canonical_json()).unwrap();
    let components = json["components"].as_array().unwrap();
    assert_eq!(components[0]["deploy"][1]["action"]["type"], "wait");
    assert!(components[1].get("deploy").is_none(), "{}", components[1]);
}

#[test]
fn deploy_unknown_key_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(dir.path(), "  - chart: hello\n    relase: typo\n");
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "relase"),
        "unknown field `relase`",
    );
}

#[test]
fn deploy_step_with_two_actions_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(
        dir.path(),
        "  - chart: hello\n  - chart: hello\n    manifests: [hello.yaml]\n",
    );
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "manifests:"),
        "deploy step 2 has both `chart` and `manifests`",
    );
}

#[test]
fn deploy_step_without_an_action_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(dir.path(), "  - chart: hello\n  - timeout: 5m\n");
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "- timeout"),
        "deploy step 2 needs one of `chart`, `manifests` or `wait`",
    );
}

#[test]
fn deploy_chart_must_be_one_the_component_carries() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(
        dir.path(),
        "  - name: hello\n    chart: hello\n  - name: helo\n    chart: helo\n",
    );
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "chart: helo"),
        "deploy step 2: chart `helo` is not one of the charts `hello` carries (hello)",
    );
}

#[test]
fn deploy_manifest_must_be_a_file_the_component_carries() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(dir.path(), "  - manifests:\n      - hello.yaml\n");
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "- hello.yaml"),
        "deploy step 1: `hello.yaml` is not one of the files `hello` carries (it carries none)",
    );
}

#[test]
fn deploy_bad_wait_target_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(
        dir.path(),
        "  - wait:\n      - Deployment/hello Available\n      - deployment/hello Available\n",
    );
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "- deployment/hello"),
        "kind `deployment` must start with an upper-case letter",
    );
}

#[test]
fn deploy_bad_duration_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) =
        example_with_deploy(dir.path(), "  - chart: hello\n    timeout: 10 minutes\n");
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "timeout:"),
        "timeout `10 minutes` is not a duration",
    );
}

#[test]
fn deploy_options_of_another_action_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _, text) = example_with_deploy(
        dir.path(),
        "  - wait: [Deployment/hello]\n    release: hello\n",
    );
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "release:"),
        "`release` belongs to chart steps, not wait steps",
    );
    let (spec, _, text) = example_with_deploy(
        dir.path(),
        "  - chart: hello\n    wait: [Deployment/hello]\n",
    );
    fails_at(
        dir.path(),
        &spec,
        line_of(&text, "wait: [Deployment"),
        "deploy step 1 has both `chart` and `wait`",
    );
}

//! The deploy flow against a real cluster: opt-in, for a disposable cluster.
//!
//! ```sh
//! FERRY_TEST_KUBECONFIG=~/.kube/test-cluster cargo test --test deploy_real -- --ignored
//! ```
//!
//! It deploys the example bundle's chart into namespace `hello` (the image
//! replaced by `$FERRY_TEST_IMAGE`, default `registry.k8s.io/pause:3.10`, which
//! the cluster must be able to pull), redeploys it unchanged, upgrades it, rolls
//! it back, then deletes what it created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::ferry_env;

#[test]
#[ignore = "needs a disposable cluster: set FERRY_TEST_KUBECONFIG and pass --ignored"]
fn deploy_upgrade_rollback_on_a_real_cluster() {
    let kubeconfig = std::env::var("FERRY_TEST_KUBECONFIG")
        .expect("FERRY_TEST_KUBECONFIG must name the kubeconfig of a disposable cluster");
    let image =
        std::env::var("FERRY_TEST_IMAGE").unwrap_or_else(|_| "registry.k8s.io/pause:3.10".into());
    let (repository, tag) = image
        .rsplit_once(':')
        .expect("FERRY_TEST_IMAGE is REPOSITORY:TAG");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let bundle = dir.path().join("example.tar");
    common::build_example(&cache, &bundle);
    let values = dir.path().join("values.yaml");
    std::fs::write(
        &values,
        format!("hello:\n  image: {{repository: {repository}, tag: \"{tag}\"}}\n"),
    )
    .unwrap();
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            bundle.to_str().unwrap(),
            "--insecure-skip-signature",
            "--no-strict",
            "-q",
            "--kubeconfig",
            &kubeconfig,
            "--values",
            values.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ferry_env(&cache, &[], &args)
    };
    let first = deploy(&[]).ok();
    assert!(first.stdout.contains("hello: revision"), "{}", first.stdout);
    let again = deploy(&[]).ok();
    assert!(again.stdout.contains("0 written"), "{}", again.stdout);
    let more = dir.path().join("more.yaml");
    std::fs::write(&more, "hello: {replicas: 1}\n").unwrap();
    deploy(&["--values", more.to_str().unwrap()]).ok();
    ferry_env(
        &cache,
        &[],
        &["rollback", "hello", "--kubeconfig", &kubeconfig],
    )
    .ok();
    let status = ferry_env(
        &cache,
        &[],
        &["status", "--json", "--kubeconfig", &kubeconfig],
    )
    .ok()
    .json();
    assert_eq!(status["not_ready"]["hello"], serde_json::json!([]));
    for args in [
        vec!["delete", "namespace", "hello", "--wait=false"],
        vec!["delete", "namespace", "ferry-system", "--wait=false"],
    ] {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

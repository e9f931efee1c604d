//! The in-cluster unpacker: `ferry deploy --in-cluster --plan` (the objects
//! it would create, checked), `ferry deploy --in-cluster` applying them to
//! the Kubernetes API double, and `ferry unpacker run` run as a process the
//! way the Job's pod runs it: the in-cluster environment
//! (`KUBERNETES_SERVICE_HOST`/`PORT`, a service-account directory with the
//! double's token and CA), a real `docker-registry` behind the Harbor API
//! double, the bundle from `ferry serve` over HTTP or from a local path (as
//! a hostPath mount gives it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod harbor_double;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{copy_example, ferry, s, Run};
use harbor_double::HarborDouble;
use kube_double::{Double, Options};
use serde_json::Value;
use support::{free_port, require_tools, FaultMode, FaultProxy, Registry, RegistryOptions};

/// A signed example bundle, the API double, a registry behind the Harbor double.
struct Env {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    public: PathBuf,
    double: Double,
    sa_dir: PathBuf,
    registry: Registry,
    harbor: HarborDouble,
    docker_config: PathBuf,
}

fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    let config_dir = dir.join(format!("docker-{user}-{password}"));
    std::fs::create_dir_all(&config_dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { host: { "auth": auth } } });
    std::fs::write(config_dir.join("config.json"), json.to_string()).unwrap();
    config_dir
}

impl Env {
    fn new() -> Env {
        require_tools();
        let dir = tempfile::tempdir().unwrap();
        let spec = copy_example(dir.path());
        let cache = dir.path().join("cache");
        let key = dir.path().join("cosign.key");
        let public = dir.path().join("cosign.pub");
        common::generate_key(&cache, &[], &key, &public, &[]).ok();
        let bundle = dir.path().join("example.tar");
        ferry(
            &cache,
            &[
                "build",
                s(&spec),
                "--locked",
                "-o",
                s(&bundle),
                "--sign-key",
                s(&key),
                "-q",
            ],
        )
        .ok();
        let double = Double::spawn(Options::default()).unwrap();
        let sa_dir = dir.path().join("serviceaccount");
        std::fs::create_dir_all(&sa_dir).unwrap();
        std::fs::write(sa_dir.join("token"), double.token().unwrap()).unwrap();
        std::fs::write(sa_dir.join("ca.crt"), double.ca_pem().unwrap()).unwrap();
        std::fs::write(sa_dir.join("namespace"), "ferry-system").unwrap();
        let registry = Registry::start(RegistryOptions::token());
        let harbor = HarborDouble::start(
            &registry.host(),
            &[("ferry", "ferry-pass"), ("admin", "Harbor12345")],
            registry.realm(),
        );
        let docker_config = docker_config(dir.path(), &harbor.host(), "ferry", "ferry-pass");
        Env {
            dir,
            bundle,
            public,
            double,
            sa_dir,
            registry,
            harbor,
            docker_config,
        }
    }

    /// `ferry unpacker run` as the pod runs it: in-cluster environment, no kubeconfig.
    fn unpacker_command(
        &self,
        work: &Path,
        source: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Command {
        self.unpacker_command_with_key(work, source, extra_env, &self.public)
    }

    fn unpacker_command_with_key(
        &self,
        work: &Path,
        source: &[&str],
        extra_env: &[(&str, &str)],
        key: &Path,
    ) -> Command {
        let url = url::Url::parse(&self.double.url()).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
        command
            .args(["unpacker", "run"])
            .args(source)
            .args(["--work-dir", s(work), "--key", s(key)])
            .args(["--to", &format!("{}/example", self.harbor.host())])
            .args(["--job-name", "ferry-unpacker-test"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", work)
            .env("FERRY_CACHE_DIR", work.join("cache"))
            .env("FERRY_SEED_FILE", work.join("site.seed"))
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("FERRY_SERVICE_ACCOUNT_DIR", &self.sa_dir)
            .env("KUBERNETES_SERVICE_HOST", url.host_str().unwrap())
            .env("KUBERNETES_SERVICE_PORT", url.port().unwrap().to_string());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        command
    }

    fn unpack(&self, work: &Path, source: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let output = self
            .unpacker_command(work, source, extra_env)
            .output()
            .unwrap();
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn record(&self) -> Option<Value> {
        let url = url::Url::parse(&self.double.url()).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["status", "--json"])
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .env("FERRY_SERVICE_ACCOUNT_DIR", &self.sa_dir)
            .env("KUBERNETES_SERVICE_HOST", url.host_str().unwrap())
            .env("KUBERNETES_SERVICE_PORT", url.port().unwrap().to_string())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let status: Value = serde_json::from_slice(&output.stdout).unwrap();
        let record = status["record"].clone();
        (!record.is_null()).then_some(record)
    }

    /// Manifests the Harbor endpoint accepted.
    fn manifest_puts(&self) -> usize {
        self.harbor
            .registry_calls()
            .iter()
            .filter(|c| c.method == "PUT" && c.target.contains("/manifests/") && c.status < 300)
            .count()
    }

    /// Completed blob uploads (`PUT …/blobs/uploads/…?digest=`) per digest.
    fn blob_uploads(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for call in self.harbor.registry_calls() {
            if call.method == "PUT" && call.target.contains("/blobs/uploads/") && call.status < 300
            {
                if let Some(digest) = call.target.split("digest=").nth(1) {
                    let digest = digest.split('&').next().unwrap().replace("%3A", ":");
                    *counts.entry(digest).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    fn assert_deployed(&self) {
        let deployments = self.double.list("apps/v1", "Deployment", Some("hello"));
        assert!(
            !deployments.is_empty(),
            "the example's Deployment is applied"
        );
        let image = deployments[0]
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        assert!(
            image.starts_with(&format!("{}/example/", self.harbor.host())),
            "the Deployment pulls from Harbor: {image}"
        );
        let record = self.record().expect("a deployment record");
        assert_eq!(record["status"], "deployed", "{record}");
        assert_eq!(
            record["ranBy"],
            "in-cluster job ferry-system/ferry-unpacker-test"
        );
        assert!(self.harbor.projects().contains(&"example".to_owned()));
    }
}

/// `ferry serve BUNDLE` on a free port; killed on drop.
struct Served {
    child: Child,
    port: u16,
}

impl Served {
    fn start(bundle: &Path, public: &Path, cache: &Path) -> Served {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["serve", s(bundle), "--key", s(public), "--quiet"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("FERRY_CACHE_DIR", cache)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "ferry serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Served { child, port }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plan(env: &Env, source: &[&str]) -> Value {
    let mut args = vec![
        "deploy",
        s(&env.bundle),
        "--key",
        s(&env.public),
        "--in-cluster",
        "--plan",
        "--json",
        "--harbor",
        "harbor.harbor.svc:80/example",
    ];
    args.extend_from_slice(source);
    ferry(&env.dir.path().join("cache"), &args).ok().json()
}

fn find<'a>(objects: &'a [Value], kind: &str, namespace: Option<&str>) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o.pointer("/metadata/namespace").and_then(Value::as_str) == namespace
        })
        .unwrap_or_else(|| panic!("no {kind} in {namespace:?}"))
}

#[test]
fn the_plan_lists_narrow_rbac_the_secret_and_a_locked_down_job() {
    let env = Env::new();
    let planned = plan(
        &env,
        &[
            "--bundle-url",
            "http://10.0.0.5:5000/_ferry/bundle.tar",
            "--var",
            "SITE_NAME=example",
        ],
    );
    let objects = planned["objects"].as_array().unwrap();
    // The ServiceAccount, its ClusterRole (cluster-scoped kinds only) and the
    // example's Deployment allowed only in its namespace.
    find(objects, "ServiceAccount", Some("ferry-system"));
    let cluster_role = find(objects, "ClusterRole", None);
    let cluster_resources: Vec<&str> = cluster_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(cluster_resources.contains(&"namespaces"));
    assert!(
        !cluster_resources.contains(&"deployments") && !cluster_resources.contains(&"secrets"),
        "namespaced kinds are not granted cluster-wide: {cluster_resources:?}"
    );
    let hello = find(objects, "Role", Some("hello"));
    let deployments = hello["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .contains(&"deployments".into())
        })
        .expect("deployments in hello");
    assert_eq!(deployments["apiGroups"], serde_json::json!(["apps"]));
    for verb in ["get", "create", "patch", "delete"] {
        assert!(deployments["verbs"]
            .as_array()
            .unwrap()
            .contains(&verb.into()));
    }
    let system = find(objects, "Role", Some("ferry-system"));
    assert!(system.to_string().contains("leases"), "the lease: {system}");
    let binding = find(objects, "RoleBinding", Some("hello"));
    assert_eq!(binding["subjects"][0]["name"], "ferry-unpacker");
    assert_eq!(binding["subjects"][0]["namespace"], "ferry-system");
    assert!(!planned["rbac"]["notes"].as_array().unwrap().is_empty());
    // The trusted key goes in as a Secret.
    let secret = find(objects, "Secret", Some("ferry-system"));
    assert_eq!(
        secret["stringData"]["cosign.pub"].as_str().unwrap(),
        std::fs::read_to_string(&env.public).unwrap()
    );
    // The site seed goes in too (the pod renders what this machine would), never printed.
    let seed = secret["stringData"]["site.seed"].as_str().unwrap();
    assert!(seed.starts_with("(redacted, "), "{seed}");
    // The Job: ferry's image by digest, locked down, the URL source.
    let job = find(objects, "Job", Some("ferry-system"));
    assert!(job["spec"]["backoffLimit"].as_i64().unwrap() > 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "ferry-unpacker");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--var", "SITE_NAME=example"]),
        "{args:?}"
    );
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "FERRY_SEED_FILE"),
        "{container}"
    );
    let image = container["image"].as_str().unwrap();
    assert!(
        image.starts_with("ferry.local/ferry:0.1.0@sha256:"),
        "{image}"
    );
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(container["resources"]["limits"]["memory"].is_string());
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["unpacker", "run"]);
    assert!(args
        .windows(2)
        .any(|w| w == ["--bundle-url", "http://10.0.0.5:5000/_ferry/bundle.tar"]));
    assert!(args
        .windows(2)
        .any(|w| w == ["--to", "harbor.harbor.svc:80/example"]));
    let volumes = pod["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["emptyDir"].is_object()));
    assert!(volumes.iter().all(|v| v["hostPath"].is_null()));

    // The hostPath source: the file's directory mounted read-only, the pod bound to the node.
    let planned = plan(&env, &["--host-path", "node-1:/srv/bundles/example.tar"]);
    let objects = planned["objects"].as_array().unwrap();
    let pod = &find(objects, "Job", Some("ferry-system"))["spec"]["template"]["spec"];
    let host = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["hostPath"].is_object())
        .unwrap();
    assert_eq!(host["hostPath"]["path"], "/srv/bundles");
    let node = pod.pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0").unwrap();
    assert_eq!(node["values"], serde_json::json!(["node-1"]));
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "bundle")
        .unwrap();
    assert_eq!(mount["readOnly"], true);
    let args = pod["containers"][0]["args"].to_string();
    assert!(
        args.contains("\"--bundle-path\",\"/bundle/example.tar\""),
        "{args}"
    );

    // `ferry deploy --in-cluster` applies them to a cluster (the double) and follows the Job.
    let kubeconfig = env.dir.path().join("kubeconfig");
    env.double.write_kubeconfig(&kubeconfig).unwrap();
    let applied = ferry(
        &env.dir.path().join("cache"),
        &[
            "deploy",
            s(&env.bundle),
            "--key",
            s(&env.public),
            "--in-cluster",
            "--host-path",
            "node-1:/srv/bundles/example.tar",
            "--harbor",
            "harbor.harbor.svc:80/example",
            "--kubeconfig",
            s(&kubeconfig),
            "--json",
        ],
    )
    .ok()
    .json();
    let job_name = applied["job"].as_str().unwrap();
    let job = env
        .double
        .get("batch/v1", "Job", Some("ferry-system"), job_name)
        .expect("the Job is in the cluster");
    assert_eq!(
        job["spec"]["template"]["spec"]["serviceAccountName"],
        "ferry-unpacker"
    );
    assert!(env
        .double
        .get(
            "rbac.authorization.k8s.io/v1",
            "Role",
            Some("hello"),
            "ferry-unpacker"
        )
        .is_some());
}

#[test]
fn the_unpacker_pushes_and_deploys_from_a_local_path_as_the_pod_would() {
    let env = Env::new();
    let work = env.dir.path().join("work-path");
    env.unpack(&work, &["--bundle-path", s(&env.bundle)], &[])
        .ok();
    env.assert_deployed();
    let uploads = env.blob_uploads();
    assert!(!uploads.is_empty());
    // Run again (a restarted pod): nothing uploaded again, the same state.
    let manifests = env.manifest_puts();
    env.unpack(&work, &["--bundle-path", s(&env.bundle)], &[])
        .ok();
    assert_eq!(env.blob_uploads(), uploads, "no blob uploaded twice");
    assert_eq!(env.manifest_puts(), manifests, "no manifest written again");
    env.assert_deployed();
}

#[test]
fn the_unpacker_streams_the_bundle_from_serve_and_resumes_a_broken_download() {
    let env = Env::new();
    let served = Served::start(
        &env.bundle,
        &env.public,
        &env.dir.path().join("serve-cache"),
    );
    // A proxy that breaks the first download off after 1 MiB.
    let proxy = FaultProxy::start(&served.host());
    proxy.set_mode(FaultMode::die_mid_body("/_ferry/bundle.tar", 1 << 20, 1));
    let url = format!("{}/_ferry/bundle.tar", proxy.url());
    let work = env.dir.path().join("work-url");
    let broken = env.unpack(&work, &["--bundle-url", &url], &[]).failed();
    assert!(
        broken.stderr.contains(&url) && broken.stderr.contains("run again to resume"),
        "{}",
        broken.stderr
    );
    assert_eq!(
        env.manifest_puts(),
        0,
        "nothing pushed from a partial bundle"
    );
    let kept = std::fs::metadata(work.join("bundle.tar.part"))
        .unwrap()
        .len();
    assert!(kept >= 1 << 20, "the first MiB is kept: {kept}");
    let again = env.unpack(&work, &["--bundle-url", &url], &[]).ok();
    let size = std::fs::metadata(&env.bundle).unwrap().len();
    let expected = format!(
        "bundle complete ({size} bytes; {} fetched now, {kept} kept from before)",
        size - kept
    );
    assert!(
        again.stderr.contains(&expected),
        "{expected} not in:\n{}",
        again.stderr
    );
    assert_eq!(
        common::sha256_file(&work.join("bundle.tar")),
        common::sha256_file(&env.bundle)
    );
    env.assert_deployed();
}

#[test]
fn bad_input_fails_clearly_and_nothing_half_pushed_looks_complete() {
    let env = Env::new();
    // A key that did not sign the bundle.
    let other_key = env.dir.path().join("other.key");
    let other_pub = env.dir.path().join("other.pub");
    common::generate_key(
        &env.dir.path().join("cache"),
        &[],
        &other_key,
        &other_pub,
        &[],
    )
    .ok();
    let work = env.dir.path().join("work-bad");
    let mut wrong =
        env.unpacker_command_with_key(&work, &["--bundle-path", s(&env.bundle)], &[], &other_pub);
    let output = wrong.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("did not verify") || stderr.contains("signature"),
        "{stderr}"
    );
    assert_eq!(env.manifest_puts(), 0, "nothing pushed with a wrong key");
    assert!(env.record().is_none(), "nothing deployed");

    // An unreachable bundle URL.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/_ferry/bundle.tar");
    let unreachable = env.unpack(&work, &["--bundle-url", &url], &[]).failed();
    assert!(unreachable.stderr.contains(&url), "{}", unreachable.stderr);

    // A truncated bundle (the file ends early, as a cut copy does).
    let truncated = env.dir.path().join("truncated.tar");
    let bytes = std::fs::metadata(&env.bundle).unwrap().len();
    std::fs::copy(&env.bundle, &truncated).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(bytes / 2)
        .unwrap();
    let cut = env
        .unpack(&work, &["--bundle-path", s(&truncated)], &[])
        .failed();
    assert!(cut.stderr.contains("truncated.tar"), "{}", cut.stderr);
    assert_eq!(env.manifest_puts(), 0);

    // Harbor refusing the credentials.
    let bad_config = docker_config(env.dir.path(), &env.harbor.host(), "ferry", "wrong-pass");
    let refused = env
        .unpack(
            &work,
            &["--bundle-path", s(&env.bundle)],
            &[("DOCKER_CONFIG", s(&bad_config))],
        )
        .failed();
    assert!(
        refused.stderr.contains("401")
            || refused.stderr.contains("unauthorized")
            || refused.stderr.contains("credentials"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        env.manifest_puts(),
        0,
        "no manifest: nothing looks complete"
    );
    assert!(env.record().is_none(), "nothing deployed");
    let _ = &env.registry;
}

#[test]
fn killed_mid_push_the_rerun_uploads_nothing_twice() {
    let env = Env::new();
    let work = env.dir.path().join("work-kill");
    let mut child = env
        .unpacker_command(&work, &["--bundle-path", s(&env.bundle)], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the first blob upload has started.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let started = env
            .harbor
            .registry_calls()
            .iter()
            .any(|c| c.method == "POST" && c.target.contains("/blobs/uploads/"));
        if started || child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let at_kill = env.manifest_puts();
    env.unpack(&work, &["--bundle-path", s(&env.bundle)], &[])
        .ok();
    assert!(
        at_kill < env.manifest_puts(),
        "the kill came before the push finished ({at_kill} manifests then, {} after the re-run)",
        env.manifest_puts()
    );
    for (digest, count) in env.blob_uploads() {
        assert_eq!(count, 1, "blob {digest} uploaded {count} times");
    }
    env.assert_deployed();
}

#[test]
fn the_bootstrap_plan_names_a_command_for_each_step() {
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let plan = ferry(
        &cache,
        &[
            "bootstrap",
            s(&env.bundle),
            "--key",
            s(&env.public),
            "--plan",
            "--json",
            "--bastion",
            "10.0.0.5:5000",
            "--harbor-component",
            "hello",
        ],
    )
    .ok()
    .json();
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7);
    let commands: Vec<String> = steps
        .iter()
        .map(|step| step["commands"][0].as_str().unwrap().to_owned())
        .collect();
    assert!(commands[0].starts_with("ferry serve "), "{commands:?}");
    assert!(commands[1].contains("--print-config --advertise 10.0.0.5:5000"));
    assert!(commands[2].contains("kubespray-offline.yml"));
    // "Harbor" (here: hello) deployed first from the bastion, nothing else.
    assert!(commands[3].starts_with("ferry deploy ") && commands[3].contains("--no-strict"));
    assert!(
        commands[4].contains("--in-cluster --bundle-url http://10.0.0.5:5000/_ferry/bundle.tar")
    );
    // Every printed command is one ferry accepts: the Harbor step and the in-cluster plan run.
    let args: Vec<&str> = commands[3].split_whitespace().skip(1).collect();
    let mut with_plan = args.clone();
    with_plan.push("--plan");
    ferry(&cache, &with_plan).ok();
    let mut in_cluster: Vec<&str> = commands[4]
        .split_whitespace()
        .skip(1)
        .filter(|a| *a != "--wait")
        .collect();
    let auth = in_cluster
        .iter()
        .position(|a| *a == "--harbor-auth")
        .unwrap();
    in_cluster.drain(auth..auth + 2);
    in_cluster.push("--plan");
    ferry(&cache, &in_cluster).ok();
    // Harbor first, the bastion second, once Harbor holds the bundle: a command ferry runs.
    assert!(commands[5].contains("--print-config") && commands[5].contains("--registry "));
    let config = env.dir.path().join("node-config-harbor");
    let mut mirrors: Vec<&str> = commands[5].split_whitespace().skip(1).collect();
    let at = mirrors.iter().position(|a| *a == "--config-dir").unwrap();
    mirrors[at + 1] = s(&config);
    ferry(&cache, &mirrors).ok();
    let hosts = std::fs::read_to_string(config.join("containerd/certs.d/example.local/hosts.toml"))
        .unwrap();
    let harbor = hosts.find("override_path").unwrap();
    let bastion = hosts.find("10.0.0.5:5000").unwrap();
    assert!(harbor < bastion, "{hosts}");
}

//! Self-tests of the integration-test harness (`tests/support`) against the real tools.
//!
//! Needs docker-registry, skopeo, htpasswd, openssl, curl and python3 (token service); see
//! `support::require_tools`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use support::images::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use support::skopeo::{
    seed_as, skopeo, skopeo_copy_from_oci_layout_all, skopeo_inspect_digest_as,
    skopeo_inspect_media_type, skopeo_list_tags,
};
use support::*;

fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "20"]);
    c
}

/// Builds a layout with a 2-layer image tagged "1.0" and returns (tempdir, info).
fn simple_layout(seed: u64) -> (tempfile::TempDir, ImageInfo) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = OciLayoutBuilder::new(dir.path());
    let info = b.add_image(Some("1.0"), &ImageSpec::with_layers(seed, 2, 4096));
    (dir, info)
}

#[test]
fn tools_are_installed() {
    require_tools();
    assert!(token_server_script().is_file());
}

#[test]
fn layout_is_deterministic_and_shares_layers() {
    let build = || {
        let dir = tempfile::tempdir().unwrap();
        let mut b = OciLayoutBuilder::new(dir.path());
        let img = b.add_image(
            Some("img"),
            &ImageSpec::new(vec![
                LayerSpec::new(1, 10_000),
                LayerSpec::random(2, 50_000),
            ]),
        );
        let idx = b.add_multi_arch(Some("multi"), 10, 2000);
        let index_json = std::fs::read(dir.path().join("index.json")).unwrap();
        (dir, img, idx, index_json)
    };
    let (d1, img1, idx1, ij1) = build();
    let (_d2, img2, idx2, ij2) = build();
    assert_eq!(img1.manifest_digest, img2.manifest_digest);
    assert_eq!(img1.layers, img2.layers);
    assert_eq!(idx1.index_digest, idx2.index_digest);
    assert_eq!(ij1, ij2, "index.json must be byte-identical");
    // Random content does not compress; text content does.
    assert!(img1.layers[1].size > 50_000);
    assert!(img1.layers[0].size < 5_000);
    // Multi-arch children share the bottom layer but differ otherwise.
    let amd = idx1.image("amd64");
    let arm = idx1.image("arm64");
    assert_eq!(amd.layers[0].digest, arm.layers[0].digest);
    assert_ne!(amd.layers[1].digest, arm.layers[1].digest);
    assert_ne!(amd.manifest_digest, arm.manifest_digest);
    // Blobs on disk match their digests.
    for d in idx1.blob_digests().iter().chain(img1.blob_digests().iter()) {
        let path = d1.path().join("blobs/sha256").join(&d[7..]);
        assert_eq!(format!("sha256:{}", sha256_file(&path)), *d);
    }
    let v: serde_json::Value = serde_json::from_slice(&ij1).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(v["manifests"][1]["mediaType"], OCI_INDEX);
    assert_eq!(
        v["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "img"
    );
    // skopeo reads the layout and reproduces the digests.
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        skopeo_copy_from_oci_layout(d1.path(), "img", &out.path().join("a")),
        img1.manifest_digest
    );
    assert_eq!(
        skopeo_copy_from_oci_layout_all(d1.path(), "multi", &out.path().join("b")),
        idx1.index_digest
    );
}

#[test]
fn plain_registry_seed_count_restart() {
    let mut reg = Registry::start(RegistryOptions::default());
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    let (dir, info) = simple_layout(100);
    let d = seed(
        dir.path(),
        "1.0",
        &reg,
        "lib/app:1.0",
        SeedFormat::Oci,
        false,
    );
    assert_eq!(d, info.manifest_digest);
    assert_eq!(skopeo_inspect_digest(&reg, "lib/app:1.0"), d);
    assert_eq!(skopeo_inspect_media_type(&reg, "lib/app:1.0"), OCI_MANIFEST);
    assert_eq!(reg.count(RequestKind::BlobUploadCompleted), 3);
    assert_eq!(reg.count(RequestKind::BlobUploadPut), 3);
    assert_eq!(reg.count(RequestKind::ManifestPut), 1);
    assert_eq!(reg.count_requests("PUT", "/manifests/1.0"), 1);

    // Docker format: converted manifest, different digest, the stored one is returned.
    let dd = seed(
        dir.path(),
        "1.0",
        &reg,
        "lib/app-docker:1.0",
        SeedFormat::Docker,
        false,
    );
    assert_ne!(dd, info.manifest_digest);
    assert_eq!(dd, skopeo_inspect_digest(&reg, "lib/app-docker:1.0"));
    assert_eq!(
        skopeo_inspect_media_type(&reg, "lib/app-docker:1.0"),
        DOCKER_MANIFEST
    );
    assert_eq!(skopeo_list_tags(&reg, "lib/app"), vec!["1.0".to_string()]);

    // Restart keeps port and content.
    let host = reg.host();
    reg.stop();
    assert!(!reg.is_running());
    reg.restart();
    assert!(reg.is_running());
    assert_eq!(reg.host(), host);
    assert_eq!(skopeo_inspect_digest(&reg, "lib/app:1.0"), d);
    assert!(reg.count(RequestKind::ManifestGet) >= 3);
}

#[test]
fn multi_arch_seed_with_all() {
    let reg = Registry::start(RegistryOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let mut b = OciLayoutBuilder::new(dir.path());
    let idx = b.add_multi_arch(Some("2.0"), 200, 3000);
    let d = seed(
        dir.path(),
        "2.0",
        &reg,
        "lib/multi:2.0",
        SeedFormat::Oci,
        true,
    );
    assert_eq!(d, idx.index_digest);
    let raw: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect_raw(&reg, "lib/multi:2.0")).unwrap();
    assert_eq!(raw["mediaType"], OCI_INDEX);
    let ms = raw["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0]["platform"]["architecture"], "amd64");
    assert_eq!(ms[1]["platform"]["architecture"], "arm64");
    for img in &idx.images {
        let r = format!("lib/multi@{}", img.manifest_digest);
        assert_eq!(skopeo_inspect_digest(&reg, &r), img.manifest_digest);
    }
    // Shared layer uploaded once: 2 configs + 3 distinct layers.
    assert_eq!(reg.count(RequestKind::BlobUploadCompleted), 5);
    // Docker manifest list via --all --format v2s2.
    let dd = seed(
        dir.path(),
        "2.0",
        &reg,
        "lib/multi-docker:2.0",
        SeedFormat::Docker,
        true,
    );
    assert_eq!(
        skopeo_inspect_media_type(&reg, "lib/multi-docker:2.0"),
        DOCKER_MANIFEST_LIST
    );
    assert_ne!(dd, idx.index_digest);
}

#[test]
fn basic_auth_registry() {
    let reg = Registry::start(RegistryOptions {
        auth: Auth::basic("ferry", "ferry-pass"),
        tls: false,
    });
    assert_eq!(
        reg.credentials(),
        Some(("ferry".to_string(), "ferry-pass".to_string()))
    );
    let (dir, info) = simple_layout(300);
    let d = seed(dir.path(), "1.0", &reg, "lib/b:1.0", SeedFormat::Oci, false);
    assert_eq!(d, info.manifest_digest);
    assert_eq!(reg.count(RequestKind::ManifestPut), 1);
    assert_eq!(reg.count(RequestKind::BlobUploadCompleted), 3);
    assert_eq!(skopeo_inspect_digest(&reg, "lib/b:1.0"), d);
    // Without / with wrong credentials it fails.
    let mut c = skopeo();
    c.args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/lib/b:1.0", reg.host()));
    run_fail(&mut c);
    let mut c = skopeo();
    c.args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds=ferry:nope",
    ])
    .arg(format!("docker://{}/lib/b:1.0", reg.host()));
    run_fail(&mut c);
    let code = run_ok(
        curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{}/v2/", reg.url())),
    );
    assert_eq!(code, "401");
}

#[test]
fn token_auth_registry() {
    let reg = Registry::start(RegistryOptions {
        auth: Auth::Token,
        tls: false,
    });
    let realm = reg.realm().unwrap().to_string();
    assert!(realm.starts_with("http://127.0.0.1:") && realm.ends_with("/service/token"));
    let (dir, info) = simple_layout(400);
    let d = seed(
        dir.path(),
        "1.0",
        &reg,
        "library/t:1.0",
        SeedFormat::Oci,
        false,
    );
    assert_eq!(d, info.manifest_digest);
    // reader can pull but not push.
    assert_eq!(
        skopeo_inspect_digest_as(&reg, "library/t:1.0", Some(("reader", "reader-pass"))),
        d
    );
    let mut c = skopeo();
    c.arg("copy")
        .args(reg.skopeo_args_as("dest-", Some(("reader", "reader-pass"))))
        .arg(format!("oci:{}:1.0", dir.path().display()))
        .arg(format!("docker://{}/library/other:1.0", reg.host()));
    run_fail(&mut c);
    // The challenge names the realm and Harbor's service.
    let out = run_ok(curl().arg("-i").arg(format!("{}/v2/", reg.url())));
    assert!(
        out.contains(&format!(
            "Bearer realm=\"{realm}\",service=\"harbor-registry\""
        )),
        "{out}"
    );
    // admin (*) may push too.
    let d2 = seed_as(
        dir.path(),
        "1.0",
        &reg,
        "library/t2:1.0",
        SeedFormat::Oci,
        false,
        Some(("admin", "Harbor12345")),
    );
    assert_eq!(d2, d);
    // 401 challenges are logged too; count_success skips them.
    assert!(reg.count(RequestKind::Any) > reg.count_success(RequestKind::Any));
    assert_eq!(reg.count_success(RequestKind::ManifestPut), 2);
    let log = std::fs::read_to_string(reg.token_log_path().unwrap()).unwrap();
    assert!(log.contains("GRANT sub='ferry'"), "{log}");
}

#[test]
fn tls_registry_with_reqwest_and_curl() {
    let reg = Registry::start(RegistryOptions {
        auth: Auth::None,
        tls: true,
    });
    assert!(reg.url().starts_with("https://"));
    let ca = reg.ca_cert_path().unwrap().to_path_buf();
    let (dir, info) = simple_layout(500);
    let d = seed(
        dir.path(),
        "1.0",
        &reg,
        "lib/tls:1.0",
        SeedFormat::Oci,
        false,
    );
    assert_eq!(d, info.manifest_digest);
    assert_eq!(skopeo_inspect_digest(&reg, "lib/tls:1.0"), d);
    // curl with the CA, via 127.0.0.1 and via localhost; without CA it fails.
    let code = run_ok(
        curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .arg(format!("{}/v2/", reg.url())),
    );
    assert_eq!(code, "200");
    let code = run_ok(
        curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .arg(format!("https://localhost:{}/v2/", reg.port())),
    );
    assert_eq!(code, "200");
    run_fail(curl().arg(format!("{}/v2/", reg.url())));
    // reqwest (rustls) trusts the rcgen CA.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pem = std::fs::read(&ca).unwrap();
    let url = format!("{}/v2/lib/tls/manifests/1.0", reg.url());
    let (status, body) = rt.block_on(async move {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        let r = client
            .get(url)
            .header("Accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap())
    });
    assert_eq!(status, 200);
    assert_eq!(body.as_ref(), info.manifest.as_slice());
}

#[test]
fn tls_token_registry() {
    let reg = Registry::start(RegistryOptions {
        auth: Auth::Token,
        tls: true,
    });
    assert!(reg.realm().unwrap().starts_with("https://127.0.0.1:"));
    let (dir, info) = simple_layout(600);
    let d = seed(
        dir.path(),
        "1.0",
        &reg,
        "library/tt:1.0",
        SeedFormat::Oci,
        false,
    );
    assert_eq!(d, info.manifest_digest);
    assert_eq!(skopeo_inspect_digest(&reg, "library/tt:1.0"), d);
    // Wrong password is rejected by the token service.
    let mut c = skopeo();
    c.args(["inspect", "--raw"])
        .args(reg.skopeo_args_as("", Some(("ferry", "WRONG"))))
        .arg(format!("docker://{}/library/tt:1.0", reg.host()));
    run_fail(&mut c);
}

#[test]
fn chart_repository_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let srv = HttpServer::serve_dir(dir.path());
    let a = write_chart(
        dir.path(),
        "alpha",
        "1.2.3",
        &[("deployment.yaml", "kind: Deployment\n")],
        "replicas: 1\n",
    );
    let written = write_chart_tgz(dir.path(), "alpha", "1.3.0", &[], "replicas: 2\n");
    let a2 = ChartEntry::new("alpha", "1.3.0", &written);
    let b = write_chart(
        dir.path(),
        "beta",
        "0.1.0",
        &[("templates/cm.yaml", "kind: ConfigMap\n")],
        "",
    );
    write_chart_index(dir.path(), &srv.url(), &[a.clone(), a2.clone(), b.clone()]);
    // Deterministic archive, valid structure.
    let again = support::charts::chart_tgz_bytes(
        "alpha",
        "1.2.3",
        &[("deployment.yaml", "kind: Deployment\n")],
        "replicas: 1\n",
    );
    assert_eq!(sha256_hex(&again), a.sha256);
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&again[..]));
    for e in ar.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert_eq!(
        names,
        [
            "alpha/Chart.yaml",
            "alpha/values.yaml",
            "alpha/templates/deployment.yaml"
        ]
    );
    // index.yaml over HTTP.
    let index = run_ok(
        curl()
            .arg("--fail")
            .arg(format!("{}/index.yaml", srv.url())),
    );
    assert!(
        index.starts_with("apiVersion: v1\nentries:\n  alpha:\n"),
        "{index}"
    );
    assert!(index.contains(&format!("digest: {}", a.sha256)));
    assert!(index.contains(&format!("- {}/beta-0.1.0.tgz", srv.url())));
    assert!(index.contains("created: \"2024-01-01T00:00:00Z\""));
    // Valid YAML with the structure Helm expects.
    let yaml = std::fs::read_to_string(dir.path().join("index.yaml")).unwrap();
    let v: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(v["entries"]["alpha"].as_array().unwrap().len(), 2);
    assert_eq!(v["entries"]["beta"][0]["digest"], b.sha256.as_str());
    assert_eq!(v["entries"]["alpha"][1]["version"], "1.3.0");
    // Chart download matches the digest.
    let out = dir.path().join("dl.tgz");
    run_ok(
        curl()
            .arg("--fail")
            .arg("-o")
            .arg(&out)
            .arg(format!("{}/{}", srv.url(), a2.file_name)),
    );
    assert_eq!(sha256_file(&out), a2.sha256);
    // HEAD, 404, "..", Range.
    let head = run_ok(
        curl()
            .arg("-I")
            .arg(format!("{}/{}", srv.url(), b.file_name)),
    );
    let len = std::fs::metadata(&b.path).unwrap().len();
    assert!(head.contains(&format!("Content-Length: {len}")), "{head}");
    let code = run_ok(
        curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{}/missing.tgz", srv.url())),
    );
    assert_eq!(code, "404");
    let code = run_ok(
        curl()
            .args(["--path-as-is", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{}/../etc/passwd", srv.url())),
    );
    assert_eq!(code, "400");
    let part = run_ok(
        curl()
            .args(["-r", "0-9"])
            .arg(format!("{}/index.yaml", srv.url())),
    );
    assert_eq!(part, "apiVersion");
    assert!(srv.count("/index.yaml") >= 2);
}

#[test]
fn fault_proxy_modes_on_file_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = support::images::pseudo_random_bytes(7, 200_000);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    std::fs::write(dir.path().join("m.json"), br#"{"digest":"sha256:abcdef"}"#).unwrap();
    let srv = HttpServer::serve_dir(dir.path());
    let proxy = FaultProxy::start(&srv.host());
    let url = format!("{}/big.bin", proxy.url());
    let out = dir.path().join("out.bin");

    // PassThrough.
    run_ok(curl().arg("--fail").arg("-o").arg(&out).arg(&url));
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // DieMidBody: curl reports a short body (exit 18), once; then pass-through again.
    proxy.set_mode(FaultMode::die_mid_body("big.bin", 1000, 1));
    let o = run_fail(curl().arg("-o").arg(&out).arg(&url));
    assert_eq!(
        o.status.code(),
        Some(18),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 1000);
    assert_eq!(proxy.mode(), FaultMode::PassThrough);
    run_ok(curl().arg("--fail").arg("-o").arg(&out).arg(&url));
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // HEAD is forwarded without a body, with the upstream Content-Length.
    proxy.set_mode(FaultMode::die_mid_body("big.bin", 10, 5));
    let h = run_ok(curl().arg("-I").arg(&url));
    assert!(h.contains("Content-Length: 200000"), "{h}");
    proxy.set_mode(FaultMode::PassThrough);

    // Status 500 twice, then pass-through.
    proxy.set_mode(FaultMode::status(500, 2, "big.bin"));
    let code = || {
        run_ok(
            curl()
                .args(["-o", "/dev/null", "-w", "%{http_code}"])
                .arg(&url),
        )
    };
    assert_eq!(code(), "500");
    assert_eq!(code(), "500");
    assert_eq!(code(), "200");

    // A method-qualified pattern only hits that method.
    proxy.set_mode(FaultMode::status(503, 1, "HEAD /big.bin"));
    assert_eq!(code(), "200");
    let h = run_ok(curl().arg("-I").arg(&url));
    assert!(h.starts_with("HTTP/1.1 503"), "{h}");
    assert_eq!(proxy.count("HEAD /big"), 2);

    // 429 with Retry-After.
    proxy.set_mode(FaultMode::rate_limit(1));
    let h = run_ok(
        curl()
            .arg("-i")
            .arg(&url)
            .args(["-o", "/dev/null", "-D", "-"]),
    );
    assert!(h.starts_with("HTTP/1.1 429"), "{h}");
    assert!(h.contains("Retry-After: 0"), "{h}");
    assert_eq!(code(), "200");

    // TamperBody keeps the length but changes the content; JSON stays valid.
    proxy.set_mode(FaultMode::tamper_body("/m.json", 1));
    let t = run_ok(curl().arg("--fail").arg(format!("{}/m.json", proxy.url())));
    assert_eq!(t, r#"{"digest":"sha256:0bcdef"}"#);
    proxy.set_mode(FaultMode::tamper_body("big.bin", 1));
    run_ok(curl().arg("--fail").arg("-o").arg(&out).arg(&url));
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got.len(), data.len());
    assert_ne!(got, data);

    assert_eq!(proxy.count_method("HEAD", "big.bin"), 2);
    assert_eq!(proxy.faults_injected(), 7);
    assert!(proxy.count("big.bin") >= 10);
}

#[test]
fn fault_proxy_in_front_of_registry() {
    let reg = Registry::start(RegistryOptions::default());
    let proxy = FaultProxy::start(&reg.host());
    let (dir, info) = simple_layout(700);
    // Push through the proxy (POST/PATCH/PUT with Location pointing back at the proxy).
    let mut c = skopeo();
    c.args(["copy", "--dest-tls-verify=false", "--preserve-digests"])
        .arg(format!("oci:{}:1.0", dir.path().display()))
        .arg(format!("docker://{}/lib/p:1.0", proxy.host()));
    run_ok(&mut c);
    assert_eq!(
        skopeo_inspect_digest(&reg, "lib/p:1.0"),
        info.manifest_digest
    );
    assert!(proxy.count_method("PUT", "/blobs/uploads/") >= 3);
    // Pull by digest through the proxy with a tampered manifest: skopeo must refuse it.
    proxy.set_mode(FaultMode::tamper_body("/manifests/sha256:", 10));
    let out = tempfile::tempdir().unwrap();
    let mut c = skopeo();
    c.args(["copy", "--src-tls-verify=false"])
        .arg(format!(
            "docker://{}/lib/p@{}",
            proxy.host(),
            info.manifest_digest
        ))
        .arg(format!("dir:{}", out.path().join("x").display()));
    let o = run_fail(&mut c);
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert!(err.contains("digest"), "{err}");
    // reqwest sees a truncated blob body as an error.
    let layer = info.layers[0].clone();
    proxy.set_mode(FaultMode::die_mid_body(&layer.digest, 100, 1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/v2/lib/p/blobs/{}", proxy.url(), layer.digest);
    let (len_header, body) = rt.block_on(async move {
        let r = reqwest::get(url).await.unwrap();
        (r.content_length(), r.bytes().await)
    });
    assert_eq!(len_header, Some(layer.size));
    assert!(body.is_err(), "truncated body must be an error");
    proxy.set_mode(FaultMode::PassThrough);
    // 500 on a blob GET fails the pull once; afterwards the proxy passes through again.
    proxy.set_mode(FaultMode::status(500, 1, "/blobs/sha256:"));
    let pull = || {
        let mut c = skopeo();
        c.args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{}/lib/p:1.0", proxy.host()))
            .arg(format!("dir:{}", out.path().join("y").display()));
        c
    };
    let o = run_fail(&mut pull());
    assert!(String::from_utf8_lossy(&o.stderr).contains("500"));
    run_ok(&mut pull());
    assert_eq!(
        digest_of(&std::fs::read(out.path().join("y/manifest.json")).unwrap()),
        info.manifest_digest
    );
}

/// An upstream that echoes the request body back with a chunked response.
fn chunked_echo_server() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = l.accept().unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let head = support::http::read_head(&mut r).unwrap();
            let body = support::http::read_request_body(&mut r, &head).unwrap();
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for chunk in body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            s.write_all(&out).unwrap();
        }
    });
    (port, h)
}

#[test]
fn fault_proxy_chunked_close_and_delay() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let data = support::images::pseudo_random_bytes(9, 12_345);
    std::fs::write(&input, &data).unwrap();
    let (port, upstream) = chunked_echo_server();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{port}"));
    let out = dir.path().join("out.bin");
    // Chunked request body in, chunked response out: the proxy de-chunks both.
    let h = run_ok(
        curl()
            .args([
                "--fail",
                "-H",
                "Transfer-Encoding: chunked",
                "-D",
                "-",
                "-T",
            ])
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .arg(format!("{}/echo", proxy.url())),
    );
    assert!(h.contains("Content-Length: 12345"), "{h}");
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // Delay, then pass-through (second and last upstream connection).
    proxy.set_mode(FaultMode::delay("/echo", 300, 1));
    let t = std::time::Instant::now();
    run_ok(
        curl()
            .arg("--fail")
            .arg("-T")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .arg(format!("{}/echo", proxy.url())),
    );
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    upstream.join().unwrap();

    // Close without response: curl sees an empty reply (exit 52).
    proxy.set_mode(FaultMode::close_without_response("/echo", 1));
    let o = run_fail(curl().arg(format!("{}/echo", proxy.url())));
    assert_eq!(
        o.status.code(),
        Some(52),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Upstream gone: 502.
    let code = run_ok(
        curl()
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{}/echo", proxy.url())),
    );
    assert_eq!(code, "502");
    let faults: Vec<_> = proxy.requests().iter().map(|r| r.fault).collect();
    assert_eq!(faults, [None, Some("delay"), Some("close"), None]);
}

//! Signing: cosign-format signatures that openssl verifies, trust policies,
//! encrypted keys, and every way a signature can be wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::{copy_example, ferry, ferry_env, generate_key, s, sha256_file, Run};
use serde_json::Value;

const SIG_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

struct Keys {
    key: PathBuf,
    public: PathBuf,
    fingerprint: String,
}

fn keygen(dir: &Path, name: &str, password: Option<&str>) -> Keys {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let env: Vec<(&str, &str)> = password
        .map(|p| vec![("FERRY_KEY_PASSWORD", p)])
        .unwrap_or_default();
    let run = generate_key(&dir.join("cache"), &env, &key, &public, &["--json"]).ok();
    let report = run.json();
    assert_eq!(report["encrypted"], password.is_some());
    Keys {
        key,
        public,
        fingerprint: report["fingerprint"].as_str().unwrap().to_owned(),
    }
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (scripts/test.sh installs it)")
}

/// Builds the example signed with `key` (if any) into `out`; returns the build report.
fn build(dir: &Path, out: &Path, key: Option<&Path>, extra: &[&str]) -> Value {
    let spec = dir.join("examples/bundles/example.yaml");
    if !spec.exists() {
        copy_example(dir);
    }
    let mut args = vec!["build", s(&spec), "--locked", "-o", s(out), "--json"];
    if let Some(key) = key {
        args.extend(["--sign-key", s(key)]);
    }
    args.extend_from_slice(extra);
    ferry(&dir.join("cache"), &args).ok().json()
}

fn verify(dir: &Path, bundle: &Path, trust: &[&str]) -> Run {
    let mut args = vec!["verify", s(bundle), "--json"];
    args.extend_from_slice(trust);
    ferry(&dir.join("cache"), &args)
}

fn unpack(dir: &Path, bundle: &Path, layout: &Path, trust: &[&str]) -> Run {
    let mut args = vec!["unpack", s(bundle), "-o", s(layout)];
    args.extend_from_slice(trust);
    ferry(&dir.join("cache"), &args)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// Writes a blob into the layout; returns its digest.
fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    std::fs::write(blob_path(layout, &digest), bytes).unwrap();
    digest
}

/// The signature entry of `index.json` (exactly one).
fn signature_entry(layout: &Path) -> Value {
    let index = read_json(&layout.join("index.json"));
    let entries: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["artifactType"] == SIG_ARTIFACT)
        .collect();
    assert_eq!(entries.len(), 1, "one signature entry in {index}");
    entries[0].clone()
}

/// Rewrites the layout's signature manifest with `edit` (which may change the
/// manifest and the payload), storing the new blobs, dropping the old ones and
/// pointing `index.json` at the new manifest.
fn rewrite_signature(layout: &Path, edit: impl FnOnce(&mut Value, &mut Vec<u8>)) {
    let entry = signature_entry(layout);
    let old_manifest = entry["digest"].as_str().unwrap().to_owned();
    let mut manifest = read_json(&blob_path(layout, &old_manifest));
    let old_payload = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let mut payload = std::fs::read(blob_path(layout, &old_payload)).unwrap();
    let before = payload.clone();
    edit(&mut manifest, &mut payload);
    if payload != before {
        std::fs::remove_file(blob_path(layout, &old_payload)).unwrap();
        let digest = put_blob(layout, &payload);
        manifest["layers"][0]["digest"] = Value::from(digest);
        manifest["layers"][0]["size"] = Value::from(payload.len());
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    std::fs::remove_file(blob_path(layout, &old_manifest)).unwrap();
    let digest = put_blob(layout, &bytes);
    let index_path = layout.join("index.json");
    let mut index = read_json(&index_path);
    for e in index["manifests"].as_array_mut().unwrap() {
        if e["digest"] == old_manifest.as_str() {
            e["digest"] = Value::from(digest.clone());
            e["size"] = Value::from(bytes.len());
        }
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Signs `payload` with openssl (ECDSA over SHA-256, DER); returns base64.
fn openssl_sign(dir: &Path, key: &Path, payload: &[u8]) -> String {
    let input = dir.join("to-sign");
    let sig = dir.join("openssl.sig");
    std::fs::write(&input, payload).unwrap();
    let out = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        s(key),
        "-out",
        s(&sig),
        s(&input),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(&sig).unwrap())
}

fn expected_payload(root: &str) -> String {
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"ferry-bundle/example\"}},\"image\":{{\"docker-manifest-digest\":\"{root}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
    )
}

#[test]
fn openssl_verifies_the_signature_in_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let keys = keygen(dir, "cosign", None);
    // ferry's key files are what openssl expects: plain PKCS#8 and its SPKI public key.
    assert!(std::fs::read_to_string(&keys.key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let derived = openssl(&["pkey", "-in", s(&keys.key), "-pubout"]);
    assert!(derived.status.success());
    assert_eq!(
        String::from_utf8(derived.stdout).unwrap(),
        std::fs::read_to_string(&keys.public).unwrap()
    );
    let spki = openssl(&["pkey", "-pubin", "-in", s(&keys.public), "-outform", "DER"]);
    assert!(spki.status.success());
    let fingerprint = {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&spki.stdout)))
    };
    assert_eq!(keys.fingerprint, fingerprint);

    let out = dir.join("out/bundle.tar");
    let built = build(dir, &out, Some(&keys.key), &[]);
    assert_eq!(built["signed_by"], fingerprint.as_str());
    let root = built["root"].as_str().unwrap().to_owned();
    let report = verify(dir, &out, &["--key", s(&keys.public)]).ok().json();
    assert_eq!(report["signed_by"], fingerprint.as_str());
    assert_eq!(report["root"], root.as_str());

    let layout = dir.join("layout");
    unpack(dir, &out, &layout, &["--key", s(&keys.public)]).ok();
    let entry = signature_entry(&layout);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        format!("sha256-{}.sig", root.strip_prefix("sha256:").unwrap())
    );
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let manifest = read_json(&blob_path(&layout, entry["digest"].as_str().unwrap()));
    assert_eq!(manifest["artifactType"], SIG_ARTIFACT);
    assert_eq!(manifest["subject"]["digest"], root.as_str());
    assert_eq!(
        manifest["subject"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["config"]["size"], 2);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], SIMPLE_SIGNING);
    let payload_path = blob_path(&layout, layers[0]["digest"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(&payload_path).unwrap(),
        expected_payload(&root)
    );
    let der = base64::engine::general_purpose::STANDARD
        .decode(layers[0]["annotations"][SIG_ANNOTATION].as_str().unwrap())
        .unwrap();
    let sig_path = dir.join("sig.der");
    std::fs::write(&sig_path, &der).unwrap();
    let checked = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        s(&keys.public),
        "-signature",
        s(&sig_path),
        s(&payload_path),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout).trim(),
        "Verified OK",
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // skopeo, an independent OCI client, finds the signature under cosign's tag.
    let tag = format!("sha256-{}.sig", root.strip_prefix("sha256:").unwrap());
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", &format!("oci:{}:{tag}", s(&layout))])
        .output()
        .expect("skopeo is installed (scripts/test.sh installs it)");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        raw.stdout,
        std::fs::read(blob_path(&layout, entry["digest"].as_str().unwrap())).unwrap()
    );
    // The unpacked layout verifies too (the signature entry and blobs are allowed extras).
    verify(dir, &layout, &["--key", s(&keys.public)]).ok();
}

#[test]
fn same_lock_and_key_give_the_same_signed_archive() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let keys = keygen(a.path(), "cosign", None);
    let out_a = a.path().join("a.tar");
    let out_b = b.path().join("b.tar");
    let built_a = build(a.path(), &out_a, Some(&keys.key), &["-j", "1"]);
    let built_b = build(b.path(), &out_b, Some(&keys.key), &["-j", "8"]);
    assert_eq!(sha256_file(&out_a), sha256_file(&out_b));
    assert_eq!(built_a["sha256"], built_b["sha256"]);
    // Signing changes the archive (it carries the signature), not the root.
    let unsigned = a.path().join("unsigned.tar");
    let built_u = build(a.path(), &unsigned, None, &[]);
    assert_eq!(built_u["root"], built_a["root"]);
    assert_ne!(sha256_file(&unsigned), sha256_file(&out_a));
    assert_eq!(built_u["signed_by"], Value::Null);
    // zstd archives are signed the same way, reproducibly.
    let zst_a = a.path().join("a.tar.zst");
    let zst_b = b.path().join("b.tar.zst");
    build(a.path(), &zst_a, Some(&keys.key), &["--zstd"]);
    build(b.path(), &zst_b, Some(&keys.key), &["--zstd"]);
    assert_eq!(sha256_file(&zst_a), sha256_file(&zst_b));
    let report = verify(a.path(), &zst_a, &["--key", s(&keys.public)])
        .ok()
        .json();
    assert_eq!(report["signed_by"], keys.fingerprint.as_str());
}

#[test]
fn a_bundle_signed_by_an_untrusted_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let trusted = keygen(dir, "trusted", None);
    let other = keygen(dir, "other", None);
    let out = dir.join("bundle.tar");
    build(dir, &out, Some(&other.key), &[]);
    let run = verify(dir, &out, &["--key", s(&trusted.public)]).failed();
    assert!(
        run.stderr.contains(&format!(
            "does not verify with any trusted key ({})",
            trusted.fingerprint
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("failed signature verification"),
        "{}",
        run.stderr
    );
    let layout = dir.join("layout");
    let run = unpack(dir, &out, &layout, &["--key", s(&trusted.public)]).failed();
    assert!(
        run.stderr.contains("does not verify with any trusted key"),
        "{}",
        run.stderr
    );
    assert!(!layout.exists(), "a refused bundle is not unpacked");
    // --insecure-skip-signature does not accept a signature that fails against given keys.
    verify(
        dir,
        &out,
        &["--key", s(&trusted.public), "--insecure-skip-signature"],
    )
    .failed();
    // Without keys it accepts the bundle, unchecked.
    let report = verify(dir, &out, &["--insecure-skip-signature"])
        .ok()
        .json();
    assert_eq!(report["signed_by"], Value::Null);
}

#[test]
fn a_trust_file_accepts_any_listed_key() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let old = keygen(dir, "old", None);
    let new = keygen(dir, "new", None);
    let trust = dir.join("trusted.pem");
    std::fs::write(
        &trust,
        format!(
            "# ferry trust file: old key, then the new one\n{}\n# rotated in 2026\n{}",
            std::fs::read_to_string(&old.public).unwrap(),
            std::fs::read_to_string(&new.public).unwrap()
        ),
    )
    .unwrap();
    let out = dir.join("bundle.tar");
    build(dir, &out, Some(&new.key), &[]);
    let report = verify(dir, &out, &["--trust", s(&trust)]).ok().json();
    assert_eq!(report["signed_by"], new.fingerprint.as_str());
    // A trust file of the old key alone refuses it.
    let only_old = dir.join("old-only.pem");
    std::fs::copy(&old.public, &only_old).unwrap();
    let run = verify(dir, &out, &["--trust", s(&only_old)]).failed();
    assert!(run.stderr.contains(&old.fingerprint), "{}", run.stderr);
    // A trust file with a private key in it is an error, not a silent skip.
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, std::fs::read_to_string(&new.key).unwrap()).unwrap();
    let run = verify(dir, &out, &["--trust", s(&bad)]).failed();
    assert!(
        run.stderr.contains("found a `PRIVATE KEY` block"),
        "{}",
        run.stderr
    );
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "# nothing\n").unwrap();
    let run = verify(dir, &out, &["--trust", s(&empty)]).failed();
    assert!(
        run.stderr.contains("holds no `PUBLIC KEY` block"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_encrypted_key_needs_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let keys = keygen(dir, "enc", Some("correct horse"));
    let pem = std::fs::read_to_string(&keys.key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{pem}"
    );
    // openssl decrypts it with the password, and only with it.
    assert!(openssl(&[
        "pkey",
        "-in",
        s(&keys.key),
        "-passin",
        "pass:correct horse",
        "-noout"
    ])
    .status
    .success());
    assert!(!openssl(&[
        "pkey",
        "-in",
        s(&keys.key),
        "-passin",
        "pass:wrong",
        "-noout"
    ])
    .status
    .success());

    copy_example(dir);
    let spec = dir.join("examples/bundles/example.yaml");
    let out = dir.join("bundle.tar");
    let args = [
        "build",
        s(&spec),
        "--locked",
        "-o",
        s(&out),
        "--sign-key",
        s(&keys.key),
    ];
    let cache = dir.join("cache");
    let run = ferry(&cache, &args).failed();
    assert!(
        run.stderr
            .contains("is an encrypted private key and no password was given")
            && run.stderr.contains("set $FERRY_KEY_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    let run = ferry_env(&cache, &[("FERRY_KEY_PASSWORD", "wrong")], &args).failed();
    assert!(
        run.stderr.contains("cannot decrypt the private key")
            && run.stderr.contains("wrong password"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    ferry_env(&cache, &[("FERRY_KEY_PASSWORD", "correct horse")], &args).ok();
    let report = verify(dir, &out, &["--key", s(&keys.public)]).ok().json();
    assert_eq!(report["signed_by"], keys.fingerprint.as_str());
    // The password may come from another variable.
    let mut other = args.to_vec();
    other.extend(["--sign-password-env", "RELEASE_KEY_PASSWORD"]);
    ferry_env(&cache, &[("RELEASE_KEY_PASSWORD", "correct horse")], &other).ok();
    // An openssl-made SEC1 key signs too.
    let sec1 = dir.join("sec1.key");
    assert!(openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        s(&sec1)
    ])
    .status
    .success());
    let sec1_pub = dir.join("sec1.pub");
    assert!(
        openssl(&["ec", "-in", s(&sec1), "-pubout", "-out", s(&sec1_pub)])
            .status
            .success()
    );
    ferry(
        &cache,
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&out),
            "--sign-key",
            s(&sec1),
        ],
    )
    .ok();
    verify(dir, &out, &["--key", s(&sec1_pub)]).ok();
}

#[test]
fn an_unsigned_bundle_is_refused_unless_explicitly_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let keys = keygen(dir, "cosign", None);
    let out = dir.join("bundle.tar");
    let built = build(dir, &out, None, &[]);
    let root = built["root"].as_str().unwrap().to_owned();
    let run = verify(dir, &out, &[]).failed();
    assert!(
        run.stderr
            .contains("no trusted key: pass --key PUB or --trust FILE")
            && run.stderr.contains("--insecure-skip-signature"),
        "{}",
        run.stderr
    );
    let layout = dir.join("layout");
    unpack(dir, &out, &layout, &[]).failed();
    assert!(!layout.exists());
    let run = verify(dir, &out, &["--key", s(&keys.public)]).failed();
    assert!(
        run.stderr.contains(&format!(
            "bundle root {root} is not signed: `index.json` lists no cosign signature (`sha256-{}.sig`)",
            root.strip_prefix("sha256:").unwrap()
        )),
        "{}",
        run.stderr
    );
    let report = verify(dir, &out, &["--insecure-skip-signature"])
        .ok()
        .json();
    assert_eq!(report["signed_by"], Value::Null);
    assert_eq!(report["root"], root.as_str());
    unpack(dir, &out, &layout, &["--insecure-skip-signature"]).ok();
    assert!(layout.join("index.json").exists());
}

/// A signed bundle unpacked into a layout directory to tamper with.
fn signed_layout(dir: &Path) -> (Keys, PathBuf, String) {
    let keys = keygen(dir, "cosign", None);
    let out = dir.join("bundle.tar");
    let root = build(dir, &out, Some(&keys.key), &[])["root"]
        .as_str()
        .unwrap()
        .to_owned();
    let layout = dir.join("layout");
    unpack(dir, &out, &layout, &["--key", s(&keys.public)]).ok();
    verify(dir, &layout, &["--key", s(&keys.public)]).ok();
    (keys, layout, root)
}

#[test]
fn a_signature_over_another_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (keys, layout, root) = signed_layout(dir);
    let other = format!("sha256:{}", "ab".repeat(32));
    // A genuine signature by the trusted key, but of another digest.
    let payload = expected_payload(&other).into_bytes();
    let signature = openssl_sign(dir, &keys.key, &payload);
    rewrite_signature(&layout, |manifest, body| {
        *body = payload.clone();
        manifest["layers"][0]["annotations"][SIG_ANNOTATION] = Value::from(signature.clone());
    });
    let run = verify(dir, &layout, &["--key", s(&keys.public)]).failed();
    assert!(
        run.stderr
            .contains(&format!("signs {other}, not this bundle's root {root}")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_truncated_or_altered_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (keys, layout, _) = signed_layout(dir);
    rewrite_signature(&layout, |manifest, _| {
        let annotation = &mut manifest["layers"][0]["annotations"][SIG_ANNOTATION];
        let der = base64::engine::general_purpose::STANDARD
            .decode(annotation.as_str().unwrap())
            .unwrap();
        *annotation =
            Value::from(base64::engine::general_purpose::STANDARD.encode(&der[..der.len() - 6]));
    });
    let run = verify(dir, &layout, &["--key", s(&keys.public)]).failed();
    assert!(
        run.stderr
            .contains("annotation is not a DER-encoded ECDSA P-256 signature")
            && run.stderr.contains("truncated or altered"),
        "{}",
        run.stderr
    );
    // A payload altered without re-signing (another identity) fails the signature check.
    let dir2 = tempfile::tempdir().unwrap();
    let (keys, layout, root) = signed_layout(dir2.path());
    rewrite_signature(&layout, |_, body| {
        *body = String::from_utf8(body.clone())
            .unwrap()
            .replace("\"optional\":null", "\"optional\":{\"note\":\"x\"}")
            .into_bytes();
    });
    let run = verify(dir2.path(), &layout, &["--key", s(&keys.public)]).failed();
    assert!(
        run.stderr.contains("does not verify with any trusted key"),
        "{}",
        run.stderr
    );
    let _ = root;
}

#[test]
fn a_swapped_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (keys, layout, root) = signed_layout(dir);
    // Replace the root by another (a changed version annotation), as an attacker would.
    let old_root_path = blob_path(&layout, &root);
    let mut root_index = read_json(&old_root_path);
    root_index["annotations"]["dev.ferry.bundle.version"] = Value::from("6.6.6");
    let bytes = serde_json::to_vec(&root_index).unwrap();
    let new_root = put_blob(&layout, &bytes);
    std::fs::remove_file(&old_root_path).unwrap();
    let index_path = layout.join("index.json");
    let mut index = read_json(&index_path);
    for e in index["manifests"].as_array_mut().unwrap() {
        if e["digest"] == root.as_str() {
            e["digest"] = Value::from(new_root.clone());
            e["size"] = Value::from(bytes.len());
        }
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let run = verify(dir, &layout, &["--key", s(&keys.public)]).failed();
    assert!(
        run.stderr
            .contains(&format!("is about {root}, not the bundle root {new_root}")),
        "{}",
        run.stderr
    );
    // Pointing the signature (subject and tag) at the new root does not help: it signs the old one.
    rewrite_signature(&layout, |manifest, _| {
        manifest["subject"]["digest"] = Value::from(new_root.clone());
        manifest["subject"]["size"] = Value::from(bytes.len());
    });
    let mut index = read_json(&index_path);
    for e in index["manifests"].as_array_mut().unwrap() {
        if e["artifactType"] == SIG_ARTIFACT {
            e["annotations"]["org.opencontainers.image.ref.name"] = Value::from(format!(
                "sha256-{}.sig",
                new_root.strip_prefix("sha256:").unwrap()
            ));
        }
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let run = verify(dir, &layout, &["--key", s(&keys.public)]).failed();
    assert!(
        run.stderr
            .contains(&format!("signs {root}, not this bundle's root {new_root}")),
        "{}",
        run.stderr
    );
}

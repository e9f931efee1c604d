//! ferry's own image: a deterministic OCI image holding nothing but the ferry
//! binary (`/ferry`) and a CA certificates file, run as a non-root user.
//! The in-cluster unpacker runs it.
//!
//! The image is a pure function of its inputs: the same binaries and the
//! same CA file give the same bytes, because the layer is a sorted tar with
//! fixed owner, mode and time, compressed by zstd at a fixed level in one
//! frame with a checksum (no threads, so no varying frame split), and the
//! config carries fixed timestamps. zstd rather than gzip: a debug ferry is
//! hundreds of MB, and zstd compresses it several times faster and smaller;
//! containerd (1.5+), CRI-O, Docker (23+), Harbor and skopeo read it. The binary streams
//! into the layer (hashed on the way), never held in memory.

pub mod elf;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::oci::{
    to_canonical_json, Descriptor, Digest, Hasher, ImageIndex, ImageManifest, Platform, OCI_INDEX,
    OCI_MANIFEST,
};
use crate::store::{BlobWriter, Store};

/// The repository ferry's image is named by in a bundle.
pub const REPOSITORY: &str = "ferry.local/ferry";
/// The component name ferry's image is carried under.
pub const COMPONENT: &str = "ferry";
/// Where the binary sits in the image.
pub const BINARY_PATH: &str = "/ferry";
/// Where the CA certificates sit in the image.
pub const CA_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The CA certificates file taken from the build host when none is given.
pub const HOST_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The user and group the image runs as (distroless `nonroot`).
pub const USER: &str = "65532:65532";
/// The user id of [`USER`].
pub const UID: i64 = 65532;
/// The `created` time written into the config (the image has no build time).
pub const CREATED: &str = "1970-01-01T00:00:00Z";
/// zstd level of the layer: fixed so the bytes are.
pub const ZSTD_LEVEL: i32 = 3;
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The layer's media type.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// ferry's version, which names its image.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The reference of ferry's image of `version` (`ferry.local/ferry:0.1.0`).
pub fn reference(version: &str) -> String {
    format!("{REPOSITORY}:{}", crate::oci::sanitize_tag(version))
}

/// The OCI architecture name of the machine this ferry runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// One platform's binary going into the image.
#[derive(Clone, Debug)]
pub struct BinaryInput {
    /// The platform it runs on.
    pub platform: Platform,
    /// The executable.
    pub path: PathBuf,
}

/// What went into one platform's manifest.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuiltPlatform {
    /// The platform.
    pub platform: String,
    /// Its manifest.
    pub manifest: Digest,
    /// Its manifest's size.
    pub manifest_size: u64,
    /// SHA-256 of the binary at `/ferry`.
    pub binary_sha256: Digest,
    /// Whether the binary is statically linked.
    pub statically_linked: bool,
}

/// ferry's image, built into the cache.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuiltImage {
    /// The image index (the image's digest).
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// SHA-256 of the CA certificates file.
    pub ca_sha256: Digest,
    /// Per platform, in the bundle's platform order.
    pub platforms: Vec<BuiltPlatform>,
    /// What the operator should know (a dynamically linked binary, ...).
    pub warnings: Vec<String>,
}

/// Errors building ferry's image.
#[derive(Debug, thiserror::Error)]
pub enum FerryImageError {
    /// A binary does not fit.
    #[error("ferry's image: {0}")]
    Invalid(String),
    /// Reading an input failed.
    #[error("ferry's image: cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing into the cache failed.
    #[error("ferry's image: cannot write into the cache")]
    Store(#[from] crate::store::StoreError),
    /// Writing the layer failed.
    #[error("ferry's image: cannot write its layer")]
    Layer(#[source] io::Error),
}

/// Builds ferry's image for `binaries` (one per platform) and the CA file
/// `ca` into `store`; returns its index and what went into it.
pub fn build(
    binaries: &[BinaryInput],
    ca: &Path,
    version: &str,
    store: &Store,
) -> Result<BuiltImage, FerryImageError> {
    if binaries.is_empty() {
        return Err(FerryImageError::Invalid(
            "no binary fits any platform of the bundle".to_owned(),
        ));
    }
    let ca_sha256 = hash_file(ca)?;
    let mut platforms = Vec::new();
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for input in binaries {
        let facts = elf::inspect(&input.path).map_err(FerryImageError::Invalid)?;
        if facts.architecture != input.platform.architecture {
            return Err(FerryImageError::Invalid(format!(
                "{} is built for {}, not for {}",
                input.path.display(),
                facts.architecture,
                input.platform
            )));
        }
        if !facts.statically_linked {
            warnings.push(format!(
                "the {} binary {} is not statically linked ({}); it will not run in ferry's image, which holds no libraries. Build a static one with RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target <arch>-unknown-linux-gnu",
                input.platform,
                input.path.display(),
                if facts.has_interpreter {
                    format!("it names a program interpreter and needs {} shared libraries", facts.needed_libraries)
                } else {
                    format!("it needs {} shared libraries", facts.needed_libraries)
                }
            ));
        }
        let layer = write_layer(&input.path, ca, store)?;
        let config = to_canonical_json(&serde_json::json!({
            "architecture": input.platform.architecture,
            "os": input.platform.os,
            "created": CREATED,
            "config": {
                "User": USER,
                "Entrypoint": [BINARY_PATH],
                "Env": [format!("SSL_CERT_FILE={CA_PATH}")],
                "WorkingDir": "/",
                "Labels": {"org.opencontainers.image.version": version},
            },
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.to_string()]},
            "history": [{"created": CREATED, "created_by": "ferry build (ferry's own image)"}],
        }));
        let config_digest = store.put_bytes(&config)?;
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "org.opencontainers.image.version".to_owned(),
            version.to_owned(),
        );
        let manifest = to_canonical_json(&ImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.to_owned(),
            artifact_type: None,
            config: Descriptor {
                media_type: CONFIG_MEDIA_TYPE.to_owned(),
                digest: config_digest,
                size: config.len() as u64,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            },
            layers: vec![Descriptor {
                media_type: LAYER_MEDIA_TYPE.to_owned(),
                digest: layer.digest,
                size: layer.size,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            }],
            subject: None,
            annotations,
        });
        let manifest_digest = store.put_bytes(&manifest)?;
        entries.push(Descriptor {
            media_type: OCI_MANIFEST.to_owned(),
            digest: manifest_digest.clone(),
            size: manifest.len() as u64,
            platform: Some(input.platform.clone()),
            artifact_type: None,
            annotations: BTreeMap::new(),
        });
        platforms.push(BuiltPlatform {
            platform: input.platform.to_string(),
            manifest: manifest_digest,
            manifest_size: manifest.len() as u64,
            binary_sha256: layer.binary_sha256,
            statically_linked: facts.statically_linked,
        });
    }
    let index = to_canonical_json(&ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: None,
        manifests: entries,
        annotations: BTreeMap::new(),
    });
    let digest = store.put_bytes(&index)?;
    Ok(BuiltImage {
        digest,
        media_type: OCI_INDEX.to_owned(),
        size: index.len() as u64,
        ca_sha256,
        platforms,
        warnings,
    })
}

/// SHA-256 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<Digest, FerryImageError> {
    let read = |source| FerryImageError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read)?;
    let mut hasher = Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(read)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buffer[..n]);
    }
}

struct Layer {
    digest: Digest,
    size: u64,
    diff_id: Digest,
    binary_sha256: Digest,
}

/// Writes `io::Write` into a cache blob.
struct StoreSink(BlobWriter);

impl Write for StoreSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write_chunk(bytes).map_err(io::Error::other)?;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes what passes through.
struct Hashing<T> {
    inner: T,
    hasher: Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..n]);
        Ok(n)
    }
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    // ustar names under 100 bytes; every path here is short.
    let _ = header.set_path(path);
    header.set_cksum();
    header
}

/// The layer: `etc/`, `etc/ssl/`, `etc/ssl/certs/`, the CA file, `ferry`,
/// in that (sorted) order, owned by root, time 0.
fn write_layer(binary: &Path, ca: &Path, store: &Store) -> Result<Layer, FerryImageError> {
    let open = |path: &Path| {
        let file = File::open(path).map_err(|source| FerryImageError::Read {
            path: path.to_owned(),
            source,
        })?;
        let size = file
            .metadata()
            .map_err(|source| FerryImageError::Read {
                path: path.to_owned(),
                source,
            })?
            .len();
        Ok::<_, FerryImageError>((file, size))
    };
    let (ca_file, ca_size) = open(ca)?;
    let (binary_file, binary_size) = open(binary)?;
    let compressed = Hashing {
        inner: StoreSink(store.writer()?),
        hasher: Hasher::new(),
    };
    let mut zstd = zstd::stream::write::Encoder::new(compressed, ZSTD_LEVEL)
        .map_err(FerryImageError::Layer)?;
    zstd.include_checksum(true)
        .map_err(FerryImageError::Layer)?;
    let raw = Hashing {
        inner: zstd,
        hasher: Hasher::new(),
    };
    let mut tar = tar::Builder::new(raw);
    let layer = FerryImageError::Layer;
    for dir in ["etc/", "etc/ssl/", "etc/ssl/certs/"] {
        tar.append(
            &header(dir, tar::EntryType::Directory, 0o755, 0),
            io::empty(),
        )
        .map_err(layer)?;
    }
    let ca_name = CA_PATH.trim_start_matches('/');
    tar.append(
        &header(ca_name, tar::EntryType::Regular, 0o644, ca_size),
        ca_file.take(ca_size),
    )
    .map_err(layer)?;
    let mut binary_reader = Hashing {
        inner: binary_file.take(binary_size),
        hasher: Hasher::new(),
    };
    tar.append(
        &header(
            BINARY_PATH.trim_start_matches('/'),
            tar::EntryType::Regular,
            0o755,
            binary_size,
        ),
        &mut binary_reader,
    )
    .map_err(layer)?;
    let binary_sha256 = binary_reader.hasher.finish();
    let raw = tar.into_inner().map_err(layer)?;
    let diff_id = raw.hasher.finish();
    let compressed = raw.inner.finish().map_err(layer)?;
    let (digest, size) = compressed.inner.0.commit_as_computed()?;
    Ok(Layer {
        digest,
        size,
        diff_id,
        binary_sha256,
    })
}

/// Builds ferry's image for a lock that names one and returns the lock a
/// bundle embeds: the image digest, each binary's SHA-256 and manifest, and
/// the CA file's SHA-256 filled in, with the warnings (also returned).
///
/// A `self` binary is `overrides[arch]` when given (`build --ferry-binary`),
/// else the running ferry when its architecture fits, else the platform is
/// left out with a warning. A `file:` binary or CA file must still hash to
/// what the lock pins. A lock without ferry's image is returned unchanged.
pub fn complete_lock(
    lock: &crate::lock::Lock,
    spec_root: &Path,
    overrides: &BTreeMap<String, PathBuf>,
    store: &Store,
) -> Result<(crate::lock::Lock, Vec<String>), FerryImageError> {
    let Some(locked) = &lock.ferry_image else {
        return Ok((lock.clone(), Vec::new()));
    };
    let invalid = FerryImageError::Invalid;
    let running = std::env::current_exe().map_err(|source| FerryImageError::Read {
        path: PathBuf::from("the running ferry"),
        source,
    })?;
    let running_arch = elf::inspect(&running).map(|f| f.architecture).ok();
    let mut inputs = Vec::new();
    let mut warnings = Vec::new();
    let mut pinned = BTreeMap::new();
    for binary in &locked.binaries {
        let platform: Platform = binary
            .platform
            .parse()
            .map_err(|e: crate::oci::PlatformParseError| invalid(e.to_string()))?;
        let path = match binary.source.as_str() {
            "self" => match overrides.get(&platform.architecture) {
                Some(path) => path.clone(),
                None if running_arch.as_deref() == Some(platform.architecture.as_str()) => {
                    if locked.version != version() {
                        return Err(invalid(format!(
                            "the lock names the image of ferry {}, this is ferry {}; run `ferry lock` again, or give a ferry {} binary with --ferry-binary {}=FILE",
                            locked.version,
                            version(),
                            locked.version,
                            platform.architecture
                        )));
                    }
                    running.clone()
                }
                None => {
                    warnings.push(format!(
                        "ferry's image has no {platform} variant: this ferry runs on {}; give one with --ferry-binary {}=FILE (the unpacker cannot run on {platform} nodes)",
                        running_arch.as_deref().unwrap_or("an unknown architecture"),
                        platform.architecture
                    ));
                    continue;
                }
            },
            source => match source.strip_prefix("file:") {
                Some(file) => {
                    if let Some(sha256) = &binary.sha256 {
                        pinned.insert(binary.platform.clone(), sha256.clone());
                    }
                    spec_root.join(file)
                }
                None => {
                    return Err(invalid(format!(
                        "unknown binary source `{source}` in the lock (expected `self` or `file:<path>`)"
                    )))
                }
            },
        };
        inputs.push(BinaryInput { platform, path });
    }
    let ca = match locked.ca_certificates.as_str() {
        "host" => PathBuf::from(HOST_CA_FILE),
        other => match other.strip_prefix("file:") {
            Some(file) => spec_root.join(file),
            None => {
                return Err(invalid(format!(
                    "unknown CA certificates source `{other}` in the lock (expected `host` or `file:<path>`)"
                )))
            }
        },
    };
    let built = build(&inputs, &ca, &locked.version, store)?;
    if let Some(expected) = &locked.ca_sha256 {
        if expected != &built.ca_sha256 {
            return Err(invalid(format!(
                "the CA certificates file {} hashes to {}, the lock pins {expected}; it changed since `ferry lock`",
                ca.display(),
                built.ca_sha256
            )));
        }
    }
    let mut completed = locked.clone();
    for binary in &mut completed.binaries {
        let Some(made) = built
            .platforms
            .iter()
            .find(|p| p.platform == binary.platform)
        else {
            continue;
        };
        if let Some(expected) = pinned.get(&binary.platform) {
            if expected != &made.binary_sha256 {
                return Err(invalid(format!(
                    "the {} binary {} hashes to {}, the lock pins {expected}; it changed since `ferry lock`",
                    binary.platform, binary.source, made.binary_sha256
                )));
            }
        }
        binary.sha256 = Some(made.binary_sha256.clone());
        binary.manifest = Some(made.manifest.clone());
        binary.manifest_size = Some(made.manifest_size);
        binary.statically_linked = Some(made.statically_linked);
    }
    warnings.extend(built.warnings.iter().cloned());
    completed.ca_sha256 = Some(built.ca_sha256.clone());
    completed.digest = Some(built.digest.clone());
    completed.media_type = Some(built.media_type.clone());
    completed.size = Some(built.size);
    completed.warnings = warnings.clone();
    let mut lock = lock.clone();
    lock.ferry_image = Some(completed);
    Ok((lock, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Platform {
        format!("linux/{}", host_architecture()).parse().unwrap()
    }

    #[test]
    fn two_builds_give_the_same_digest() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(
            &ca,
            b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let inputs = [BinaryInput {
            platform: platform(),
            path: exe.clone(),
        }];
        let one = build(
            &inputs,
            &ca,
            "0.1.0",
            &Store::open(dir.path().join("a")).unwrap(),
        )
        .unwrap();
        let two = build(
            &inputs,
            &ca,
            "0.1.0",
            &Store::open(dir.path().join("b")).unwrap(),
        )
        .unwrap();
        assert_eq!(one.digest, two.digest);
        assert_eq!(one.platforms[0].binary_sha256, hash_file(&exe).unwrap());
        let other = build(
            &inputs,
            &ca,
            "0.2.0",
            &Store::open(dir.path().join("c")).unwrap(),
        )
        .unwrap();
        assert_ne!(one.digest, other.digest);
    }

    #[test]
    fn a_binary_for_another_architecture_is_refused() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let other = if host_architecture() == "amd64" {
            "arm64"
        } else {
            "amd64"
        };
        let inputs = [BinaryInput {
            platform: format!("linux/{other}").parse().unwrap(),
            path: exe,
        }];
        let error = build(
            &inputs,
            Path::new(HOST_CA_FILE),
            "0.1.0",
            &Store::open(dir.path()).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains(&format!("not for linux/{other}")), "{error}");
    }
}

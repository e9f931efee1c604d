//! Deterministic synthetic OCI images written as an OCI image layout directory.
//!
//! Same inputs → same bytes → same digests (tar mtime/uid/gid 0, gzip mtime 0, JSON from
//! structs with a fixed field order, maps as `BTreeMap`).

use super::digest_of;
use flate2::{Compression, GzBuilder};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Helm chart config media type (OCI artifact).
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm chart content layer media type (OCI artifact).
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Annotation holding the reference name in `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A layer to generate: one regular file `data/layer-<seed>.bin` of `size` bytes, tar+gzip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerSpec {
    /// Seed for the content; same seed+size+random → identical layer.
    pub seed: u64,
    /// Size in bytes of the file inside the tar (not of the compressed layer).
    pub size: usize,
    /// Incompressible pseudo-random content (splitmix64) instead of repetitive text.
    pub random: bool,
}

impl LayerSpec {
    /// Compressible (text) layer content.
    pub fn new(seed: u64, size: usize) -> LayerSpec {
        LayerSpec {
            seed,
            size,
            random: false,
        }
    }

    /// Incompressible pseudo-random layer content from a seeded generator.
    pub fn random(seed: u64, size: usize) -> LayerSpec {
        LayerSpec {
            seed,
            size,
            random: true,
        }
    }

    /// The uncompressed file content of this layer.
    pub fn content(&self) -> Vec<u8> {
        if self.random {
            pseudo_random_bytes(self.seed, self.size)
        } else {
            let mut out = Vec::with_capacity(self.size + 64);
            let mut i = 0u64;
            while out.len() < self.size {
                out.extend_from_slice(
                    format!("ferry test layer seed={} line={i}\n", self.seed).as_bytes(),
                );
                i += 1;
            }
            out.truncate(self.size);
            out
        }
    }

    /// The uncompressed tar of this layer (its sha256 is the diff_id).
    pub fn tar_bytes(&self) -> Vec<u8> {
        let content = self.content();
        deterministic_tar(&[(format!("data/layer-{}.bin", self.seed), content)])
    }

    /// The gzip-compressed tar (the layer blob).
    pub fn gzip_bytes(&self) -> Vec<u8> {
        gzip(&self.tar_bytes())
    }
}

/// Deterministic pseudo-random bytes (splitmix64 stream seeded with `seed`).
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed ^ 0x6a09_e667_f3bc_c909;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A tar archive of regular files (mode 0644, uid/gid 0, mtime 0), in the given order.
pub fn deterministic_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).expect("tar path");
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, data.as_slice()).expect("tar append");
    }
    b.into_inner().expect("tar finish")
}

/// Gzip with mtime 0 and a fixed compression level (deterministic for a given flate2 backend).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::fast());
    enc.write_all(data).expect("gzip write");
    enc.finish().expect("gzip finish")
}

/// An OS/architecture pair (plus optional variant).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Optional variant, e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// A platform without variant.
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant: None,
        }
    }

    /// linux/amd64.
    pub fn linux_amd64() -> Platform {
        Platform::new("linux", "amd64")
    }

    /// linux/arm64.
    pub fn linux_arm64() -> Platform {
        Platform::new("linux", "arm64")
    }
}

/// What to put in one synthetic image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Platform written into the config (and into index entries).
    pub platform: Platform,
    /// Layers, bottom first.
    pub layers: Vec<LayerSpec>,
    /// Labels in the image config (change them to get a distinct config/manifest).
    pub labels: BTreeMap<String, String>,
}

impl ImageSpec {
    /// A linux/amd64 image with these layers.
    pub fn new(layers: Vec<LayerSpec>) -> ImageSpec {
        ImageSpec {
            platform: Platform::linux_amd64(),
            layers,
            labels: BTreeMap::new(),
        }
    }

    /// A linux/amd64 image of `n` compressible layers of `size` bytes, seeds `seed..seed+n`.
    pub fn with_layers(seed: u64, n: usize, size: usize) -> ImageSpec {
        ImageSpec::new(
            (0..n as u64)
                .map(|i| LayerSpec::new(seed + i, size))
                .collect(),
        )
    }

    /// A linux/amd64 image of `n` incompressible layers of `size` bytes, seeds `seed..seed+n`.
    pub fn with_random_layers(seed: u64, n: usize, size: usize) -> ImageSpec {
        ImageSpec::new(
            (0..n as u64)
                .map(|i| LayerSpec::random(seed + i, size))
                .collect(),
        )
    }

    /// Same spec for another platform.
    pub fn platform(mut self, platform: Platform) -> ImageSpec {
        self.platform = platform;
        self
    }

    /// Same spec with an extra config label.
    pub fn label(mut self, key: &str, value: &str) -> ImageSpec {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }
}

/// A layer blob written to the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:` digest of the compressed blob.
    pub digest: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// `sha256:` digest of the uncompressed tar.
    pub diff_id: String,
    /// Media type used in the manifest.
    pub media_type: String,
}

/// An image manifest written to the layout.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// `sha256:` digest of the manifest.
    pub manifest_digest: String,
    /// Manifest size in bytes.
    pub manifest_size: u64,
    /// Manifest media type.
    pub media_type: String,
    /// Raw manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` digest of the config blob.
    pub config_digest: String,
    /// Config blob size.
    pub config_size: u64,
    /// Layers, bottom first.
    pub layers: Vec<LayerInfo>,
    /// Platform of the image.
    pub platform: Platform,
}

impl ImageInfo {
    /// Digests of all blobs the manifest references (config first, then layers).
    pub fn blob_digests(&self) -> Vec<String> {
        let mut v = vec![self.config_digest.clone()];
        v.extend(self.layers.iter().map(|l| l.digest.clone()));
        v
    }
}

/// An image index written to the layout.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    /// `sha256:` digest of the index.
    pub index_digest: String,
    /// Index size in bytes.
    pub index_size: u64,
    /// Raw index bytes.
    pub index: Vec<u8>,
    /// The child images, in index order.
    pub images: Vec<ImageInfo>,
}

impl IndexInfo {
    /// The child image for an architecture; panics if absent.
    pub fn image(&self, architecture: &str) -> &ImageInfo {
        self.images
            .iter()
            .find(|i| i.platform.architecture == architecture)
            .unwrap_or_else(|| panic!("no {architecture} image in index"))
    }

    /// Per-platform manifest digests, in index order.
    pub fn manifest_digests(&self) -> Vec<String> {
        self.images
            .iter()
            .map(|i| i.manifest_digest.clone())
            .collect()
    }

    /// Distinct blob digests referenced by all children (configs and layers), sorted.
    pub fn blob_digests(&self) -> Vec<String> {
        let mut v: Vec<String> = self.images.iter().flat_map(|i| i.blob_digests()).collect();
        v.sort();
        v.dedup();
        v
    }
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: String,
    manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LayoutIndex {
    schema_version: u32,
    manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
struct ImageConfig {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    created: String,
    config: ContainerConfig,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct ContainerConfig {
    #[serde(rename = "Env")]
    env: Vec<String>,
    #[serde(rename = "Labels")]
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<String>,
}

/// Writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) into a directory.
///
/// `index.json` is rewritten after every `add_*` call, so the layout is always complete.
pub struct OciLayoutBuilder {
    dir: PathBuf,
    refs: Vec<Descriptor>,
    layer_cache: HashMap<LayerSpec, LayerInfo>,
}

impl OciLayoutBuilder {
    /// Creates the layout skeleton in `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> OciLayoutBuilder {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create layout dirs");
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("write oci-layout");
        let b = OciLayoutBuilder {
            dir,
            refs: Vec::new(),
            layer_cache: HashMap::new(),
        };
        b.write_index();
        b
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a blob (`blobs/sha256/<hex>`) for a `sha256:` digest.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join("blobs/sha256").join(hex)
    }

    /// Writes a blob (if not already present) and returns its `sha256:` digest.
    pub fn write_blob(&mut self, data: &[u8]) -> String {
        let digest = digest_of(data);
        let path = self.blob_path(&digest);
        if !path.exists() {
            std::fs::write(&path, data).expect("write blob");
        }
        digest
    }

    /// Writes (or reuses) a generated layer blob.
    pub fn layer(&mut self, spec: &LayerSpec) -> LayerInfo {
        if let Some(l) = self.layer_cache.get(spec) {
            return l.clone();
        }
        let tar = spec.tar_bytes();
        let gz = gzip(&tar);
        let info = LayerInfo {
            digest: self.write_blob(&gz),
            size: gz.len() as u64,
            diff_id: digest_of(&tar),
            media_type: OCI_LAYER_GZIP.to_string(),
        };
        self.layer_cache.insert(*spec, info.clone());
        info
    }

    /// Writes an image (layers, config, manifest); tags it `ref_name` in index.json if given.
    pub fn add_image(&mut self, ref_name: Option<&str>, spec: &ImageSpec) -> ImageInfo {
        let layers: Vec<LayerInfo> = spec.layers.iter().map(|l| self.layer(l)).collect();
        let config = ImageConfig {
            architecture: spec.platform.architecture.clone(),
            os: spec.platform.os.clone(),
            variant: spec.platform.variant.clone(),
            created: "1970-01-01T00:00:00Z".to_string(),
            config: ContainerConfig {
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ],
                labels: spec.labels.clone(),
            },
            rootfs: RootFs {
                kind: "layers".to_string(),
                diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
        };
        let config_bytes = serde_json::to_vec(&config).expect("config json");
        let mut info = self.add_manifest(
            ref_name,
            OCI_CONFIG,
            &config_bytes,
            layers
                .iter()
                .map(|l| (l.media_type.clone(), l.digest.clone(), l.size))
                .collect(),
        );
        info.layers = layers;
        info.platform = spec.platform.clone();
        info
    }

    /// Writes an artifact manifest with an arbitrary config and raw layers (e.g. a Helm chart).
    pub fn add_artifact(
        &mut self,
        ref_name: Option<&str>,
        config_media_type: &str,
        config: &[u8],
        layers: &[(&str, &[u8])],
    ) -> ImageInfo {
        let descs: Vec<(String, String, u64)> = layers
            .iter()
            .map(|(mt, data)| (mt.to_string(), self.write_blob(data), data.len() as u64))
            .collect();
        let mut info = self.add_manifest(ref_name, config_media_type, config, descs.clone());
        info.layers = descs
            .into_iter()
            .zip(layers.iter())
            .map(|((mt, digest, size), (_, data))| LayerInfo {
                digest,
                size,
                diff_id: digest_of(data),
                media_type: mt,
            })
            .collect();
        info
    }

    /// Writes a Helm chart `.tgz` as an OCI artifact (Helm's media types).
    pub fn add_helm_chart(
        &mut self,
        ref_name: Option<&str>,
        name: &str,
        version: &str,
        chart_tgz: &[u8],
    ) -> ImageInfo {
        let config = format!(
            "{{\"name\":\"{name}\",\"version\":\"{version}\",\"apiVersion\":\"v2\",\"type\":\"application\"}}"
        );
        self.add_artifact(
            ref_name,
            HELM_CONFIG,
            config.as_bytes(),
            &[(HELM_CHART_LAYER, chart_tgz)],
        )
    }

    /// Writes a multi-platform index of the given images; tags it `ref_name` if given.
    pub fn add_index(&mut self, ref_name: Option<&str>, specs: &[ImageSpec]) -> IndexInfo {
        let images: Vec<ImageInfo> = specs.iter().map(|s| self.add_image(None, s)).collect();
        let index = Index {
            schema_version: 2,
            media_type: OCI_INDEX.to_string(),
            manifests: images
                .iter()
                .map(|i| Descriptor {
                    media_type: i.media_type.clone(),
                    digest: i.manifest_digest.clone(),
                    size: i.manifest_size,
                    platform: Some(i.platform.clone()),
                    annotations: None,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&index).expect("index json");
        let digest = self.write_blob(&bytes);
        if let Some(r) = ref_name {
            self.tag(r, OCI_INDEX, &digest, bytes.len() as u64);
        }
        IndexInfo {
            index_digest: digest,
            index_size: bytes.len() as u64,
            index: bytes,
            images,
        }
    }

    /// linux/amd64 + linux/arm64 index: a shared layer (`seed`) plus one own layer per platform.
    pub fn add_multi_arch(&mut self, ref_name: Option<&str>, seed: u64, size: usize) -> IndexInfo {
        let shared = LayerSpec::new(seed, size);
        self.add_index(
            ref_name,
            &[
                ImageSpec::new(vec![shared, LayerSpec::new(seed + 1, size)])
                    .platform(Platform::linux_amd64()),
                ImageSpec::new(vec![shared, LayerSpec::new(seed + 2, size)])
                    .platform(Platform::linux_arm64()),
            ],
        )
    }

    /// Points `ref_name` in index.json at an existing manifest/index (replacing the old entry).
    pub fn tag(&mut self, ref_name: &str, media_type: &str, digest: &str, size: u64) {
        self.refs.retain(|d| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get(REF_NAME_ANNOTATION))
                .map(|r| r != ref_name)
                .unwrap_or(true)
        });
        let mut ann = BTreeMap::new();
        ann.insert(REF_NAME_ANNOTATION.to_string(), ref_name.to_string());
        self.refs.push(Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            platform: None,
            annotations: Some(ann),
        });
        self.write_index();
    }

    fn add_manifest(
        &mut self,
        ref_name: Option<&str>,
        config_media_type: &str,
        config: &[u8],
        layers: Vec<(String, String, u64)>,
    ) -> ImageInfo {
        let config_digest = self.write_blob(config);
        let manifest = Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.to_string(),
            config: Descriptor {
                media_type: config_media_type.to_string(),
                digest: config_digest.clone(),
                size: config.len() as u64,
                platform: None,
                annotations: None,
            },
            layers: layers
                .into_iter()
                .map(|(media_type, digest, size)| Descriptor {
                    media_type,
                    digest,
                    size,
                    platform: None,
                    annotations: None,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&manifest).expect("manifest json");
        let digest = self.write_blob(&bytes);
        if let Some(r) = ref_name {
            self.tag(r, OCI_MANIFEST, &digest, bytes.len() as u64);
        }
        ImageInfo {
            manifest_digest: digest,
            manifest_size: bytes.len() as u64,
            media_type: OCI_MANIFEST.to_string(),
            manifest: bytes,
            config_digest,
            config_size: config.len() as u64,
            layers: Vec::new(),
            platform: Platform::linux_amd64(),
        }
    }

    fn write_index(&self) {
        let idx = LayoutIndex {
            schema_version: 2,
            manifests: self.refs.clone(),
        };
        let bytes = serde_json::to_vec(&idx).expect("index.json");
        std::fs::write(self.dir.join("index.json"), bytes).expect("write index.json");
    }
}

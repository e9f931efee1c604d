//! Crafted bundles for the hardening tests: a built bundle read into memory,
//! edited as an attacker or a damaged medium would (entries, names, link
//! types, the embedded lock and root re-derived so that only the edit under
//! test is wrong), and written back as a tar.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;
use sha2::Digest as _;

/// One tar entry.
#[derive(Clone)]
pub struct Entry {
    /// The raw name bytes.
    pub name: Vec<u8>,
    /// The entry type.
    pub kind: tar::EntryType,
    /// The content.
    pub data: Vec<u8>,
    /// The link target, for links.
    pub link: Option<String>,
}

impl Entry {
    /// A regular file.
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Regular,
            data: data.to_vec(),
            link: None,
        }
    }

    /// A link or special entry without content.
    pub fn special(name: &str, kind: tar::EntryType, link: Option<&str>) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            kind,
            data: Vec::new(),
            link: link.map(str::to_owned),
        }
    }
}

/// `sha256:<hex>` of bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// A bundle archive in memory.
#[derive(Clone)]
pub struct Archive {
    /// Entries in archive order.
    pub entries: Vec<Entry>,
}

impl Archive {
    /// Reads a plain tar.
    pub fn read(path: &Path) -> Self {
        let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
        let mut entries = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            entries.push(Entry {
                name: entry.path_bytes().to_vec(),
                kind: entry.header().entry_type(),
                data,
                link: entry
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
            });
        }
        Self { entries }
    }

    /// Writes it as a plain tar (names written raw, up to 100 bytes).
    pub fn write(&self, path: &Path) {
        let mut out = Vec::new();
        for entry in &self.entries {
            let mut header = tar::Header::new_ustar();
            let name = &mut header.as_old_mut().name;
            assert!(entry.name.len() <= name.len(), "name too long for the test");
            name[..entry.name.len()].copy_from_slice(&entry.name);
            header.set_entry_type(entry.kind);
            header.set_size(entry.data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            if let Some(link) = &entry.link {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(&entry.data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        std::fs::write(path, out).unwrap();
    }

    /// The content of the first entry named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.name == name.as_bytes())
            .map(|e| e.data.as_slice())
    }

    /// Replaces the content of the entry named `name`.
    pub fn set(&mut self, name: &str, data: Vec<u8>) {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.name == name.as_bytes())
            .unwrap();
        entry.data = data;
    }

    /// A blob's bytes.
    pub fn blob(&self, digest: &str) -> &[u8] {
        self.get(&blob_name(digest))
            .unwrap_or_else(|| panic!("no blob {digest}"))
    }

    /// A blob parsed as JSON.
    pub fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(self.blob(digest)).unwrap()
    }

    /// Adds a blob (after the existing entries); returns its digest.
    pub fn put_blob(&mut self, bytes: Vec<u8>) -> String {
        let digest = digest_of(&bytes);
        if self.get(&blob_name(&digest)).is_none() {
            self.entries.push(Entry::file(&blob_name(&digest), &bytes));
        }
        digest
    }

    /// Removes a blob.
    pub fn remove_blob(&mut self, digest: &str) {
        let name = blob_name(digest);
        self.entries.retain(|e| e.name != name.as_bytes());
    }

    /// `index.json` parsed.
    pub fn index(&self) -> Value {
        serde_json::from_slice(self.get("index.json").unwrap()).unwrap()
    }

    /// The root's digest, from `index.json`.
    pub fn root_digest(&self) -> String {
        self.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["artifactType"] == "application/vnd.ferry.bundle.v1")
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The embedded lock's text.
    pub fn lock_text(&self) -> String {
        let root = self.json(&self.root_digest());
        let metadata = metadata_entry(&root);
        let manifest = self.json(metadata["digest"].as_str().unwrap());
        let layer = lock_layer(&manifest);
        String::from_utf8(self.blob(layer["digest"].as_str().unwrap()).to_vec()).unwrap()
    }

    /// Rewrites the embedded lock and the root (both through `edit_*`), then
    /// re-derives the metadata manifest, the root and `index.json` so that
    /// every digest and size is right again. Signatures are dropped.
    pub fn edit_signed(
        &mut self,
        edit_lock: impl FnOnce(&str) -> String,
        edit_root: impl FnOnce(&mut Value),
    ) {
        let old_root_digest = self.root_digest();
        let mut root = self.json(&old_root_digest);
        let old_metadata = metadata_entry(&root)["digest"].as_str().unwrap().to_owned();
        let mut manifest = self.json(&old_metadata);
        let old_lock = lock_layer(&manifest)["digest"].as_str().unwrap().to_owned();
        let lock = edit_lock(&self.lock_text()).into_bytes();
        let size = lock.len();
        let lock_digest = self.put_blob(lock);
        for layer in manifest["layers"].as_array_mut().unwrap() {
            if layer["mediaType"] == "application/vnd.ferry.lock.v1+toml" {
                layer["digest"] = lock_digest.clone().into();
                layer["size"] = size.into();
            }
        }
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_size = manifest_bytes.len();
        let metadata_digest = self.put_blob(manifest_bytes);
        for entry in root["manifests"].as_array_mut().unwrap() {
            if entry["digest"] == old_metadata.as_str() {
                entry["digest"] = metadata_digest.clone().into();
                entry["size"] = manifest_size.into();
            }
        }
        edit_root(&mut root);
        let root_bytes = serde_json::to_vec(&root).unwrap();
        let root_size = root_bytes.len();
        let root_digest = self.put_blob(root_bytes);
        let mut index = self.index();
        let signatures: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["artifactType"] == "application/vnd.dev.cosign.artifact.sig.v1+json")
            .map(|d| d["digest"].as_str().unwrap().to_owned())
            .collect();
        for signature in signatures {
            let view = self.json(&signature);
            for layer in view["layers"].as_array().unwrap() {
                self.remove_blob(layer["digest"].as_str().unwrap());
            }
            self.remove_blob(&signature);
        }
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .retain(|d| d["artifactType"] != "application/vnd.dev.cosign.artifact.sig.v1+json");
        for entry in index["manifests"].as_array_mut().unwrap() {
            if entry["digest"] == old_root_digest.as_str() {
                entry["digest"] = root_digest.clone().into();
                entry["size"] = root_size.into();
            }
        }
        self.set("index.json", serde_json::to_vec(&index).unwrap());
        for old in [old_root_digest, old_metadata, old_lock] {
            if old != root_digest && old != metadata_digest && old != lock_digest {
                self.remove_blob(&old);
            }
        }
    }
}

fn metadata_entry(root: &Value) -> &Value {
    root["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["artifactType"] == "application/vnd.ferry.bundle.metadata.v1")
        .unwrap()
}

fn lock_layer(manifest: &Value) -> &Value {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.ferry.lock.v1+toml")
        .unwrap()
}

/// The lock text split into its TOML blocks (`[[image]]`, `[[image.platform]]`, …), each with its header.
pub fn lock_blocks(text: &str) -> Vec<String> {
    let mut blocks = vec![String::new()];
    for line in text.lines() {
        if line.starts_with("[[") {
            blocks.push(String::new());
        }
        let last = blocks.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    blocks
}

/// The index of the `[[image]]` block whose reference is `reference`.
pub fn image_block(blocks: &[String], reference: &str) -> usize {
    blocks
        .iter()
        .position(|b| {
            b.starts_with("[[image]]") && b.contains(&format!("reference = \"{reference}\""))
        })
        .unwrap_or_else(|| panic!("no image {reference} in the lock"))
}

/// The `[[image]]` block at `at` with its `[[image.platform]]` blocks.
pub fn image_with_platforms(blocks: &[String], at: usize) -> std::ops::Range<usize> {
    let end = blocks[at + 1..]
        .iter()
        .position(|b| !b.starts_with("[[image.platform]]"))
        .map_or(blocks.len(), |n| at + 1 + n);
    at..end
}

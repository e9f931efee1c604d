//! A lock whose entries were edited (issue 16 §1): `build --locked` refuses
//! it before building, naming the entry, and `verify` refuses a bundle whose
//! graph, embedded lock and embedded spec disagree in the same ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod crafted;

use std::path::{Path, PathBuf};

use common::{copy_example, ferry, s};
use crafted::{image_block, image_with_platforms, lock_blocks, Archive};

const HELLO: &str = "example.local/demo/hello:1.0";
const TOOL: &str = "example.local/demo/tool:2.1";

struct Example {
    dir: tempfile::TempDir,
    spec: PathBuf,
}

impl Example {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = copy_example(dir.path());
        Self { dir, spec }
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.path().join("examples/lockfiles/example.lock")
    }

    fn edit_lock(&self, edit: impl FnOnce(Vec<String>) -> Vec<String>) {
        let text = std::fs::read_to_string(self.lock_path()).unwrap();
        std::fs::write(self.lock_path(), edit(lock_blocks(&text)).concat()).unwrap();
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `build --locked`; returns the run and whether an archive was written.
    fn build(&self) -> (common::Run, bool) {
        let out = self.dir.path().join("out.tar");
        let run = ferry(
            &self.cache(),
            &["build", s(&self.spec), "--locked", "-o", s(&out), "-q"],
        );
        (run, out.exists())
    }

    fn refused(&self, names: &[&str]) {
        let (run, written) = self.build();
        let run = run.failed();
        assert!(!written, "nothing is built from a bad lock");
        assert!(run.stderr.contains("is inconsistent"), "{}", run.stderr);
        for name in names {
            assert!(run.stderr.contains(name), "names {name}: {}", run.stderr);
        }
        assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    }
}

/// The `digest = …` line of a lock block.
fn digest_line(block: &str) -> &str {
    block.lines().find(|l| l.starts_with("digest = ")).unwrap()
}

#[test]
fn the_committed_lock_builds_and_verifies() {
    let example = Example::new();
    let (run, written) = example.build();
    run.ok();
    assert!(written);
    let out = example.dir.path().join("out.tar");
    ferry(
        &example.cache(),
        &["verify", s(&out), "--insecure-skip-signature"],
    )
    .ok();
}

#[test]
fn build_locked_refuses_a_platform_digest_swapped_for_another_platforms() {
    let example = Example::new();
    example.edit_lock(|mut blocks| {
        let at = image_block(&blocks, HELLO);
        let (amd64, arm64) = (at + 1, at + 2);
        assert!(blocks[amd64].contains("linux/amd64") && blocks[arm64].contains("linux/arm64"));
        let arm64_digest = digest_line(&blocks[arm64]).to_owned();
        let amd64_digest = digest_line(&blocks[amd64]).to_owned();
        blocks[amd64] = blocks[amd64].replace(&amd64_digest, &arm64_digest);
        blocks
    });
    example.refused(&[HELLO, "more than one platform"]);
}

#[test]
fn build_locked_refuses_a_removed_platform_entry() {
    let example = Example::new();
    example.edit_lock(|mut blocks| {
        let at = image_block(&blocks, HELLO);
        assert!(blocks[at + 1].contains("linux/amd64"));
        blocks.remove(at + 1);
        blocks
    });
    example.refused(&[HELLO, "locks no linux/amd64 manifest"]);
}

#[test]
fn build_locked_refuses_a_removed_image_entry() {
    let example = Example::new();
    example.edit_lock(|mut blocks| {
        let range = image_with_platforms(&blocks, image_block(&blocks, TOOL));
        blocks.drain(range);
        blocks
    });
    example.refused(&[TOOL, "is not in the lock"]);
}

#[test]
fn build_locked_refuses_a_duplicated_image_entry() {
    let example = Example::new();
    example.edit_lock(|mut blocks| {
        let range = image_with_platforms(&blocks, image_block(&blocks, TOOL));
        let copy: Vec<String> = blocks[range.clone()].to_vec();
        blocks.splice(range.end..range.end, copy);
        blocks
    });
    example.refused(&[TOOL, "locked twice"]);
}

#[test]
fn build_locked_refuses_an_image_the_spec_does_not_name() {
    let example = Example::new();
    example.edit_lock(|mut blocks| {
        let range = image_with_platforms(&blocks, image_block(&blocks, TOOL));
        let copy: Vec<String> = blocks[range.clone()]
            .iter()
            .map(|b| b.replace(TOOL, "example.local/demo/smuggled:6.6"))
            .collect();
        blocks.splice(range.end..range.end, copy);
        blocks
    });
    example.refused(&[
        "example.local/demo/smuggled:6.6",
        "the spec does not name it",
    ]);
}

#[test]
fn build_locked_refuses_a_file_entry_the_spec_does_not_name() {
    let example = Example::new();
    example.edit_lock(|mut blocks| {
        let file = blocks
            .iter()
            .position(|b| b.starts_with("[[file]]"))
            .unwrap();
        let extra =
            blocks[file].replace("platform = \"linux/amd64\"", "platform = \"linux/s390x\"");
        assert_ne!(extra, blocks[file]);
        blocks.push(extra);
        blocks
    });
    example.refused(&["hello-cli", "linux/s390x"]);
}

const HELLO_AMD64: &str = "16efe47a863b10618cc13a7b16fc74070e372dbb1e79e1cccae17e7b2826a5b9";

/// The example with hello-cli's files not pinned in its component, locked again:
/// the lock alone records their sha256.
fn unpinned_files() -> Example {
    let example = Example::new();
    let component = example
        .dir
        .path()
        .join("examples/vendor-manifests/hello-cli/1.0.0.yaml");
    let text = std::fs::read_to_string(&component).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("    sha256:") && !l.starts_with("      a"))
        .collect();
    assert_eq!(kept.len() + 3, text.lines().count(), "{text}");
    std::fs::write(&component, kept.join("\n") + "\n").unwrap();
    ferry(&example.cache(), &["lock", s(&example.spec), "-q"]).ok();
    example
}

#[test]
fn an_edited_file_sha256_blames_the_lock_not_the_cache() {
    let example = unpinned_files();
    let edited = format!("0000{}", &HELLO_AMD64[4..]);
    let text = std::fs::read_to_string(example.lock_path()).unwrap();
    assert!(text.contains(HELLO_AMD64));
    std::fs::write(example.lock_path(), text.replace(HELLO_AMD64, &edited)).unwrap();
    let (run, written) = example.build();
    let run = run.failed();
    assert!(!written, "nothing is built");
    let expected =
        format!("the lock records sha256:{edited} for file hello-cli (linux/amd64) but ");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "hello-cli-1.0.0-linux-amd64 has sha256:{HELLO_AMD64}: the lock was edited or the source changed; run `ferry lock` to re-pin"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("corrupt"), "{}", run.stderr);
}

#[test]
fn a_cache_copy_failing_its_digest_is_called_corrupt() {
    let example = unpinned_files();
    let (run, _) = example.build();
    run.ok();
    // Change one byte of hello-cli in the cache (its loose copy, which is read
    // first, and its copy inside the pack), keeping its size.
    let flip = |path: &Path, offset: usize| {
        let mut permissions = std::fs::metadata(path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(path, permissions).unwrap();
        let mut bytes = std::fs::read(path).unwrap();
        bytes[offset] ^= 1;
        std::fs::write(path, bytes).unwrap();
    };
    let loose = example.cache().join("blobs-v1/sha256").join(HELLO_AMD64);
    if loose.exists() {
        flip(&loose, 0);
    }
    let packs = example.cache().join("packs-v1");
    let index = std::fs::read_dir(&packs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .unwrap();
    let line = std::fs::read_to_string(&index)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(HELLO_AMD64))
        .unwrap()
        .to_owned();
    let offset: usize = line.split(' ').nth(1).unwrap().parse().unwrap();
    flip(&index.with_extension("tar"), offset);
    std::fs::remove_file(example.dir.path().join("out.tar")).unwrap();
    let (run, written) = example.build();
    let run = run.failed();
    assert!(!written);
    assert!(
        run.stderr.contains(&format!(
            "blob sha256:{HELLO_AMD64}: the cache's copy hashes to sha256:"
        )) && run.stderr.contains("so the cache copy is corrupt"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ferry cache gc"), "{}", run.stderr);
    assert!(!run.stderr.contains("the lock records"), "{}", run.stderr);
}

/// The example bundle, built into `dir`.
fn built(example: &Example) -> (Archive, PathBuf) {
    let (run, _) = example.build();
    run.ok();
    let out = example.dir.path().join("out.tar");
    (Archive::read(&out), out)
}

fn verify(example: &Example, path: &Path) -> common::Run {
    ferry(
        &example.cache(),
        &["verify", s(path), "--insecure-skip-signature"],
    )
}

/// Removes the blobs `verify` calls extra, so the edit under test is the only problem left.
fn prune_extras(example: &Example, archive: &mut Archive, path: &Path) {
    archive.write(path);
    let run = verify(example, path);
    for line in run.stderr.lines() {
        if let Some(rest) = line.trim().strip_prefix("- blob ") {
            if rest.ends_with("is not referenced by the bundle (extra content)") {
                let digest = rest.split_whitespace().next().unwrap();
                archive.remove_blob(digest);
            }
        }
    }
    archive.write(path);
}

#[test]
fn verify_refuses_a_bundle_whose_lock_lost_a_platform_manifest() {
    let example = Example::new();
    let (mut archive, _) = built(&example);
    // As a build from a lock without the amd64 entry would have written it:
    // the lock lacks the entry and the archive lacks the manifest and its layers.
    let lock = archive.lock_text();
    let blocks = lock_blocks(&lock);
    let at = image_block(&blocks, HELLO);
    let amd64 = digest_line(&blocks[at + 1])
        .trim_start_matches("digest = ")
        .trim_matches('"')
        .to_owned();
    archive.edit_signed(
        |text| {
            let mut blocks = lock_blocks(text);
            blocks.remove(image_block(&blocks, HELLO) + 1);
            blocks.concat()
        },
        |_| {},
    );
    archive.remove_blob(&amd64);
    let path = example.dir.path().join("crafted.tar");
    prune_extras(&example, &mut archive, &path);
    let run = verify(&example, &path).failed();
    assert!(
        run.stderr.contains("locks no linux/amd64 manifest"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(HELLO), "{}", run.stderr);
    let unpacked = example.dir.path().join("layout");
    ferry(
        &example.cache(),
        &[
            "unpack",
            s(&path),
            "-o",
            s(&unpacked),
            "--insecure-skip-signature",
        ],
    )
    .failed();
    assert!(!unpacked.exists());
}

#[test]
fn verify_refuses_a_bundle_missing_an_image_its_spec_names() {
    let example = Example::new();
    let (mut archive, _) = built(&example);
    let tool_digest = {
        let root = archive.json(&archive.root_digest());
        root["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == TOOL)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    archive.edit_signed(
        |text| {
            let mut blocks = lock_blocks(text);
            let range = image_with_platforms(&blocks, image_block(&blocks, TOOL));
            blocks.drain(range);
            blocks.concat()
        },
        |root| {
            root["manifests"]
                .as_array_mut()
                .unwrap()
                .retain(|d| d["annotations"]["org.opencontainers.image.ref.name"] != TOOL);
        },
    );
    let mut index = archive.index();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|d| d["digest"] != tool_digest.as_str());
    archive.set("index.json", serde_json::to_vec(&index).unwrap());
    archive.remove_blob(&tool_digest);
    let path = example.dir.path().join("crafted.tar");
    prune_extras(&example, &mut archive, &path);
    let run = verify(&example, &path).failed();
    assert!(
        run.stderr
            .contains(&format!("the embedded spec names image {TOOL}")),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_refuses_a_bundle_whose_lock_lists_an_entry_twice() {
    let example = Example::new();
    let (mut archive, _) = built(&example);
    archive.edit_signed(
        |text| {
            let mut blocks = lock_blocks(text);
            let range = image_with_platforms(&blocks, image_block(&blocks, TOOL));
            let copy: Vec<String> = blocks[range.clone()].to_vec();
            blocks.splice(range.end..range.end, copy);
            blocks.concat()
        },
        |_| {},
    );
    let path = example.dir.path().join("crafted.tar");
    archive.write(&path);
    let run = verify(&example, &path).failed();
    assert!(run.stderr.contains("locked twice"), "{}", run.stderr);
    assert!(run.stderr.contains(TOOL), "{}", run.stderr);
}

#[test]
fn an_untampered_rewrite_still_verifies() {
    // The crafting itself leaves a valid bundle: what fails above fails for the edit.
    let example = Example::new();
    let (mut archive, _) = built(&example);
    archive.edit_signed(|text| text.to_owned(), |_| {});
    let path = example.dir.path().join("crafted.tar");
    archive.write(&path);
    verify(&example, &path).ok();
}

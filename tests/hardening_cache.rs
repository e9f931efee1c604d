//! Hardening of the pack cache (issue 16 §4): the build output shares no
//! writes with the cache, temporaries of killed builds are swept by the next
//! build and by `cache gc` (not those a live build holds), and `cache gc`
//! removes packs that fail their digest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{ferry, s, sha256_file};

fn packs(cache: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache.join("packs-v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    found.sort();
    found
}

fn lockfile() -> PathBuf {
    common::repo_root().join("examples/lockfiles/example.lock")
}

#[test]
fn writing_into_the_output_does_not_break_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = dir.path().join("first.tar");
    common::build_example(&cache, &first);
    let original = sha256_file(&first);
    assert_eq!(
        std::fs::metadata(&first).unwrap().nlink(),
        1,
        "the output is linked"
    );
    let pack = &packs(&cache)[0];
    assert_ne!(
        std::fs::metadata(&first).unwrap().ino(),
        std::fs::metadata(pack).unwrap().ino()
    );
    // The user scribbles over the middle of the output.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(&vec![0x55; 4096], len / 2).unwrap();
    drop(file);
    let second = dir.path().join("second.tar");
    common::build_example(&cache, &second);
    assert_eq!(sha256_file(&second), original);
    ferry(&cache, &["verify", s(&second), "--insecure-skip-signature"]).ok();
}

#[test]
fn orphaned_pack_temporaries_are_swept_but_not_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    common::build_example(&cache, &dir.path().join("one.tar"));
    let packs_dir = cache.join("packs-v1");
    // What a kill -9 leaves: a full-size temporary nobody holds.
    let orphan = packs_dir.join(".pack-killed1");
    std::fs::write(&orphan, vec![7u8; 1 << 20]).unwrap();
    // A live build's temporary: its writer holds an exclusive flock on it.
    let live = packs_dir.join(".pack-live");
    std::fs::write(&live, b"being written").unwrap();
    // (one process holds it, so killing that process ends the lock)
    let mut holder = Command::new("sh")
        .args([
            "-c",
            "exec 9<\"$1\"; flock -x 9; exec sleep 120",
            "sh",
            s(&live),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // wait until the lock is taken
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Command::new("flock")
        .args(["-n", "-x", s(&live), "true"])
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "flock did not take the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    common::build_example(&cache, &dir.path().join("two.tar"));
    assert!(!orphan.exists(), "the next build left the orphan");
    assert!(live.exists(), "the next build removed a live temporary");

    let orphan = packs_dir.join(".pack-killed2");
    std::fs::write(&orphan, vec![7u8; 1 << 20]).unwrap();
    let gc = ferry(
        &cache,
        &["cache", "gc", s(&lockfile()), "--cache-dir", s(&cache)],
    )
    .ok();
    assert!(!orphan.exists(), "cache gc left the orphan:\n{}", gc.stdout);
    assert!(gc.stdout.contains("1 pack temporaries"), "{}", gc.stdout);
    assert!(live.exists(), "cache gc removed a live temporary");

    let _ = holder.kill();
    let _ = holder.wait();
    ferry(
        &cache,
        &["cache", "gc", s(&lockfile()), "--cache-dir", s(&cache)],
    )
    .ok();
    assert!(
        !live.exists(),
        "once its writer is gone the temporary is an orphan"
    );
}

#[test]
fn cache_gc_removes_packs_that_fail_their_digest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("one.tar");
    common::build_example(&cache, &out);
    let original = sha256_file(&out);
    let pack = packs(&cache)[0].clone();
    // Corrupt one byte of the first blob the index lists.
    let index = std::fs::read_to_string(pack.with_extension("idx")).unwrap();
    let offset: u64 = index
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut permissions = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&pack, permissions).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&pack).unwrap();
    let mut byte = [0u8; 1];
    std::fs::File::open(&pack)
        .unwrap()
        .read_at(&mut byte, offset)
        .unwrap();
    file.write_all_at(&[byte[0] ^ 0xff], offset).unwrap();
    drop(file);

    let gc = ferry(
        &cache,
        &["cache", "gc", s(&lockfile()), "--cache-dir", s(&cache)],
    )
    .ok();
    assert!(gc.stdout.contains("removed corrupt pack"), "{}", gc.stdout);
    assert!(!pack.exists());
    let again = dir.path().join("two.tar");
    common::build_example(&cache, &again);
    assert_eq!(sha256_file(&again), original);

    // A sound cache loses nothing.
    let gc = ferry(
        &cache,
        &["cache", "gc", s(&lockfile()), "--cache-dir", s(&cache)],
    )
    .ok();
    assert!(!gc.stdout.contains("corrupt"), "{}", gc.stdout);
    assert_eq!(packs(&cache).len(), 1);
}

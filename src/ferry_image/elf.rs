//! What ferry needs to know about an executable before it goes into its
//! image: the CPU architecture it runs on and whether it is statically linked
//! (no program interpreter, no shared libraries needed). Only the ELF header,
//! the program headers and the dynamic section are read, never the whole file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What the headers of an executable say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfFacts {
    /// The OCI architecture name (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// No `PT_INTERP` and no `DT_NEEDED`: runs in an image with nothing else.
    pub statically_linked: bool,
    /// The shared libraries it needs (`DT_NEEDED` entries are not resolved
    /// to names; this counts them) and whether it names an interpreter.
    pub needed_libraries: usize,
    /// Whether it names a program interpreter (`PT_INTERP`).
    pub has_interpreter: bool,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NEEDED: u64 = 1;
/// The dynamic section read at most (a static-pie's is a few hundred bytes).
const MAX_DYNAMIC: u64 = 1 << 20;

/// Reads the facts of the ELF executable at `path`.
pub fn inspect(path: &Path) -> Result<ElfFacts, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut header = [0u8; 64];
    file.read_exact(&mut header)
        .map_err(|e| format!("{} is not an ELF executable: {e}", path.display()))?;
    if &header[..4] != b"\x7fELF" {
        return Err(format!("{} is not an ELF executable", path.display()));
    }
    if header[4] != 2 || header[5] != 1 {
        return Err(format!(
            "{} is not a 64-bit little-endian ELF executable, which ferry's image needs",
            path.display()
        ));
    }
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let u64_at = |b: &[u8], at: usize| {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(raw)
    };
    let architecture = match u16_at(&header, 18) {
        62 => "amd64",
        183 => "arm64",
        243 => "riscv64",
        21 => "ppc64le",
        other => {
            return Err(format!(
                "{}: ELF machine {other} is not an architecture ferry's image supports",
                path.display()
            ))
        }
    }
    .to_owned();
    let phoff = u64_at(&header, 32);
    let phentsize = u64::from(u16_at(&header, 54));
    let phnum = u64::from(u16_at(&header, 56));
    if phentsize < 56 || phnum > 4096 {
        return Err(format!("{}: damaged ELF program headers", path.display()));
    }
    let mut headers = vec![0u8; (phentsize * phnum) as usize];
    file.seek(SeekFrom::Start(phoff))
        .and_then(|_| file.read_exact(&mut headers))
        .map_err(|e| format!("{}: cannot read the program headers: {e}", path.display()))?;
    let mut has_interpreter = false;
    let mut dynamic = None;
    for entry in headers.chunks_exact(phentsize as usize) {
        match u32_at(entry, 0) {
            PT_INTERP => has_interpreter = true,
            PT_DYNAMIC => dynamic = Some((u64_at(entry, 8), u64_at(entry, 32))),
            _ => {}
        }
    }
    let mut needed_libraries = 0;
    if let Some((offset, size)) = dynamic {
        let mut section = vec![0u8; size.min(MAX_DYNAMIC) as usize];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut section))
            .map_err(|e| format!("{}: cannot read the dynamic section: {e}", path.display()))?;
        for entry in section.chunks_exact(16) {
            match u64_at(entry, 0) {
                0 => break,
                DT_NEEDED => needed_libraries += 1,
                _ => {}
            }
        }
    }
    Ok(ElfFacts {
        architecture,
        statically_linked: !has_interpreter && needed_libraries == 0,
        needed_libraries,
        has_interpreter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_read() {
        let exe = std::env::current_exe().unwrap();
        let facts = inspect(&exe).unwrap();
        let expected = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        assert_eq!(facts.architecture, expected);
        assert_eq!(
            facts.statically_linked,
            !facts.has_interpreter && facts.needed_libraries == 0
        );
    }

    #[test]
    fn a_dynamic_system_binary_is_not_static() {
        let facts = inspect(Path::new("/bin/sh")).unwrap();
        assert!(facts.has_interpreter);
        assert!(!facts.statically_linked);
    }

    #[test]
    fn not_elf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
        assert!(inspect(&path).unwrap_err().contains("not an ELF"));
    }
}

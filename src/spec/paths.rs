//! Relative paths that read the same on every machine.

use std::path::{Component, Path, PathBuf};

/// Removes `.` and folds `..` lexically (no symlinks are followed).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `target` relative to the directory `base`, with `/` separators.
pub fn relative_path(target: &Path, base: &Path) -> String {
    let target = normalize(target);
    let base = normalize(base);
    let target_parts: Vec<_> = target.components().collect();
    let base_parts: Vec<_> = base.components().collect();
    let common = target_parts
        .iter()
        .zip(&base_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..base_parts.len() {
        parts.push("..".to_owned());
    }
    for part in &target_parts[common..] {
        parts.push(part.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/../c/d"), Path::new("/a/x")),
            "../c/d"
        );
        assert_eq!(relative_path(Path::new("/a/x/y"), Path::new("/a/x")), "y");
    }
}

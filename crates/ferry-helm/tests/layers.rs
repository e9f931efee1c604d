//! The crate's layers: no module imports one above it.
//!
//! Reads every source file under `src/` and fails on a `crate::X` path (in a `use` or inline,
//! `crate::{X, ..}` groups included) that names a module of a higher layer than the file's own
//! top-level module. Modules of one layer may use each other. Every top-level module must be
//! placed in [`LAYERS`], so a new module cannot slip past the check.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Bottom first. Each entry: the layer's top-level modules.
const LAYERS: &[&[&str]] = &[
    // plain helpers with no import from the crate
    &["error", "files", "rand"],
    &["value"],
    &["semver", "crypto", "prime"],
    // YAML reading and writing (the general reader, its YAML 1.1 scalars, the fast paths), and
    // the JSON Schema validator of values
    &["yaml", "yaml11", "fasthead", "schema"],
    // parse, then exec
    &["template"],
    // Go's builtins, Sprig's and Helm's
    &["funcs"],
    // loading charts
    &["chart"],
    &["values"],
    // rendering and splitting the output into manifests
    &["render", "manifests"],
    &["images"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a line names through `crate::`.
fn crate_refs(line: &str) -> Vec<String> {
    let code = match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // e.g. `ferry_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident_at(item.trim());
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Upward imports of the crate, as `file:line: module (layer) uses module (layer)`.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let own = first.trim_end_matches(".rs").to_string();
        if own == "lib" {
            continue;
        }
        let Some(own_layer) = layer_of(&own) else {
            bad.push(format!(
                "{}: module `{own}` is in no layer (add it to LAYERS)",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for dep in crate_refs(line) {
                if dep == own {
                    continue;
                }
                match layer_of(&dep) {
                    Some(l) if l <= own_layer => {}
                    Some(l) => bad.push(format!(
                        "{}:{}: `{own}` (layer {own_layer}) uses `{dep}` (layer {l})",
                        rel.display(),
                        n + 1
                    )),
                    None => bad.push(format!(
                        "{}:{}: `{own}` uses `{dep}`, which is in no layer",
                        rel.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    bad
}

#[test]
fn no_import_runs_back_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = upward_imports(&src);
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn template_parse_does_not_use_exec() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/template/parse");
    let mut files = Vec::new();
    sources(&dir, &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("exec::") && !code.contains("Exec"),
                "{}:{}: the parser uses the executor: {line}",
                f.display(),
                n + 1
            );
        }
    }
}

/// The check itself finds what it must: an upward `use`, a grouped one, an inline path.
#[test]
fn the_check_sees_upward_imports() {
    let dir = std::env::temp_dir().join(format!("ferry-helm-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("template")).unwrap();
    std::fs::write(
        dir.join("value.rs"),
        "use crate::{error::Error, render::X};\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("template/exec.rs"),
        "// crate::render in a comment is fine\nfn f() { crate::funcs::registry(); }\n",
    )
    .unwrap();
    std::fs::write(dir.join("chart.rs"), "use crate::values::Values;\n").unwrap();
    std::fs::write(dir.join("images.rs"), "use crate::chart::Chart;\n").unwrap();
    std::fs::write(dir.join("newmod.rs"), "\n").unwrap();
    let bad = upward_imports(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        bad,
        [
            "chart.rs:1: `chart` (layer 6) uses `values` (layer 7)",
            "newmod.rs: module `newmod` is in no layer (add it to LAYERS)",
            "template/exec.rs:2: `template` (layer 4) uses `funcs` (layer 5)",
            "value.rs:1: `value` (layer 1) uses `render` (layer 8)",
        ]
    );
}

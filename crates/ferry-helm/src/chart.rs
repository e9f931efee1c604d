//! Loading charts from directories and `.tgz` archives.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;

/// A loaded chart (templates, values, files and its dependencies under `charts/`).
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`, parsed.
    pub metadata: Metadata,
    /// `Chart.yaml` as YAML (for `.Chart`).
    pub metadata_yaml: serde_norway::Value,
    /// `values.yaml` text, if any.
    pub values_yaml: Option<Arc<str>>,
    /// `values.schema.json` text, if any.
    pub schema: Option<Arc<str>>,
    /// Templates: path relative to the chart (`templates/x.yaml`) and text.
    pub templates: Vec<(String, Arc<str>)>,
    /// Every other file (for `.Files`, `crds/`), path relative to the chart.
    pub files: Vec<(String, FileContent)>,
    /// Charts under `charts/`.
    pub dependencies: Vec<Chart>,
}

/// Identifies a chart's text (a template, a `values.yaml`, a schema) by its shared allocation:
/// what was read from it can be found again though charts are renamed or copied
/// (`process_dependencies` keeps the `Arc`s). Whoever keeps results by this key keeps the text
/// too, so its address cannot be reused meanwhile.
pub(crate) fn text_key(text: &Arc<str>) -> usize {
    Arc::as_ptr(text).cast::<u8>() as usize
}

use crate::files::read_file;
pub use crate::files::FileContent;

pub use crate::files::MAX_FILE_SIZE;

/// The largest decompressed size of all files of a chart archive that Helm loads (100 MiB).
pub const MAX_ARCHIVE_SIZE: u64 = 100 * 1024 * 1024;

/// Helm's error for an archive whose files decompress to more than [`MAX_ARCHIVE_SIZE`].
fn archive_too_large(origin: &str) -> Error {
    Error::Chart(format!(
        "{origin}: decompressed chart is larger than the maximum size {MAX_ARCHIVE_SIZE}"
    ))
}

/// A file found while loading, before it is sorted into the chart.
enum RawFile {
    Memory(Vec<u8>),
    Disk(PathBuf),
}

impl RawFile {
    fn read(self) -> Result<Vec<u8>, Error> {
        match self {
            RawFile::Memory(b) => Ok(b),
            RawFile::Disk(path) => read_file(&path).map_err(|source| Error::Io { path, source }),
        }
    }

    fn text(self) -> Result<String, Error> {
        self.read().map(to_text)
    }
}

/// The fields of `Chart.yaml` the renderer needs.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// `apiVersion`.
    pub api_version: String,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `appVersion`.
    pub app_version: String,
    /// `type` (`application`, `library` or empty).
    pub chart_type: String,
    /// `kubeVersion` constraint.
    pub kube_version: String,
    /// `dependencies`.
    pub dependencies: Vec<Dependency>,
    /// `annotations`.
    pub annotations: Vec<(String, String)>,
}

/// One entry of `dependencies` in `Chart.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Dependency {
    /// `name`.
    pub name: String,
    /// `alias`.
    pub alias: String,
    /// `condition` (comma-separated value paths).
    pub condition: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `import-values`: (child path, parent path).
    pub import_values: Vec<(String, String)>,
}

fn ystr(v: Option<&serde_norway::Value>) -> String {
    match v {
        Some(serde_norway::Value::String(s)) => s.clone(),
        Some(serde_norway::Value::Number(n)) => n.to_string(),
        Some(serde_norway::Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

impl Chart {
    /// Loads a chart from a directory or a `.tgz`/`.tar.gz` archive.
    pub fn load(path: impl AsRef<Path>) -> Result<Chart, Error> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, "", &mut files)?;
            Chart::from_raw(files, &path.display().to_string())
        } else {
            let data = std::fs::read(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            Chart::from_archive(&data, &path.display().to_string())
        }
    }

    /// Loads a chart from the bytes of a `.tgz` archive.
    pub fn from_archive(data: &[u8], origin: &str) -> Result<Chart, Error> {
        let gz = flate2::read::GzDecoder::new(data);
        let mut ar = tar::Archive::new(gz);
        let mut files = Vec::new();
        let entries = ar
            .entries()
            .map_err(|e| Error::Chart(format!("{origin}: {e}")))?;
        // what may still be decompressed, as Helm's loader counts it
        let mut remaining = MAX_ARCHIVE_SIZE;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::Chart(format!("{origin}: {e}")))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let p = entry
                .path()
                .map_err(|e| Error::Chart(format!("{origin}: {e}")))?
                .to_string_lossy()
                .replace('\\', "/");
            // the sizes the header claims are checked before anything is decompressed, the
            // bytes read are counted too (a header may claim less than follows)
            let size = entry.size();
            if size > remaining {
                return Err(archive_too_large(origin));
            }
            if size > MAX_FILE_SIZE {
                return Err(Error::Chart(format!(
                    "{origin}: decompressed chart file {p:?} is larger than the maximum file size {MAX_FILE_SIZE}"
                )));
            }
            // strip the top-level directory
            let Some((_, rest)) = p.split_once('/') else {
                continue;
            };
            if rest.split('/').any(|s| s == "..") {
                return Err(Error::Chart(format!(
                    "{origin}: chart illegally contains path {p}"
                )));
            }
            let mut buf = Vec::new();
            (&mut entry)
                .take(remaining + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Chart(format!("{origin}: {e}")))?;
            let read = buf.len() as u64;
            if read > remaining || read < size {
                return Err(archive_too_large(origin));
            }
            remaining -= read;
            files.push((rest.to_string(), RawFile::Memory(buf)));
        }
        // Helm reads an archive as packaged: its .helmignore was applied when it was packaged
        Chart::from_filtered(files, origin)
    }

    /// Builds a chart from its files (paths relative to the chart root, `/`-separated).
    pub fn from_files(files: Vec<(String, Vec<u8>)>, origin: &str) -> Result<Chart, Error> {
        let files = files
            .into_iter()
            .map(|(p, b)| (p, RawFile::Memory(b)))
            .collect();
        Chart::from_raw(files, origin)
    }

    /// A chart directory's files: its top-level `.helmignore` (and Helm's default rule for
    /// dotfiles in `templates/`) filters the whole tree, subcharts included, as Helm's
    /// directory loader does.
    fn from_raw(mut files: Vec<(String, RawFile)>, origin: &str) -> Result<Chart, Error> {
        let ignore = match files.iter().position(|(p, _)| p == ".helmignore") {
            Some(i) => {
                let (p, raw) =
                    std::mem::replace(&mut files[i], (String::new(), RawFile::Memory(Vec::new())));
                let bytes = raw.read()?;
                let rules = IgnoreRules::parse(&String::from_utf8_lossy(&bytes));
                files[i] = (p, RawFile::Memory(bytes));
                rules
            }
            None => IgnoreRules::parse(""),
        };
        let files: Vec<(String, RawFile)> = files
            .into_iter()
            .filter(|(p, _)| !ignore.ignored(p))
            .collect();
        for (p, raw) in &files {
            let size = match raw {
                RawFile::Memory(b) => b.len() as u64,
                RawFile::Disk(path) => std::fs::metadata(path)
                    .map_err(|source| Error::Io {
                        path: path.clone(),
                        source,
                    })?
                    .len(),
            };
            if size > MAX_FILE_SIZE {
                return Err(Error::Chart(format!(
                    "{origin}: chart file {p:?} is larger than the maximum file size {MAX_FILE_SIZE}"
                )));
            }
        }
        Chart::from_filtered(files, origin)
    }

    fn from_filtered(files: Vec<(String, RawFile)>, origin: &str) -> Result<Chart, Error> {
        let mut chart_yaml = None;
        let mut values_yaml = None;
        let mut schema = None;
        let mut templates = Vec::new();
        let mut other = Vec::new();
        let mut sub_dirs: std::collections::BTreeMap<String, Vec<(String, RawFile)>> =
            Default::default();
        let mut sub_archives = Vec::new();
        let mut requirements: Option<String> = None;
        for (p, data) in files {
            if p == "Chart.yaml" {
                chart_yaml = Some(data.text()?);
            } else if p == "values.yaml" {
                values_yaml = Some(Arc::from(data.text()?));
            } else if p == "values.schema.json" {
                schema = Some(Arc::from(data.text()?));
            } else if p == "requirements.yaml" {
                requirements = Some(data.text()?);
            } else if p == "requirements.lock" || p == "Chart.lock" {
                continue;
            } else if p.starts_with("templates/") {
                templates.push((p, Arc::from(data.text()?)));
            } else if let Some(rest) = p.strip_prefix("charts/") {
                match rest.split_once('/') {
                    Some((dir, inner)) => sub_dirs
                        .entry(dir.to_string())
                        .or_default()
                        .push((inner.to_string(), data)),
                    None => {
                        if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") {
                            sub_archives.push((rest.to_string(), data.read()?));
                        }
                    }
                }
            } else {
                let content = match data {
                    RawFile::Memory(b) => FileContent::memory(b),
                    RawFile::Disk(path) => FileContent::on_disk(path),
                };
                other.push((p, content));
            }
        }
        let Some(chart_yaml) = chart_yaml else {
            return Err(Error::Chart("Chart.yaml file is missing".into()));
        };
        let metadata_yaml: serde_norway::Value =
            serde_norway::from_str(&chart_yaml).map_err(|e| {
                Error::Chart(format!(
                    "cannot load Chart.yaml: error converting YAML to JSON: yaml: {}",
                    crate::yaml::go_yaml_message(&e.to_string())
                ))
            })?;
        let mut metadata = parse_metadata(&metadata_yaml);
        // apiVersion v1 charts list their dependencies in requirements.yaml
        if let Some(req) = requirements {
            if let Ok(y) = serde_norway::from_str::<serde_norway::Value>(&req) {
                let deps = parse_metadata(&y).dependencies;
                if !deps.is_empty() {
                    metadata.dependencies = deps;
                }
            }
        }
        if metadata.api_version.is_empty() {
            // Helm's loader treats a missing apiVersion as v1
            metadata.api_version = "v1".into();
        }
        if metadata.name.is_empty() {
            return Err(Error::Validation("chart.metadata.name is required".into()));
        }
        if metadata.version.is_empty() {
            return Err(Error::Validation(
                "chart.metadata.version is required".into(),
            ));
        }
        if !matches!(metadata.chart_type.as_str(), "" | "application" | "library") {
            return Err(Error::Validation(
                "chart.metadata.type must be application or library".into(),
            ));
        }
        let mut dependencies = Vec::new();
        for (dir, fs) in sub_dirs {
            if !fs.iter().any(|(p, _)| p == "Chart.yaml") {
                continue;
            }
            // Helm applies only the top chart's .helmignore (already done), not a subchart's
            let sub = Chart::from_filtered(fs, &format!("{origin}/charts/{dir}")).map_err(|e| {
                Error::Chart(format!(
                    "error unpacking subchart {dir} in {}: {e}",
                    metadata.name
                ))
            })?;
            dependencies.push(sub);
        }
        for (name, data) in sub_archives {
            let sub =
                Chart::from_archive(&data, &format!("{origin}/charts/{name}")).map_err(|e| {
                    let stem = name.trim_end_matches(".tgz").trim_end_matches(".tar.gz");
                    Error::Chart(format!(
                        "error unpacking subchart {stem} in {}: {e}",
                        metadata.name
                    ))
                })?;
            dependencies.push(sub);
        }
        templates.sort();
        other.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Chart {
            metadata,
            metadata_yaml,
            values_yaml,
            schema,
            templates,
            files: other,
            dependencies,
        })
    }

    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether this is a library chart.
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }
}

/// UTF-8 text without copying when it is valid (lossy otherwise, as Go's string conversion keeps bytes).
fn to_text(data: Vec<u8>) -> String {
    String::from_utf8(data).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn parse_metadata(y: &serde_norway::Value) -> Metadata {
    let mut m = Metadata {
        api_version: ystr(y.get("apiVersion")),
        name: ystr(y.get("name")),
        version: ystr(y.get("version")),
        app_version: ystr(y.get("appVersion")),
        chart_type: ystr(y.get("type")),
        kube_version: ystr(y.get("kubeVersion")),
        ..Default::default()
    };
    if let Some(serde_norway::Value::Mapping(a)) = y.get("annotations") {
        for (k, v) in a {
            m.annotations.push((ystr(Some(k)), ystr(Some(v))));
        }
    }
    if let Some(serde_norway::Value::Sequence(deps)) = y.get("dependencies") {
        for d in deps {
            let mut dep = Dependency {
                name: ystr(d.get("name")),
                alias: ystr(d.get("alias")),
                condition: ystr(d.get("condition")),
                ..Default::default()
            };
            if let Some(serde_norway::Value::Sequence(t)) = d.get("tags") {
                dep.tags = t.iter().map(|x| ystr(Some(x))).collect();
            }
            if let Some(serde_norway::Value::Sequence(iv)) = d.get("import-values") {
                for x in iv {
                    match x {
                        serde_norway::Value::String(s) => dep
                            .import_values
                            .push((format!("exports.{s}"), String::new())),
                        other => dep
                            .import_values
                            .push((ystr(other.get("child")), ystr(other.get("parent")))),
                    }
                }
            }
            m.dependencies.push(dep);
        }
    }
    m
}

/// Lists the files under `dir` (sorted, following symbolic links) without reading them, with
/// their paths relative to the chart (`rel` is `dir`'s, `""` for the chart's own directory).
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, RawFile)>) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let mut entries: Vec<(std::ffi::OsString, PathBuf, std::fs::FileType)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        // the directory entry knows its type; only links need a stat
        let mut kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_symlink() {
            kind = std::fs::metadata(&path)
                .map_err(|e| io(&path, e))?
                .file_type();
        }
        entries.push((entry.file_name(), path, kind));
    }
    // siblings: ordering by name is ordering by path
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, p, kind) in entries {
        // joined here rather than stripped off each full path (a walk over its components)
        let name = name.to_string_lossy();
        let rel_path = if rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        };
        if kind.is_dir() {
            walk(&p, &rel_path, out)?;
        } else {
            out.push((rel_path, RawFile::Disk(p)));
        }
    }
    Ok(())
}

/// `.helmignore` rules (a subset of gitignore, as Helm reads them).
#[derive(Debug, Default)]
struct IgnoreRules {
    rules: Vec<IgnoreRule>,
}

/// One `.helmignore` line.
#[derive(Debug)]
struct IgnoreRule {
    pattern: String,
    /// How the pattern is matched; most lines are plain names or `*.ext`.
    shape: PatternShape,
    negate: bool,
    dir_only: bool,
}

/// The cheapest exact way to match a pattern against a path component.
#[derive(Debug)]
enum PatternShape {
    /// No glob characters: the component equals the pattern.
    Literal,
    /// `*` followed by no glob characters: the component ends with the rest.
    Suffix,
    /// Anything else, including every pattern with a `/` (matched against the whole path).
    Glob,
}

impl PatternShape {
    fn of(pattern: &str) -> Self {
        let is_plain = |s: &str| !s.contains(['*', '?', '[', '\\', '/']);
        if is_plain(pattern) {
            PatternShape::Literal
        } else if pattern.strip_prefix('*').is_some_and(is_plain) {
            PatternShape::Suffix
        } else {
            PatternShape::Glob
        }
    }
}

impl IgnoreRules {
    fn parse(text: &str) -> Self {
        let mut rules = vec![IgnoreRule {
            pattern: "templates/.?*".to_string(),
            shape: PatternShape::Glob,
            negate: false,
            dir_only: false,
        }];
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (negate, l) = match l.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, l),
            };
            let (dir_only, l) = match l.strip_suffix('/') {
                Some(r) => (true, r),
                None => (false, l),
            };
            let l = l.strip_prefix('/').unwrap_or(l);
            rules.push(IgnoreRule {
                pattern: l.to_string(),
                shape: PatternShape::of(l),
                negate,
                dir_only,
            });
        }
        IgnoreRules { rules }
    }

    fn ignored(&self, path: &str) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        // a file is ignored if it or any parent directory matches
        let mut ignored = false;
        let mut start = 0;
        loop {
            let end = path[start..].find('/').map_or(path.len(), |i| start + i);
            let is_dir = end < path.len();
            let sub = &path[..end];
            let base = &path[start..end];
            for rule in &self.rules {
                if rule.dir_only && !is_dir {
                    continue;
                }
                let matched = match rule.shape {
                    PatternShape::Literal => rule.pattern == base,
                    PatternShape::Suffix => base.ends_with(&rule.pattern[1..]),
                    PatternShape::Glob => {
                        let target = if rule.pattern.contains('/') {
                            sub
                        } else {
                            base
                        };
                        crate::funcs::helm::glob_match(&rule.pattern, target)
                    }
                };
                if matched {
                    ignored = !rule.negate;
                }
            }
            if ignored && is_dir {
                return true;
            }
            if !is_dir {
                return ignored;
            }
            start = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{IgnoreRules, PatternShape};

    /// The shortcuts for plain and `*suffix` patterns decide exactly as the glob matcher does.
    #[test]
    fn pattern_shortcuts_agree_with_the_glob_matcher() {
        let patterns = [
            "OWNERS",
            ".DS_Store",
            "*.swp",
            "*~",
            "*.tmproj",
            "*",
            "a*b",
            "*.t?p",
            "[ab]c",
        ];
        let names = [
            "OWNERS",
            "OWNERSx",
            "xOWNERS",
            ".DS_Store",
            "a.swp",
            ".swp",
            "swp",
            "a.swpx",
            "file~",
            "~",
            "x.tmproj",
            "ab",
            "a-b",
            "x.tmp",
            "ac",
            "bc",
            "",
            "é.swp",
        ];
        let mut shortcuts = 0;
        for p in patterns {
            let shape = PatternShape::of(p);
            for n in names {
                let fast = match shape {
                    PatternShape::Literal => p == n,
                    PatternShape::Suffix => n.ends_with(&p[1..]),
                    PatternShape::Glob => continue,
                };
                shortcuts += 1;
                assert_eq!(
                    fast,
                    crate::funcs::helm::glob_match(p, n),
                    "{p} against {n}"
                );
            }
        }
        assert_eq!(shortcuts, 6 * names.len(), "6 patterns take a shortcut");
    }

    #[test]
    fn helmignore_rules_apply_to_files_and_their_directories() {
        let rules = IgnoreRules::parse("# comment\n*.swp\n.git/\nOWNERS\n!keep.swp\ndocs/*.md\n");
        assert!(rules.ignored("a.swp"));
        assert!(rules.ignored("templates/x.swp"));
        assert!(!rules.ignored("keep.swp"));
        assert!(rules.ignored(".git/config"));
        assert!(!rules.ignored(".git"), "dir-only rules skip files");
        assert!(rules.ignored("sub/OWNERS"));
        assert!(rules.ignored("docs/a.md"));
        assert!(!rules.ignored("other/a.md"));
        assert!(rules.ignored("templates/.hidden"));
        assert!(!rules.ignored("templates/deployment.yaml"));
    }
}

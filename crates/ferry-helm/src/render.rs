//! Rendering a chart the way `helm template` does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::chart::Chart;
use crate::error::Error;
use crate::funcs::helm::{ApiVersions, Files, KubeVersion};
use crate::rand::DetRng;
use crate::template::exec::{Exec, Limits, TemplateDef};
use crate::template::parse;
use crate::value::Value;
use crate::values;

pub use crate::template::exec::DEFAULT_NOW;

/// Kubernetes version used when none is given (Helm v4.2's client-only default).
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// Helm's default API versions for a client-only render.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Helm's InstallOrder for kinds (`releaseutil.InstallOrder`); kinds not listed install last.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

pub(crate) const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// What to render and how (the flags of `helm template`).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// Values files (`-f`), YAML or JSON, applied in order.
    pub values_files: Vec<PathBuf>,
    /// Inline values documents (YAML or JSON text), applied after the files.
    pub values_documents: Vec<String>,
    /// `--set` expressions, applied after the files.
    pub set_values: Vec<String>,
    /// `--set-string` expressions, applied after `--set`.
    pub set_string_values: Vec<String>,
    /// `--set-json` expressions (`key=<JSON>`), applied after the values files and before
    /// `--set` (Helm's order).
    pub set_json_values: Vec<String>,
    /// `--set-file` expressions (`key=path`: the file's text becomes the value), applied after
    /// `--set-string`.
    pub set_file_values: Vec<String>,
    /// `--set-literal` expressions (`key=value`, the value taken verbatim), applied last.
    pub set_literal_values: Vec<String>,
    /// `--kube-version` (`1.20.0` or `v1.20.0`); Helm's default when `None`.
    pub kube_version: Option<String>,
    /// `--api-versions`, added to Helm's defaults.
    pub api_versions: Vec<String>,
    /// `--show-only` globs (`templates/x.yaml`).
    pub show_only: Vec<String>,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--no-hooks`: hooks are rendered but not printed.
    pub no_hooks: bool,
    /// Do not validate values against `values.schema.json` (`--skip-schema-validation`).
    pub skip_schema_validation: bool,
    /// `.Release.IsUpgrade` (and not `IsInstall`).
    pub is_upgrade: bool,
    /// The site secret seeding every random function (randAlphaNum, uuidv4, genCA, ...).
    /// The same seed renders identical manifests every run.
    pub seed: Vec<u8>,
    /// Limits on template nesting and output size.
    pub limits: Limits,
    /// How documents are split (Helm changed it between v4.2 and v4.3).
    pub manifest_split: ManifestSplit,
    /// The render clock, Unix seconds: what Sprig's `now` (and so `ago`, `date` of a non-time)
    /// returns, and where generated certificates' validity starts. `None` uses the fixed
    /// [`DEFAULT_NOW`] so renders stay reproducible; set it (e.g. to the release's build time)
    /// when certificates must be valid from a given moment.
    pub now: Option<i64>,
}

/// Helm's rule for splitting a template's output into documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ManifestSplit {
    /// Helm v3.x (the platform runs 3.17) and v4.2 (`(?:^|\s*\n)---\s*`): blank lines at the
    /// end of a document followed by another document in the same file are dropped, so a `|+`
    /// block value at a document's end keeps one line break. What `helm template` prints there.
    #[default]
    Helm42,
    /// Helm v4.3 and current main (`(?m)^---[ \t]*`): such blank lines are kept. Helm's own
    /// goldens use this.
    Current,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            values_files: Vec::new(),
            values_documents: Vec::new(),
            set_values: Vec::new(),
            set_string_values: Vec::new(),
            set_json_values: Vec::new(),
            set_file_values: Vec::new(),
            set_literal_values: Vec::new(),
            kube_version: None,
            api_versions: Vec::new(),
            show_only: Vec::new(),
            include_crds: false,
            skip_tests: false,
            no_hooks: false,
            is_upgrade: false,
            skip_schema_validation: false,
            seed: Vec::new(),
            limits: Limits::default(),
            manifest_split: ManifestSplit::Helm42,
            now: None,
        }
    }
}

/// One rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The template it came from (`chart/templates/x.yaml`).
    pub source: String,
    /// Where the document's text sits in its template's output (see [`Rendered::content`]):
    /// documents are not copied out of the template outputs.
    pub range: std::ops::Range<usize>,
    /// Its `kind`.
    pub kind: String,
    /// Its hook events (`helm.sh/hook`), empty for ordinary manifests.
    pub hook_events: Vec<String>,
}

/// The result of rendering a chart.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Raw output of each template (partials and NOTES.txt excluded), by full template name.
    pub templates: BTreeMap<String, String>,
    /// Ordinary manifests, in Helm's install order.
    pub manifests: Vec<Manifest>,
    /// Hook manifests, in Helm's order.
    pub hooks: Vec<Manifest>,
    /// What the user should know but Helm would not stop for: generated certificates that
    /// are already expired at the real current time (the render clock is in the past).
    pub warnings: Vec<String>,
    output: String,
}

impl Rendered {
    /// Exactly what `helm template` prints.
    pub fn to_helm_output(&self) -> String {
        self.output.clone()
    }

    /// Exactly what `helm template` prints, borrowed.
    pub fn helm_output(&self) -> &str {
        &self.output
    }

    /// The text of one of this render's documents.
    pub fn content(&self, m: &Manifest) -> &str {
        self.templates
            .get(&m.source)
            .and_then(|t| t.get(m.range.clone()))
            .unwrap_or("")
    }
}

/// Renders `chart` with `opts`. Runs on a thread of its own with a large stack, so deep
/// templates cannot overflow; recursion, output size and steps are limited by
/// [`RenderOptions::limits`].
pub fn render(chart: &Chart, opts: &RenderOptions) -> Result<Rendered, Error> {
    on_large_stack(|| render_inner(chart, opts))
}

/// The stack of a render's thread: deep templates recurse deeply (only the pages touched cost
/// memory).
const RENDER_STACK: usize = 512 * 1024 * 1024;

/// Runs `job` on a new thread with a [`RENDER_STACK`] stack and waits for its result.
fn on_large_stack<T: Send>(job: impl FnOnce() -> Result<T, Error> + Send) -> Result<T, Error> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("ferry-helm render".into())
            .stack_size(RENDER_STACK)
            .spawn_scoped(scope, job)
            .map_err(|e| Error::Execution(format!("cannot start a render thread: {e}")))?;
        thread
            .join()
            .unwrap_or_else(|_| Err(Error::Execution("the render thread panicked".into())))
    })
}

fn read_values(opts: &RenderOptions) -> Result<Value, Error> {
    let user = Value::new_map();
    let mut docs: Vec<(String, String)> = Vec::new();
    for f in &opts.values_files {
        let text = std::fs::read_to_string(f).map_err(|e| Error::Io {
            path: f.clone(),
            source: e,
        })?;
        docs.push((f.display().to_string(), text));
    }
    for (i, d) in opts.values_documents.iter().enumerate() {
        docs.push((format!("values document {}", i + 1), d.clone()));
    }
    for (name, text) in docs {
        let v = crate::yaml::parse_yaml(&text)
            .map_err(|e| Error::Values(format!("failed to parse {name}: {e}")))?;
        match v {
            Value::Map(_) => values::merge_maps(&user, &v),
            Value::Nil => {}
            _ => return Err(Error::Values(format!("failed to parse {name}: not a map"))),
        }
    }
    // Helm's order: --set-json, --set, --set-string, --set-file, --set-literal
    for s in &opts.set_json_values {
        let Some((key, json)) = s.split_once('=') else {
            return Err(Error::Values(format!("key {s:?} has no value")));
        };
        let v = crate::yaml::parse_json(json)
            .map_err(|e| Error::Values(format!("failed parsing --set-json data {s}: {e}")))?;
        values::set_value(&user, key, v)?;
    }
    for s in &opts.set_values {
        values::apply_set(&user, s, false)?;
    }
    for s in &opts.set_string_values {
        values::apply_set(&user, s, true)?;
    }
    for s in &opts.set_file_values {
        let Some((key, path)) = s.split_once('=') else {
            return Err(Error::Values(format!("key {s:?} has no value")));
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        values::set_value(&user, key, Value::from(text))?;
    }
    for s in &opts.set_literal_values {
        // the key ends at the first `=`; everything after it is the value, untouched
        let Some((key, literal)) = s.split_once('=') else {
            return Err(Error::Values(format!(
                "failed parsing --set-literal data: key {s:?} has no value"
            )));
        };
        values::set_value(&user, key, Value::from(literal))?;
    }
    Ok(user)
}

fn kube_version(opts: &RenderOptions) -> Result<(String, String, String), Error> {
    let raw = opts
        .kube_version
        .clone()
        .unwrap_or_else(|| DEFAULT_KUBE_VERSION.into());
    let v = crate::semver::Version::parse(&raw)
        .map_err(|_| Error::Values(format!("invalid kube version {raw:?}")))?;
    Ok((
        format!("v{}.{}.{}", v.major, v.minor, v.patch),
        v.major.to_string(),
        v.minor.to_string(),
    ))
}

fn yaml_to_value_capitalized(y: &serde_norway::Value) -> Value {
    let v = crate::yaml::from_yaml_value(y);
    let mut out = BTreeMap::new();
    for (k, d) in [
        ("APIVersion", "apiVersion"),
        ("Annotations", "annotations"),
        ("AppVersion", "appVersion"),
        ("Condition", "condition"),
        ("Dependencies", "dependencies"),
        ("Deprecated", "deprecated"),
        ("Description", "description"),
        ("Home", "home"),
        ("Icon", "icon"),
        ("Keywords", "keywords"),
        ("KubeVersion", "kubeVersion"),
        ("Maintainers", "maintainers"),
        ("Name", "name"),
        ("Sources", "sources"),
        ("Tags", "tags"),
        ("Type", "type"),
        ("Version", "version"),
    ] {
        let x = v.get(d).unwrap_or(Value::Nil);
        let x = match (k, x) {
            ("Deprecated", Value::Nil) => Value::Bool(false),
            ("Annotations", Value::Nil) => Value::new_map(),
            ("Keywords" | "Maintainers" | "Sources" | "Dependencies", Value::Nil) => {
                Value::from(Vec::new())
            }
            (_, Value::Nil) => Value::from(""),
            (_, Value::Float(f)) => Value::from(crate::value::format_float_g(f)),
            (_, x) => x,
        };
        out.insert(k.to_string(), x);
    }
    Value::from(out)
}

struct Renderable {
    name: String,
    chart_index: usize,
}

struct ChartCtx {
    dot: Value,
    base_path: String,
    chart_name: String,
    /// Files its `.Files` could not read (see [`Files::errors`]).
    file_errors: Rc<RefCell<Vec<String>>>,
}

/// Validates each chart's values against its `values.schema.json`, appending Helm's report.
fn validate_schemas(c: &Chart, values: &Value, report: &mut String) -> Result<(), Error> {
    if let Some(schema) = &c.schema {
        let schema = crate::schema::parse(schema);
        let errs = crate::schema::validate(&schema, values).map_err(Error::Values)?;
        if !errs.is_empty() {
            report.push_str(&format!("{}:\n{}\n", c.name(), errs.join("\n")));
        }
    }
    for d in &c.dependencies {
        let sub = values.get(d.name()).unwrap_or_else(Value::new_map);
        validate_schemas(d, &sub, report)?;
    }
    Ok(())
}

/// Sorts `items` stably by `rank`, worked out once per item rather than in every comparison,
/// then by `tie` (given their rank) among items of equal rank.
pub(crate) fn sort_ranked<T, R: Ord>(
    items: &mut Vec<T>,
    rank: impl Fn(&T) -> R,
    tie: impl Fn(&R, &T, &T) -> std::cmp::Ordering,
) {
    let mut keyed: Vec<(R, T)> = items.drain(..).map(|t| (rank(&t), t)).collect();
    keyed.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then_with(|| tie(ra, a, b)));
    items.extend(keyed.into_iter().map(|(_, t)| t));
}

/// Helm's sortTemplates: deeper paths first, then reverse lexicographic.
fn sort_templates<T>(items: &mut Vec<T>, path: impl Fn(&T) -> &str) {
    sort_ranked(
        items,
        |t| std::cmp::Reverse(path(t).matches('/').count()),
        |_, a, b| path(b).cmp(path(a)),
    );
}

#[allow(clippy::too_many_lines)]
fn render_engine(chart: &Chart, opts: &RenderOptions) -> Result<Engine, Error> {
    if chart.is_library() {
        return Err(Error::Library);
    }
    let (kv, major, minor) = kube_version(opts)?;
    if !chart.metadata.kube_version.is_empty()
        && !crate::semver::compare(&chart.metadata.kube_version, &kv).unwrap_or(true)
    {
        return Err(Error::KubeVersion {
            constraint: chart.metadata.kube_version.clone(),
            version: kv,
        });
    }
    let user = read_values(opts)?;
    let memo = values::DefaultsMemo::default();
    let chart = values::process_dependencies(chart, &user, &memo)?;
    let vals = user.deep_copy();
    values::coalesce(&chart, &vals, &memo)?;
    if !opts.skip_schema_validation {
        let mut report = String::new();
        validate_schemas(&chart, &vals, &mut report)?;
        if !report.is_empty() {
            return Err(Error::Schema(report));
        }
    }

    let mut api: Vec<String> = DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect();
    api.extend(opts.api_versions.iter().cloned());
    let mut caps = BTreeMap::new();
    caps.insert(
        "KubeVersion".to_string(),
        Value::Object(Rc::new(KubeVersion {
            version: kv,
            major,
            minor,
        })),
    );
    caps.insert(
        "APIVersions".to_string(),
        Value::Object(Rc::new(ApiVersions { versions: api })),
    );
    let mut hv = BTreeMap::new();
    hv.insert("Version".to_string(), Value::from("v4.2"));
    hv.insert("GitCommit".to_string(), Value::from(""));
    hv.insert("GitTreeState".to_string(), Value::from(""));
    hv.insert("GoVersion".to_string(), Value::from("go1.26.6"));
    hv.insert("KubeClientVersion".to_string(), Value::from("v1.36"));
    caps.insert("HelmVersion".to_string(), Value::from(hv));
    let caps = Value::from(caps);
    let mut rel = BTreeMap::new();
    rel.insert("Name".to_string(), Value::from(opts.release_name.as_str()));
    rel.insert(
        "Namespace".to_string(),
        Value::from(opts.namespace.as_str()),
    );
    rel.insert("IsInstall".to_string(), Value::Bool(!opts.is_upgrade));
    rel.insert("IsUpgrade".to_string(), Value::Bool(opts.is_upgrade));
    rel.insert("Revision".to_string(), Value::Int(1));
    rel.insert("Service".to_string(), Value::from("Helm"));
    let rel = Value::from(rel);

    // collect templates and per-chart contexts
    let mut contexts: Vec<ChartCtx> = Vec::new();
    let mut sources: Vec<(String, Arc<str>, usize)> = Vec::new(); // full name, text, chart index
    #[allow(clippy::too_many_arguments)]
    fn collect(
        c: &Chart,
        parent_path: Option<&str>,
        values: &Value,
        is_root: bool,
        rel: &Value,
        caps: &Value,
        contexts: &mut Vec<ChartCtx>,
        sources: &mut Vec<(String, Arc<str>, usize)>,
    ) -> Value {
        let path = match parent_path {
            Some(p) => format!("{p}/charts/{}", c.name()),
            None => c.name().to_string(),
        };
        let chart_v = yaml_to_value_capitalized(&c.metadata_yaml);
        if let Value::Map(m) = &chart_v {
            m.borrow_mut().insert("Name".into(), Value::from(c.name()));
            m.borrow_mut().insert("IsRoot".into(), Value::Bool(is_root));
        }
        let file_errors = Rc::new(RefCell::new(Vec::new()));
        let files = Files {
            files: c.files.clone(),
            errors: file_errors.clone(),
        };
        let dot = Value::new_map();
        let subcharts = Value::new_map();
        if let Value::Map(m) = &dot {
            let mut m = m.borrow_mut();
            m.insert("Chart".into(), chart_v);
            m.insert("Files".into(), Value::Object(Rc::new(files)));
            m.insert("Release".into(), rel.clone());
            m.insert("Capabilities".into(), caps.clone());
            m.insert("Values".into(), values.clone());
            m.insert("Subcharts".into(), subcharts.clone());
        }
        let idx = contexts.len();
        contexts.push(ChartCtx {
            dot: dot.clone(),
            base_path: format!("{path}/templates"),
            chart_name: c.name().to_string(),
            file_errors,
        });
        for (p, text) in &c.templates {
            let base = p.rsplit('/').next().unwrap_or(p);
            if c.is_library() && !base.starts_with('_') {
                continue;
            }
            sources.push((format!("{path}/{p}"), text.clone(), idx));
        }
        for d in &c.dependencies {
            let sub_vals = match values.get(d.name()) {
                Some(v @ Value::Map(_)) => v,
                _ => Value::new_map(),
            };
            let sub_dot = collect(
                d,
                Some(&path),
                &sub_vals,
                false,
                rel,
                caps,
                contexts,
                sources,
            );
            if let Value::Map(m) = &subcharts {
                m.borrow_mut().insert(d.name().to_string(), sub_dot);
            }
        }
        dot
    }
    collect(
        &chart,
        None,
        &vals,
        true,
        &rel,
        &caps,
        &mut contexts,
        &mut sources,
    );
    sort_templates(&mut sources, |s| &s.0);

    // parse everything into one template set
    let set = crate::template::exec::TemplateMap::default();
    let set = Rc::new(RefCell::new(set));
    let mut renderables = Vec::new();
    for (name, text, idx) in &sources {
        let parsed =
            parse::parse_shared(text, &crate::funcs::is_func).map_err(|e| Error::Parse {
                template: name.clone(),
                line: e.line,
                message: e.message,
            })?;
        let file: Rc<str> = Rc::from(name.as_str());
        let src: Arc<str> = text.clone();
        let mut s = set.borrow_mut();
        for (dname, body) in parsed.defines {
            let empty = body
                .iter()
                .all(|n| matches!(n, parse::Node::Text(t) if t.as_str().trim().is_empty()));
            if empty && s.contains_key(&dname) {
                continue;
            }
            let def = TemplateDef::new(&dname, file.clone(), src.clone(), body);
            s.insert(dname, Rc::new(def));
        }
        s.insert(
            name.clone(),
            Rc::new(TemplateDef::new(name, file, src, parsed.body)),
        );
        renderables.push(Renderable {
            name: name.clone(),
            chart_index: *idx,
        });
    }

    // execute
    let mut exec = Exec::new(set, DetRng::new(&[]), opts.limits, crate::funcs::registry());
    exec.now = opts.now.unwrap_or(DEFAULT_NOW);
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    for r in &renderables {
        let base = r.name.rsplit('/').next().unwrap_or(&r.name);
        if base.starts_with('_') {
            continue;
        }
        let ctx = &contexts[r.chart_index];
        exec.rng = DetRng::lazy(&[
            &opts.seed,
            opts.release_name.as_bytes(),
            ctx.chart_name.as_bytes(),
            r.name.as_bytes(),
        ]);
        if let Value::Map(m) = &ctx.dot {
            let mut t = BTreeMap::new();
            t.insert("Name".to_string(), Value::from(r.name.as_str()));
            t.insert("BasePath".to_string(), Value::from(ctx.base_path.as_str()));
            m.borrow_mut().insert("Template".into(), Value::from(t));
        }
        let out = exec
            .execute(&r.name, ctx.dot.clone())
            .map_err(|e| Error::Execution(cleanup_exec_error(&r.name, &e.message)))?;
        for c in &contexts {
            if let Some(e) = c.file_errors.borrow().first() {
                return Err(Error::Execution(format!("{}: .Files: {e}", r.name)));
            }
        }
        let out = if out.contains("<no value>") {
            out.replace("<no value>", "")
        } else {
            out
        };
        outputs.insert(r.name.clone(), out);
    }
    let warnings = std::mem::take(&mut exec.warnings);
    Ok(Engine {
        chart,
        outputs,
        warnings,
    })
}

struct Engine {
    chart: Chart,
    outputs: BTreeMap<String, String>,
    warnings: Vec<String>,
}

/// Renders every template and returns each one's raw output (what Helm's engine returns, before
/// documents are split and sorted; partials excluded, NOTES.txt included).
pub fn render_templates(
    chart: &Chart,
    opts: &RenderOptions,
) -> Result<BTreeMap<String, String>, Error> {
    on_large_stack(|| render_engine(chart, opts).map(|e| e.outputs))
}

fn render_inner(chart: &Chart, opts: &RenderOptions) -> Result<Rendered, Error> {
    let Engine {
        chart,
        mut outputs,
        warnings,
    } = render_engine(chart, opts)?;
    outputs.retain(|k, _| !k.ends_with("NOTES.txt"));
    let (hooks, manifests) = crate::manifests::sort_manifests(&outputs, opts.manifest_split)?;
    let text = |m: &Manifest| -> &str {
        outputs
            .get(&m.source)
            .and_then(|t| t.get(m.range.clone()))
            .unwrap_or("")
    };
    let mut b = String::new();
    if opts.include_crds {
        fn crds(c: &Chart, parent: Option<&str>, b: &mut String) -> Result<(), Error> {
            let path = match parent {
                Some(p) => format!("{p}/charts/{}", c.name()),
                None => c.name().to_string(),
            };
            for (p, content) in &c.files {
                if p.starts_with("crds/")
                    && (p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json"))
                {
                    let data = content.bytes().map_err(Error::Chart)?;
                    b.push_str(&format!(
                        "---\n# Source: {path}/{p}\n{}\n",
                        String::from_utf8_lossy(&data)
                    ));
                }
            }
            for d in &c.dependencies {
                crds(d, Some(&path), b)?;
            }
            Ok(())
        }
        crds(&chart, None, &mut b)?;
    }
    let total: usize = manifests
        .iter()
        .chain(hooks.iter())
        .map(|m| m.range.len() + m.source.len() + 16)
        .sum();
    b.reserve(total);
    for m in &manifests {
        crate::manifests::push_doc(&mut b, &m.source, text(m));
    }
    // TrimSpace, in place
    let end = b.trim_end_matches(crate::manifests::is_go_space).len();
    b.truncate(end);
    let start = b.len() - b.trim_start_matches(crate::manifests::is_go_space).len();
    if start > 0 {
        b.drain(..start);
    }
    let mut out = b;
    out.push('\n');
    for h in hooks.iter().filter(|_| !opts.no_hooks) {
        if opts.skip_tests
            && h.hook_events
                .iter()
                .any(|e| e == "test" || e == "test-success")
        {
            continue;
        }
        crate::manifests::push_doc(&mut out, &h.source, text(h));
    }
    if !opts.show_only.is_empty() {
        out = crate::manifests::show_only(&out, &opts.show_only, opts.manifest_split)?;
    }
    Ok(Rendered {
        templates: outputs,
        manifests,
        hooks,
        warnings,
        output: out,
    })
}

/// Helm's cleanupExecError: `execution error at (file:line:col): message` for required/fail.
fn cleanup_exec_error(template: &str, msg: &str) -> String {
    let tokens: Vec<&str> = msg.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({template}): {msg}");
    }
    let location = tokens[1];
    if let Some(start) = tokens[2].find("HELM[") {
        let rest = &tokens[2][start + 5..];
        if let Some(end) = rest.rfind("]HELM") {
            return format!("execution error at ({location}): {}", &rest[..end]);
        }
    }
    trace_exec_error(msg)
}

/// Helm v4's multi-line trace of a template error: for each level
/// `LOCATION\n  executing "NAME" at <NODE>:\n`, then `    MESSAGE`.
fn trace_exec_error(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(after) = rest.strip_prefix("template: ") {
        let Some((loc, tail)) = after.split_once(": ") else {
            break;
        };
        let Some(tail) = tail.strip_prefix("executing ") else {
            break;
        };
        let Some(at) = tail.find(" at <") else { break };
        let Some(close) = tail[at..].find(">: ") else {
            break;
        };
        let close = at + close;
        out.push_str(&format!("{loc}\n  executing {}:\n", &tail[..=close]));
        rest = &tail[close + 3..];
        if let Some(called) = rest.strip_prefix("error calling ") {
            if let Some((_, inner)) = called.split_once(": ") {
                rest = inner;
            }
        }
    }
    if out.is_empty() {
        return msg.to_string();
    }
    out.push_str("    ");
    out.push_str(rest);
    out
}

/// Renders a standalone template string with no data (Helm's `--name-template`).
pub fn render_template_string(text: &str) -> Result<String, Error> {
    let parsed = parse::parse(text, &crate::funcs::is_func).map_err(|e| Error::Parse {
        template: "name-template".into(),
        line: e.line,
        message: e.message,
    })?;
    let file: Rc<str> = Rc::from("name-template");
    let src: Arc<str> = Arc::from(text);
    let mut set = crate::template::exec::TemplateMap::default();
    let def = TemplateDef::new("name-template", file, src, parsed.body);
    set.insert("name-template".to_string(), Rc::new(def));
    let mut exec = Exec::new(
        Rc::new(RefCell::new(set)),
        DetRng::new(&[]),
        Limits::default(),
        crate::funcs::registry(),
    );
    exec.execute("name-template", Value::Nil)
        .map_err(|e| Error::Execution(e.message))
}

//! Rendering a whole bundle: every chart release a bundle installs, with its
//! component's values, site variables and the site seed, images pointed
//! through the image map. `ferry render` writes what this returns;
//! `ferry deploy` applies it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use ferry_helm::{Chart, RenderOptions};

use super::RenderError;
use crate::bundle::{BundleComponent, BundleSpec, OpenBundle};
use crate::image_map::ImageMap;
use crate::lock::{Lock, LockedChart};
use crate::spec::{ChartStep, DeployAction};

/// The largest chart archive read from a bundle.
const MAX_CHART_ARCHIVE: u64 = 256 << 20;

/// Settings shared by every render of one run.
#[derive(Clone, Debug, Default)]
pub struct RenderSettings {
    /// The site seed every random function draws from.
    pub seed: Vec<u8>,
    /// The render clock (Unix seconds); `None` keeps the engine's fixed clock.
    pub now: Option<i64>,
    /// Site variables for `{NAME}` placeholders in values.
    pub vars: BTreeMap<String, String>,
    /// Per-component values given at deploy time (`--values`), over the bundle's.
    pub overrides: serde_json::Value,
    /// Refuse placeholders that no variable resolves (deploy); otherwise leave them as text.
    pub require_vars: bool,
    /// Whether every release is rendered as an upgrade (`.Release.IsUpgrade`).
    pub is_upgrade: bool,
    /// Releases (namespace, name) the cluster already holds: rendered as upgrades, as
    /// `helm upgrade` renders them, while the rest render as installs.
    pub upgrades: BTreeSet<(String, String)>,
    /// Render the charts' `crds/` too (deploy installs them; `helm template` leaves them out).
    pub include_crds: bool,
}

/// One chart release a bundle installs: a `deploy:` chart step, or for a
/// component without steps each of its charts under the component's name.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleasePlan {
    /// The component.
    pub component: String,
    /// Chart name.
    pub chart: String,
    /// Chart version (from the lock).
    pub version: String,
    /// Release name.
    pub release: String,
    /// Release namespace.
    pub namespace: String,
    /// The values the release is given (step defaults under the component's values).
    pub values: serde_json::Value,
}

/// A rendered release.
#[derive(Clone, Debug)]
pub struct RenderedRelease {
    /// What was rendered.
    pub plan: ReleasePlan,
    /// The engine's result (manifests and hooks in Helm's order).
    pub rendered: ferry_helm::Rendered,
    /// `Chart.yaml` as JSON (for Helm's release record).
    pub chart_metadata: serde_json::Value,
    /// The chart's default values (for Helm's release record).
    pub chart_values: serde_json::Value,
    /// `helm template` output with images rewritten through the image map.
    pub text: String,
    /// Images rewritten.
    pub rewrites: Vec<super::Rewrite>,
    /// Images the map does not know.
    pub unmapped: Vec<String>,
}

/// The releases of a component: its chart steps, or its charts when it has none.
pub fn component_releases(
    component: &BundleComponent,
    lock: &Lock,
    settings: &RenderSettings,
) -> Result<Vec<ReleasePlan>, RenderError> {
    let base = component_values(component, settings)?;
    let charts: Vec<&LockedChart> = lock
        .charts
        .iter()
        .filter(|c| c.component == component.name)
        .collect();
    let steps: Vec<&ChartStep> = component
        .deploy
        .iter()
        .filter_map(|s| match &s.action {
            DeployAction::Chart(step) => Some(step),
            _ => None,
        })
        .collect();
    if component.deploy.is_empty() {
        return Ok(charts
            .iter()
            .map(|c| ReleasePlan {
                component: component.name.clone(),
                chart: c.name.clone(),
                version: c.version.clone(),
                release: component.name.clone(),
                namespace: component.namespace_or_default().to_owned(),
                values: base.clone(),
            })
            .collect());
    }
    steps
        .into_iter()
        .map(|step| release_of_step(component, step, &charts, &base, settings))
        .collect()
}

/// The release plan of one chart step.
pub fn release_of_step(
    component: &BundleComponent,
    step: &ChartStep,
    charts: &[&LockedChart],
    base: &serde_json::Value,
    settings: &RenderSettings,
) -> Result<ReleasePlan, RenderError> {
    let chart = charts
        .iter()
        .find(|c| c.name == step.chart)
        .ok_or_else(|| RenderError::NoSuchChart {
            component: component.name.clone(),
            chart: step.chart.clone(),
            carried: charts.iter().map(|c| c.name.clone()).collect(),
        })?;
    let mut ours = match &step.values_key {
        Some(key) => base.get(key).cloned().unwrap_or(serde_json::Value::Null),
        None => base.clone(),
    };
    let mut values = step.values.clone();
    resolve_placeholders(
        &mut values,
        &settings.vars,
        settings.require_vars,
        &format!("{} deploy step {}", component.name, step.release),
    )?;
    merge(&mut values, std::mem::take(&mut ours));
    Ok(ReleasePlan {
        component: component.name.clone(),
        chart: chart.name.clone(),
        version: chart.version.clone(),
        release: step.release.clone(),
        namespace: step.namespace.clone(),
        values,
    })
}

/// A component's bundle values with the deploy-time overrides over them and
/// placeholders resolved.
pub fn component_values(
    component: &BundleComponent,
    settings: &RenderSettings,
) -> Result<serde_json::Value, RenderError> {
    let mut values = component.values.clone();
    if let Some(over) = settings.overrides.get(&component.name) {
        merge(&mut values, over.clone());
    }
    resolve_placeholders(
        &mut values,
        &settings.vars,
        settings.require_vars,
        &format!("component {} values", component.name),
    )?;
    Ok(values)
}

/// Renders one release from the bundle.
pub fn render_release(
    bundle: &OpenBundle,
    lock: &Lock,
    plan: &ReleasePlan,
    map: Option<&ImageMap>,
    settings: &RenderSettings,
) -> Result<RenderedRelease, RenderError> {
    let locked = lock
        .charts
        .iter()
        .find(|c| c.component == plan.component && c.name == plan.chart)
        .ok_or_else(|| RenderError::NoSuchChart {
            component: plan.component.clone(),
            chart: plan.chart.clone(),
            carried: lock
                .charts
                .iter()
                .filter(|c| c.component == plan.component)
                .map(|c| c.name.clone())
                .collect(),
        })?;
    let helm = |source| RenderError::Helm {
        name: locked.name.clone(),
        version: locked.version.clone(),
        source,
    };
    let mut archive = Vec::new();
    bundle
        .blob_reader(&locked.sha256, None)
        .map_err(|e| RenderError::Bundle(e.to_string()))?
        .take(MAX_CHART_ARCHIVE)
        .read_to_end(&mut archive)
        .map_err(|e| {
            RenderError::Bundle(format!(
                "cannot read chart {} from the bundle: {e}",
                locked.name
            ))
        })?;
    let chart = Chart::from_archive(&archive, &format!("{}-{}.tgz", locked.name, locked.version))
        .map_err(helm)?;
    let mut options = RenderOptions {
        release_name: plan.release.clone(),
        namespace: plan.namespace.clone(),
        seed: settings.seed.clone(),
        now: settings.now,
        include_crds: settings.include_crds,
        is_upgrade: settings.is_upgrade
            || settings
                .upgrades
                .contains(&(plan.namespace.clone(), plan.release.clone())),
        ..RenderOptions::default()
    };
    if !plan.values.is_null() {
        options.values_documents.push(plan.values.to_string());
    }
    let rendered = ferry_helm::render(&chart, &options).map_err(helm)?;
    let (text, rewrites, unmapped) = match map {
        Some(map) => super::rewrite_images(rendered.helm_output(), map),
        None => (rendered.to_helm_output(), Vec::new(), Vec::new()),
    };
    Ok(RenderedRelease {
        plan: plan.clone(),
        chart_metadata: serde_json::to_value(&chart.metadata_yaml).unwrap_or_default(),
        chart_values: chart
            .values_yaml
            .as_deref()
            .and_then(|text| serde_norway::from_str(text).ok())
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        rendered,
        text,
        rewrites,
        unmapped,
    })
}

/// Every release of the bundle, rendered, components in dependency order.
pub fn render_bundle(
    bundle: &OpenBundle,
    lock: &Lock,
    spec: &BundleSpec,
    map: Option<&ImageMap>,
    settings: &RenderSettings,
) -> Result<Vec<RenderedRelease>, RenderError> {
    let mut out = Vec::new();
    for component in &spec.components {
        for plan in component_releases(component, lock, settings)? {
            out.push(render_release(bundle, lock, &plan, map, settings)?);
        }
    }
    // Charts of components the spec does not list (an older bundle) still render.
    let listed: BTreeSet<&str> = spec.components.iter().map(|c| c.name.as_str()).collect();
    for chart in lock
        .charts
        .iter()
        .filter(|c| !listed.contains(c.component.as_str()))
    {
        let plan = ReleasePlan {
            component: chart.component.clone(),
            chart: chart.name.clone(),
            version: chart.version.clone(),
            release: chart.component.clone(),
            namespace: "default".to_owned(),
            values: serde_json::Value::Null,
        };
        out.push(render_release(bundle, lock, &plan, map, settings)?);
    }
    Ok(out)
}

/// Deep-merges `overlay` into `base`: maps merge key by key, anything else is replaced.
pub fn merge(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(base), serde_json::Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (_, serde_json::Value::Null) => {}
        (slot, value) => *slot = value,
    }
}

/// Replaces `{NAME}` placeholders (upper case, digits, `_`) in every string of
/// `value` with the site variable of that name. Unknown names are refused
/// when `require` is set, naming where they are; otherwise kept as text.
pub fn resolve_placeholders(
    value: &mut serde_json::Value,
    vars: &BTreeMap<String, String>,
    require: bool,
    context: &str,
) -> Result<(), RenderError> {
    let mut missing = Vec::new();
    walk_strings(value, &mut String::new(), &mut |path, text| {
        let (resolved, unknown) = substitute(text, vars);
        for name in unknown {
            missing.push(format!("{{{name}}} at {path}"));
        }
        resolved
    });
    if require && !missing.is_empty() {
        return Err(RenderError::UnresolvedVariables {
            context: context.to_owned(),
            missing,
        });
    }
    Ok(())
}

fn walk_strings(
    value: &mut serde_json::Value,
    path: &mut String,
    f: &mut dyn FnMut(&str, &str) -> Option<String>,
) {
    match value {
        serde_json::Value::String(text) => {
            if let Some(new) = f(if path.is_empty() { "." } else { path }, text) {
                *text = new;
            }
        }
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                walk_strings(child, path, f);
                path.truncate(len);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, child) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                walk_strings(child, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The text with known placeholders replaced (`None` when nothing changed) and the unknown names.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> (Option<String>, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut unknown = Vec::new();
    let mut changed = false;
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        let is_placeholder = name_len > 0
            && after.as_bytes().get(name_len) == Some(&b'}')
            && after.as_bytes()[0].is_ascii_uppercase();
        if is_placeholder {
            let name = &after[..name_len];
            match vars.get(name) {
                Some(value) => {
                    out.push_str(value);
                    changed = true;
                }
                None => {
                    unknown.push(name.to_owned());
                    out.push_str(&rest[open..open + name_len + 2]);
                }
            }
            rest = &after[name_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    (changed.then_some(out), unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_resolve_or_are_named() {
        let vars = BTreeMap::from([("DOMAIN".to_owned(), "k-paas.io".to_owned())]);
        let mut value = serde_json::json!({
            "host": "portal.{DOMAIN}",
            "list": ["{PASSWORD}", "{not_a_var}", "{}"],
        });
        let err = resolve_placeholders(&mut value, &vars, true, "portal values")
            .unwrap_err()
            .to_string();
        assert!(err.contains("portal values"), "{err}");
        assert!(err.contains("{PASSWORD} at .list[0]"), "{err}");
        assert_eq!(value["host"], "portal.k-paas.io");
        assert_eq!(value["list"][1], "{not_a_var}");
        let mut value = serde_json::json!({"a": "{PASSWORD}"});
        resolve_placeholders(&mut value, &vars, false, "x").unwrap();
        assert_eq!(value["a"], "{PASSWORD}");
    }

    #[test]
    fn merge_keeps_maps_and_replaces_the_rest() {
        let mut base = serde_json::json!({"a": {"b": 1, "c": [1]}, "d": 1});
        merge(
            &mut base,
            serde_json::json!({"a": {"c": [2], "e": 3}, "d": null}),
        );
        assert_eq!(
            base,
            serde_json::json!({"a": {"b": 1, "c": [2], "e": 3}, "d": 1})
        );
    }
}

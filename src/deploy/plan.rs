//! The deploy plan: what a bundle installs, step by step, object by object,
//! worked out from the bundle alone (no cluster).

use std::collections::BTreeSet;
use std::io::Read as _;

use serde::Serialize;

use super::images::{self, Unmapped};
use super::objects::{self, install_order, Object};
use super::DeployError;
use crate::bundle::{BundleComponent, BundleSpec, OpenBundle};
use crate::image_map::ImageMap;
use crate::lock::Lock;
use crate::render::{self, RenderSettings, RenderedRelease};
use crate::spec::{DeployAction, WaitTarget};

/// The largest manifest file read from a bundle (after decompression).
const MAX_MANIFEST_FILE: u64 = 256 << 20;

/// What a bundle installs.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Bundle name.
    pub bundle: String,
    /// Bundle version.
    pub version: Option<String>,
    /// Components with deploy steps, in dependency order.
    pub components: Vec<ComponentPlan>,
    /// Components the cluster does not install (no `deploy:` section).
    pub not_deployed: Vec<String>,
    /// Images that objects run and the image map cannot point anywhere.
    pub unmapped: Vec<Unmapped>,
}

/// One component's steps.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentPlan {
    /// Component name.
    pub name: String,
    /// Component version.
    pub version: String,
    /// Steps, in order.
    pub steps: Vec<StepPlan>,
}

/// One step.
#[derive(Clone, Debug, Serialize)]
pub struct StepPlan {
    /// `chart harbor (release harbor in harbor)`, `manifests a.yaml`, `wait`.
    pub label: String,
    /// The chart release, for a chart step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// Objects, in install order (hooks apart).
    pub objects: Vec<Object>,
    /// Helm hooks, in Helm's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Object>,
    /// Whether to wait for readiness.
    pub wait: bool,
    /// Readiness timeout, seconds.
    pub timeout_seconds: u64,
    /// Explicit wait targets (wait steps).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<WaitTarget>,
}

/// A chart release as deploy records it.
#[derive(Clone, Debug, Serialize)]
pub struct Release {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Chart name.
    pub chart: String,
    /// Chart version.
    pub version: String,
    /// `Chart.yaml` as JSON.
    #[serde(skip)]
    pub chart_metadata: serde_json::Value,
    /// The chart's default values.
    #[serde(skip)]
    pub chart_values: serde_json::Value,
    /// The values given.
    #[serde(skip)]
    pub values: serde_json::Value,
    /// The manifest as Helm records it (every non-hook document).
    #[serde(skip)]
    pub manifest: String,
}

/// Works out the plan of `bundle`.
pub fn plan(
    bundle: &OpenBundle,
    lock: &Lock,
    spec: &BundleSpec,
    map: Option<&ImageMap>,
    settings: &RenderSettings,
) -> Result<Plan, DeployError> {
    // Without a push, images are pinned by digest at their original references
    // (served by a registry mirror), and --strict still refuses images the bundle lacks.
    let carried;
    let map = match map {
        Some(map) => map,
        None => {
            carried = carried_images(lock);
            &carried
        }
    };
    let mut out = Plan {
        bundle: spec.name.clone(),
        version: spec.version.clone(),
        components: Vec::new(),
        not_deployed: Vec::new(),
        unmapped: Vec::new(),
    };
    for component in &spec.components {
        if component.deploy.is_empty() {
            out.not_deployed.push(component.name.clone());
            continue;
        }
        let mut steps = Vec::new();
        let charts: Vec<&crate::lock::LockedChart> = lock
            .charts
            .iter()
            .filter(|c| c.component == component.name)
            .collect();
        let base = render::component_values(component, settings)?;
        for (index, step) in component.deploy.iter().enumerate() {
            let context = |e: DeployError| DeployError::Step {
                component: component.name.clone(),
                step: step_label(component, index),
                cause: Box::new(e),
            };
            let plan = match &step.action {
                DeployAction::Chart(chart) => {
                    let release =
                        render::release_of_step(component, chart, &charts, &base, settings)
                            .map_err(|e| context(e.into()))?;
                    // Images are pointed through the map per document below, not in the whole output.
                    let rendered = render::render_release(bundle, lock, &release, None, settings)
                        .map_err(|e| context(e.into()))?;
                    chart_step(rendered, chart.wait, chart.timeout_seconds, map).map_err(context)?
                }
                DeployAction::Manifests(files) => {
                    let mut objects = Vec::new();
                    for name in &files.files {
                        let text = read_file(bundle, lock, component, name).map_err(context)?;
                        objects.extend(objects::parse_documents(&text, name).map_err(context)?);
                    }
                    let namespace = files
                        .namespace
                        .clone()
                        .unwrap_or_else(|| component.namespace_or_default().to_owned());
                    for object in &mut objects {
                        object.default_namespace(&namespace);
                    }
                    install_order(&mut objects);
                    StepPlan {
                        label: format!("manifests {}", files.files.join(", ")),
                        release: None,
                        objects,
                        hooks: Vec::new(),
                        wait: files.wait,
                        timeout_seconds: files.timeout_seconds,
                        targets: Vec::new(),
                    }
                }
                DeployAction::Wait(wait) => StepPlan {
                    label: format!("wait {}", wait.targets.len()),
                    release: None,
                    objects: Vec::new(),
                    hooks: Vec::new(),
                    wait: true,
                    timeout_seconds: wait.timeout_seconds,
                    targets: wait.targets.clone(),
                },
            };
            steps.push(plan);
        }
        for step in &mut steps {
            for object in step.objects.iter_mut().chain(step.hooks.iter_mut()) {
                let unmapped = images::rewrite_object(object, map);
                out.unmapped.extend(unmapped.into_iter().map(|u| Unmapped {
                    component: component.name.clone(),
                    ..u
                }));
            }
            // Marked after the rewrite: the hash covers the images as applied.
            let release = step
                .release
                .as_ref()
                .map(|r| (r.name.clone(), r.namespace.clone()));
            for object in step.objects.iter_mut().chain(step.hooks.iter_mut()) {
                object.mark(
                    &component.name,
                    release.as_ref().map(|(n, ns)| (n.as_str(), ns.as_str())),
                );
            }
        }
        out.components.push(ComponentPlan {
            name: component.name.clone(),
            version: component.version.clone(),
            steps,
        });
    }
    Ok(out)
}

/// The bundle's images as an image map onto themselves (pinned by digest).
fn carried_images(lock: &Lock) -> ImageMap {
    ImageMap::new(
        lock.images
            .iter()
            .map(|i| crate::image_map::MapEntry {
                original: i.reference.clone(),
                target: i.reference.clone(),
                digest: i.digest.clone(),
                kind: crate::image_map::ArtifactKind::Image,
            })
            .collect(),
    )
}

/// A step's display name: its own, else what it does.
pub fn step_label(component: &BundleComponent, index: usize) -> String {
    let Some(step) = component.deploy.get(index) else {
        return format!("step {}", index + 1);
    };
    if let Some(name) = &step.name {
        return name.clone();
    }
    match &step.action {
        DeployAction::Chart(chart) => format!("chart {} (release {})", chart.chart, chart.release),
        DeployAction::Manifests(files) => format!("manifests {}", files.files.join(", ")),
        DeployAction::Wait(_) => format!("wait (step {})", index + 1),
    }
}

fn chart_step(
    rendered: RenderedRelease,
    wait: bool,
    timeout_seconds: u64,
    map: &ImageMap,
) -> Result<StepPlan, DeployError> {
    let plan = &rendered.plan;
    let mut objects = Vec::new();
    let mut manifest = String::new();
    for m in &rendered.rendered.manifests {
        let content = rendered.rendered.content(m);
        let text = render::rewrite_images(content, map).0;
        if !text.trim().is_empty() && !m.source.contains("/crds/") {
            manifest.push_str(&format!(
                "---\n# Source: {}\n{}\n",
                m.source,
                text.trim_end()
            ));
        }
        objects.extend(objects::parse_documents(content, &m.source)?);
    }
    let mut hooks = Vec::new();
    for m in &rendered.rendered.hooks {
        hooks.extend(objects::parse_documents(
            rendered.rendered.content(m),
            &m.source,
        )?);
    }
    for object in objects.iter_mut().chain(hooks.iter_mut()) {
        object.default_namespace(&plan.namespace);
    }
    install_order(&mut objects);
    hooks.sort_by_key(|h| h.hook.as_ref().map_or(0, |h| h.weight));
    Ok(StepPlan {
        label: format!(
            "chart {} {} (release {} in {})",
            plan.chart, plan.version, plan.release, plan.namespace
        ),
        release: Some(Release {
            name: plan.release.clone(),
            namespace: plan.namespace.clone(),
            chart: plan.chart.clone(),
            version: plan.version.clone(),
            chart_metadata: rendered.chart_metadata.clone(),
            chart_values: rendered.chart_values.clone(),
            values: plan.values.clone(),
            manifest,
        }),
        objects,
        hooks,
        wait,
        timeout_seconds,
        targets: Vec::new(),
    })
}

/// A manifest file of a component, read from the bundle (gunzipped when `.gz`).
fn read_file(
    bundle: &OpenBundle,
    lock: &Lock,
    component: &BundleComponent,
    name: &str,
) -> Result<String, DeployError> {
    let file = lock
        .files
        .iter()
        .find(|f| f.component == component.name && f.name == name)
        .ok_or_else(|| DeployError::Manifest {
            origin: name.to_owned(),
            detail: format!(
                "component {} carries no file `{name}` (it carries: {})",
                component.name,
                lock.files
                    .iter()
                    .filter(|f| f.component == component.name)
                    .map(|f| f.name.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    let reader = bundle
        .blob_reader(&file.sha256, None)
        .map_err(|e| DeployError::Bundle(e.to_string()))?;
    let mut text = String::new();
    let read = if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(reader)
            .take(MAX_MANIFEST_FILE)
            .read_to_string(&mut text)
    } else {
        reader.take(MAX_MANIFEST_FILE).read_to_string(&mut text)
    };
    read.map_err(|e| DeployError::Manifest {
        origin: name.to_owned(),
        detail: format!("cannot read it from the bundle: {e}"),
    })?;
    Ok(text)
}

impl Plan {
    /// Every object of the plan with its component and step label.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &str, &Object)> {
        self.components.iter().flat_map(|c| {
            c.steps.iter().flat_map(move |s| {
                s.objects
                    .iter()
                    .chain(s.hooks.iter())
                    .map(move |o| (c.name.as_str(), s.label.as_str(), o))
            })
        })
    }
}

//! A plan written out as files: each step's objects as multi-document YAML,
//! numbered in the order deploy applies them, so an operator can read exactly
//! what would be applied, hand it to another tool (`kubectl apply`, a GitOps
//! repository), or compare tools on the same work (`bench/deploy.sh`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::objects::Object;
use super::plan::Plan;
use super::DeployError;

/// One written file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportedFile {
    /// The file.
    pub path: PathBuf,
    /// The component.
    pub component: String,
    /// The step's label.
    pub step: String,
    /// Objects in it.
    pub objects: usize,
    /// Whether it holds the step's CustomResourceDefinitions (applied and established before
    /// the rest of the step).
    pub crds: bool,
}

/// Writes every step of `plan` into `dir` (created): `NNN-<component>-crds.yaml` with a
/// step's CRDs, then `NNN-<component>.yaml` with its hooks (pre, then objects, then post, as
/// plain objects) and objects in install order. Wait steps write nothing.
pub fn write_plan(plan: &Plan, dir: &Path) -> Result<Vec<ExportedFile>, DeployError> {
    let io = |path: &Path, e: std::io::Error| DeployError::Io {
        what: format!("cannot write {}", path.display()),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut out = Vec::new();
    let mut index = 0;
    for component in &plan.components {
        for step in &component.steps {
            let is_crd = |o: &&Object| o.id.kind == "CustomResourceDefinition";
            let crds: Vec<&Object> = step.objects.iter().filter(is_crd).collect();
            let pre = step.hooks.iter().filter(|h| has_event(h, "pre-"));
            let post = step.hooks.iter().filter(|h| has_event(h, "post-"));
            let rest: Vec<&Object> = pre
                .chain(step.objects.iter().filter(|o| !is_crd(o)))
                .chain(post)
                .collect();
            for (objects, crds) in [(crds, true), (rest, false)] {
                if objects.is_empty() {
                    continue;
                }
                index += 1;
                let suffix = if crds { "-crds" } else { "" };
                let path = dir.join(format!("{index:03}-{}{suffix}.yaml", component.name));
                let mut file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
                for object in &objects {
                    let text = serde_norway::to_string(&object.body).map_err(|e| {
                        DeployError::Manifest {
                            origin: object.source.clone(),
                            detail: format!("{}: cannot write it as YAML: {e}", object.id),
                        }
                    })?;
                    write!(file, "---\n{text}").map_err(|e| io(&path, e))?;
                }
                file.sync_all().map_err(|e| io(&path, e))?;
                out.push(ExportedFile {
                    path,
                    component: component.name.clone(),
                    step: step.label.clone(),
                    objects: objects.len(),
                    crds,
                });
            }
        }
    }
    Ok(out)
}

fn has_event(hook: &Object, prefix: &str) -> bool {
    hook.hook
        .as_ref()
        .is_some_and(|h| h.events.iter().any(|e| e.starts_with(prefix)))
}

//! Running a plan against a cluster: lock, record, apply component by
//! component, wait, record releases, prune; and `status` and `rollback` on
//! what was recorded.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::apply::{self, Applied};
use super::cluster::{Cluster, KubeconfigSource};
use super::helm;
use super::lease::{self, unix_now};
use super::objects::{Identity, Object, ObjectId};
use super::plan::{ComponentPlan, Plan, StepPlan};
use super::record::{self, ComponentRecord, DeploymentRecord, RevisionData};
use super::wait::{self, Readiness};
use super::DeployError;
use crate::clock::format_rfc3339;
use crate::progress::Progress;

/// Kinds a prune keeps unless asked (they hold data or other components' objects).
const PROTECTED: &[&str] = &[
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "Namespace",
];

/// Deploy settings.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Where the kubeconfig comes from.
    pub kubeconfig: KubeconfigSource,
    /// Refuse objects that run images the bundle does not carry.
    pub strict: bool,
    /// Prune PVCs, CRDs and Namespaces too.
    pub prune_protected: bool,
    /// The bundle root digest (recorded).
    pub root: String,
    /// The lock's spec fingerprint (recorded).
    pub lock_fingerprint: String,
    /// The render clock, Unix seconds (recorded).
    pub render_clock: i64,
    /// SHA-256 of the site seed (recorded).
    pub seed_fingerprint: String,
    /// Set (by Ctrl-C) to stop at the next object.
    pub cancel: Arc<AtomicBool>,
    /// Components left as they are (not applied, not pruned).
    pub skip: Vec<String>,
    /// Who runs this deploy, recorded (the in-cluster unpacker names its Job).
    pub ran_by: Option<String>,
}

/// What a deploy did, per component.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeployReport {
    /// The API server.
    pub server: String,
    /// Per component.
    pub components: Vec<ComponentReport>,
}

/// One component's outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComponentReport {
    /// Name.
    pub name: String,
    /// Revision after the deploy.
    pub revision: i64,
    /// Objects written.
    pub written: usize,
    /// Objects already as wanted.
    pub unchanged: usize,
    /// Hooks run.
    pub hooks: usize,
    /// Objects deleted because the component no longer renders them.
    pub pruned: Vec<String>,
}

/// Applies `plan` to the cluster.
pub async fn deploy(
    plan: &Plan,
    options: &DeployOptions,
    progress: &dyn Progress,
) -> Result<DeployReport, DeployError> {
    let unmapped: Vec<_> = plan
        .unmapped
        .iter()
        .filter(|u| !options.skip.contains(&u.component))
        .cloned()
        .collect();
    if options.strict && !unmapped.is_empty() {
        return Err(DeployError::Unmapped(unmapped));
    }
    let cluster = Arc::new(Cluster::connect(&options.kubeconfig).await?);
    with_lease(&cluster, || {
        deploy_locked(&cluster, plan, options, progress)
    })
    .await
}

/// Runs `work` holding the cluster's deploy lease, renewed in the background.
async fn with_lease<'a, T, F, Fut>(cluster: &'a Arc<Cluster>, work: F) -> Result<T, DeployError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, DeployError>> + 'a,
{
    record::ensure_namespace(cluster).await?;
    let holder = lease::identity();
    lease::acquire(cluster, &holder).await?;
    let renewer = {
        let cluster = Arc::clone(cluster);
        let holder = holder.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease::RENEW_EVERY).await;
                // A failed renewal is retried; the lease lasts four renewals.
                let _ = lease::renew(&cluster, &holder).await;
            }
        })
    };
    let result = work().await;
    renewer.abort();
    let released = lease::release(cluster).await;
    let value = result?;
    released?;
    Ok(value)
}

fn now_text() -> String {
    lease::micro_time(std::time::SystemTime::now())
}

async fn deploy_locked(
    cluster: &Cluster,
    plan: &Plan,
    options: &DeployOptions,
    progress: &dyn Progress,
) -> Result<DeployReport, DeployError> {
    let mut record = record::read(cluster).await?.unwrap_or_default();
    record.bundle = plan.bundle.clone();
    record.version = plan.version.clone();
    record.root = options.root.clone();
    record.lock_fingerprint = options.lock_fingerprint.clone();
    record.render_clock = format_rfc3339(options.render_clock);
    record.seed_fingerprint = options.seed_fingerprint.clone();
    record.ran_by = options.ran_by.clone();
    record.status = "deploying".to_owned();
    record.started = now_text();
    record.finished = None;
    record.stopped_at = None;
    record::write(cluster, &record).await?;
    let mut report = DeployReport {
        server: cluster.server().to_owned(),
        components: Vec::new(),
    };
    let mut run = RunState {
        namespaces: NamespaceCache::default(),
        claimed: claimed(plan),
    };
    for component in plan
        .components
        .iter()
        .filter(|c| !options.skip.contains(&c.name))
    {
        progress.stage(&component.name, component.steps.len() as u64, 0);
        // Recorded before anything is applied: whatever a kill leaves behind is in the inventory
        // (the previous objects and everything this run may apply), so a later run prunes it.
        let prior = record.component(&component.name).cloned();
        let previous = prior.clone().unwrap_or_default();
        let mut inventory = previous.objects.clone();
        for (_, _, object) in plan
            .objects()
            .filter(|(c, _, o)| *c == component.name && o.hook.is_none())
        {
            if !inventory.contains(&object.id) {
                inventory.push(object.id.clone());
            }
        }
        let pending = ComponentRecord {
            name: component.name.clone(),
            version: component.version.clone(),
            status: "pending".to_owned(),
            objects: inventory.clone(),
            ..previous.clone()
        };
        // A deployed component whose inventory this run cannot grow needs no pending entry: a
        // kill leaves nothing the record does not name, and the record's own status says the
        // run did not finish.
        let settled = prior.as_ref().is_some_and(|p| {
            p.status == "deployed" && p.version == component.version && p.objects == inventory
        });
        if !settled {
            record.put(pending.clone());
            record::write(cluster, &record).await?;
        }
        let outcome = deploy_component(
            cluster,
            component,
            &record,
            prior.as_ref(),
            options,
            progress,
            &mut run,
        )
        .await;
        progress.finish_stage();
        match outcome {
            Ok((entry, done)) => {
                if record.component(&entry.name) != Some(&entry) {
                    record.put(entry);
                    record::write(cluster, &record).await?;
                }
                report.components.push(done);
            }
            Err(error) => {
                record.put(ComponentRecord {
                    status: "failed".to_owned(),
                    message: Some(error.to_string()),
                    ..pending
                });
                record.status = if matches!(error, DeployError::Interrupted { .. }) {
                    "interrupted".to_owned()
                } else {
                    "failed".to_owned()
                };
                record.stopped_at = Some(component.name.clone());
                record.finished = Some(now_text());
                record::write(cluster, &record).await?;
                return Err(error);
            }
        }
    }
    // Components the bundle no longer deploys: their objects go, last deployed first.
    let planned: BTreeSet<&str> = plan.components.iter().map(|c| c.name.as_str()).collect();
    let dropped: Vec<ComponentRecord> = record
        .components
        .iter()
        .filter(|c| !planned.contains(c.name.as_str()) && !options.skip.contains(&c.name))
        .cloned()
        .collect();
    for gone in dropped.iter().rev() {
        let mut pruned = Vec::new();
        for id in gone.objects.iter().rev() {
            if PROTECTED.contains(&id.kind.as_str()) && !options.prune_protected
                || run.claimed.contains(&id.identity())
            {
                continue;
            }
            cluster.delete(id).await?;
            pruned.push(id.to_string());
        }
        record.components.retain(|c| c.name != gone.name);
        record::write(cluster, &record).await?;
        report.components.push(ComponentReport {
            name: gone.name.clone(),
            revision: gone.revision,
            pruned,
            ..ComponentReport::default()
        });
    }
    record.status = "deployed".to_owned();
    record.finished = Some(now_text());
    record::write(cluster, &record).await?;
    Ok(report)
}

/// What the components of one run share.
struct RunState {
    /// Namespaces known to exist.
    namespaces: NamespaceCache,
    /// Every object the plan applies (never pruned).
    claimed: BTreeSet<Identity>,
}

/// Every object the plan applies, by [`ObjectId::identity`]; also without its namespace, so a
/// cluster-scoped object written with one (the scope is fixed only when it is applied) is claimed.
fn claimed(plan: &Plan) -> BTreeSet<Identity> {
    let mut claimed = BTreeSet::new();
    for (_, _, object) in plan.objects() {
        let identity = object.id.identity();
        claimed.insert((
            identity.0.clone(),
            identity.1.clone(),
            None,
            identity.3.clone(),
        ));
        claimed.insert(identity);
    }
    claimed
}

/// Namespaces known to exist.
#[derive(Default)]
struct NamespaceCache(BTreeSet<String>);

impl NamespaceCache {
    async fn ensure(
        &mut self,
        cluster: &Cluster,
        namespace: &str,
        planned: &BTreeSet<String>,
    ) -> Result<(), DeployError> {
        if self.0.contains(namespace) || planned.contains(namespace) {
            return Ok(());
        }
        let id = ObjectId {
            api_version: "v1".to_owned(),
            kind: "Namespace".to_owned(),
            namespace: None,
            name: namespace.to_owned(),
        };
        if cluster.get(&id).await?.is_none() {
            let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
            cluster.apply(&id, &body, false).await?;
        }
        self.0.insert(namespace.to_owned());
        Ok(())
    }
}

async fn deploy_component(
    cluster: &Cluster,
    component: &ComponentPlan,
    record: &DeploymentRecord,
    prior: Option<&ComponentRecord>,
    options: &DeployOptions,
    progress: &dyn Progress,
    run: &mut RunState,
) -> Result<(ComponentRecord, ComponentReport), DeployError> {
    let cancelled = || options.cancel.load(Ordering::Relaxed);
    // What may be in the cluster (the pending inventory written before this run applied anything).
    let previous = record.component(&component.name).cloned();
    let mut steps: Vec<StepPlan> = component.steps.clone();
    let mut applied = Applied::default();
    let mut releases = Vec::new();
    let mut applied_objects: Vec<Object> = Vec::new();
    for (index, step) in steps.iter_mut().enumerate() {
        if cancelled() {
            return Err(DeployError::Interrupted {
                component: component.name.clone(),
            });
        }
        progress.item(&step.label);
        let label = format!("step {} ({})", index + 1, step.label);
        let context = |e: DeployError| DeployError::Step {
            component: component.name.clone(),
            step: label,
            cause: Box::new(e),
        };
        run_step(
            cluster,
            &component.name,
            step,
            options,
            &mut run.namespaces,
            &mut applied,
            &mut releases,
        )
        .await
        .map_err(context)?;
        applied_objects.extend(step.objects.iter().cloned());
    }
    // Prune what the previous revision applied and this one does not, in reverse order.
    let current: BTreeSet<&ObjectId> = applied_objects.iter().map(|o| &o.id).collect();
    let mut pruned = Vec::new();
    if let Some(previous) = &previous {
        for id in previous.objects.iter().rev() {
            // Kept by this revision, or by another component of the bundle (moved there), under
            // whichever version names it.
            if current.contains(id) || run.claimed.contains(&id.identity()) {
                continue;
            }
            if PROTECTED.contains(&id.kind.as_str()) && !options.prune_protected {
                continue;
            }
            cluster.delete(id).await.map_err(|e| DeployError::Step {
                component: component.name.clone(),
                step: "prune".to_owned(),
                cause: Box::new(e.into()),
            })?;
            pruned.push(id.to_string());
        }
    }
    let changed = prior.is_none_or(|p| {
        p.status != "deployed"
            || p.objects.iter().collect::<BTreeSet<_>>() != current
            || p.releases != releases
    }) || applied.written > 0
        || !pruned.is_empty();
    let revision = match prior {
        Some(p) if !changed => p.revision,
        Some(p) => p.revision + 1,
        None => 1,
    };
    if changed {
        record::write_revision(
            cluster,
            &component.name,
            revision,
            &RevisionData {
                objects: applied_objects.clone(),
                releases: releases.clone(),
            },
        )
        .await?;
    }
    Ok((
        ComponentRecord {
            name: component.name.clone(),
            version: component.version.clone(),
            revision,
            status: "deployed".to_owned(),
            message: None,
            objects: applied_objects.iter().map(|o| o.id.clone()).collect(),
            releases,
        },
        ComponentReport {
            name: component.name.clone(),
            revision,
            written: applied.written,
            unchanged: applied.unchanged,
            hooks: applied.hooks,
            pruned,
        },
    ))
}

async fn run_step(
    cluster: &Cluster,
    component: &str,
    step: &mut StepPlan,
    options: &DeployOptions,
    namespaces: &mut NamespaceCache,
    applied: &mut Applied,
    releases: &mut Vec<(String, String, i64)>,
) -> Result<(), DeployError> {
    let cancelled = || options.cancel.load(Ordering::Relaxed);
    let timeout = Duration::from_secs(step.timeout_seconds.max(1));
    if !step.targets.is_empty() {
        let mut wanted = Vec::new();
        for target in &step.targets {
            let api_version = cluster.api_version_of(&target.group).await?;
            let mut id = ObjectId {
                api_version,
                kind: target.kind.clone(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
            };
            if !cluster.namespaced(&id).await? {
                id.namespace = None;
            }
            wanted.push((id, target.condition.clone()));
        }
        return wait::wait_ready(cluster, &wanted, timeout, &cancelled).await;
    }
    let defining: Vec<Object> = step
        .objects
        .iter()
        .filter(|o| o.id.kind == "CustomResourceDefinition")
        .cloned()
        .collect();
    apply::fix_scope(cluster, &mut step.objects, &defining).await?;
    apply::fix_scope(cluster, &mut step.hooks, &defining).await?;
    let planned: BTreeSet<String> = step
        .objects
        .iter()
        .filter(|o| o.id.kind == "Namespace")
        .map(|o| o.id.name.clone())
        .collect();
    let mut needed: BTreeSet<String> = step
        .objects
        .iter()
        .chain(step.hooks.iter())
        .filter_map(|o| o.id.namespace.clone())
        .collect();
    if let Some(release) = &step.release {
        needed.insert(release.namespace.clone());
    }
    for namespace in &needed {
        namespaces.ensure(cluster, namespace, &planned).await?;
    }
    let all: Vec<&Object> = step.objects.iter().collect();
    let live = apply::live_index(cluster, component, &all).await?;
    let unchanged = step.objects.iter().all(|o| o.is_current(live.get(&o.id)));
    let Some(release) = step.release.clone() else {
        let before = applied.written;
        apply::apply_objects(cluster, &step.objects, &live, timeout, &cancelled, applied).await?;
        if step.wait && applied.written > before {
            wait::wait_ready(
                cluster,
                &apply::wait_list(&step.objects),
                timeout,
                &cancelled,
            )
            .await?;
        }
        return Ok(());
    };
    // A chart release, recorded as Helm records it.
    let revisions = helm::revisions(cluster, &release.name, &release.namespace).await?;
    let latest = revisions.last();
    if let Some(latest) = latest {
        if latest.status.starts_with("pending") && !latest.by_ferry {
            return Err(DeployError::ReleaseBusy(format!(
                "release {}/{} has another operation in progress (revision {} is {}, written by Helm)\nhint: let it finish, or `helm rollback` it",
                release.namespace, release.name, latest.version, latest.status
            )));
        }
        let same_manifest = latest.release.get("manifest").and_then(Value::as_str)
            == Some(release.manifest.as_str());
        if unchanged && same_manifest && latest.status == "deployed" {
            applied.unchanged += step.objects.len();
            releases.push((
                release.name.clone(),
                release.namespace.clone(),
                latest.version,
            ));
            return Ok(());
        }
    }
    let installed = revisions.iter().any(helm::Revision::is_installed);
    let version = match latest {
        Some(l) if l.by_ferry && l.status.starts_with("pending") => l.version,
        Some(l) => l.version + 1,
        None => 1,
    };
    let first = revisions
        .first()
        .and_then(|r| r.release.pointer("/info/first_deployed"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(now_text);
    let (pending, description, pre, post) = if installed {
        (
            "pending-upgrade",
            "Upgrade complete",
            "pre-upgrade",
            "post-upgrade",
        )
    } else {
        (
            "pending-install",
            "Install complete",
            "pre-install",
            "post-install",
        )
    };
    let json = |status: &str, text: &str| {
        helm::release_json(&release, step, version, status, &first, &now_text(), text)
    };
    helm::write(
        cluster,
        &json(pending, "ferry deploy in progress"),
        component,
        unix_now(),
    )
    .await?;
    let outcome = async {
        apply::run_hooks(cluster, &step.hooks, pre, timeout, &cancelled, applied).await?;
        apply::apply_objects(cluster, &step.objects, &live, timeout, &cancelled, applied).await?;
        if step.wait {
            wait::wait_ready(
                cluster,
                &apply::wait_list(&step.objects),
                timeout,
                &cancelled,
            )
            .await?;
        }
        apply::run_hooks(cluster, &step.hooks, post, timeout, &cancelled, applied).await
    }
    .await;
    if let Err(error) = outcome {
        if !matches!(error, DeployError::Interrupted { .. }) {
            let text = format!("ferry deploy failed: {error}");
            helm::write(cluster, &json("failed", &text), component, unix_now()).await?;
        }
        return Err(error);
    }
    helm::write(
        cluster,
        &json("deployed", description),
        component,
        unix_now(),
    )
    .await?;
    for old in revisions
        .iter()
        .filter(|r| r.version != version && r.status == "deployed")
    {
        helm::set_status(cluster, old, "superseded", component, unix_now()).await?;
    }
    releases.push((release.name.clone(), release.namespace.clone(), version));
    Ok(())
}

/// What `ferry status` shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatusReport {
    /// The API server.
    pub server: String,
    /// The record, if anything was deployed.
    pub record: Option<DeploymentRecord>,
    /// Per component: objects not ready and why.
    pub not_ready: HashMap<String, Vec<String>>,
}

/// Reads the record and checks each recorded object's readiness.
pub async fn status(kubeconfig: &KubeconfigSource) -> Result<StatusReport, DeployError> {
    let cluster = Cluster::connect(kubeconfig).await?;
    let record = record::read(&cluster).await?;
    let mut not_ready = HashMap::new();
    if let Some(record) = &record {
        for component in &record.components {
            let mut reasons = Vec::new();
            // A pending or failed component's inventory also names what the run may not have
            // reached: the component's state is the reason, and only objects that exist are checked.
            let deployed = component.status == "deployed";
            if !deployed {
                let why = component.message.as_deref().unwrap_or("not finished");
                reasons.push(format!("component is {}: {why}", component.status));
            }
            for id in component
                .objects
                .iter()
                .filter(|id| wait::has_rule(&id.kind))
            {
                match cluster.get(id).await? {
                    None if !deployed => {}
                    None => reasons.push(format!("{id}: missing")),
                    Some(live) => match wait::readiness(&id.kind, &live) {
                        Readiness::Ready => {}
                        Readiness::Pending(why) | Readiness::Failed(why) => {
                            reasons.push(format!("{id}: {why}"))
                        }
                    },
                }
            }
            not_ready.insert(component.name.clone(), reasons);
        }
    }
    Ok(StatusReport {
        server: cluster.server().to_owned(),
        record,
        not_ready,
    })
}

/// Re-applies a recorded revision of a component (default: the one before the current).
pub async fn rollback(
    kubeconfig: &KubeconfigSource,
    component: &str,
    to: Option<i64>,
    cancel: Arc<AtomicBool>,
) -> Result<ComponentReport, DeployError> {
    let cluster = Arc::new(Cluster::connect(kubeconfig).await?);
    with_lease(&cluster, || {
        rollback_locked(&cluster, component, to, cancel)
    })
    .await
}

async fn rollback_locked(
    cluster: &Cluster,
    name: &str,
    to: Option<i64>,
    cancel: Arc<AtomicBool>,
) -> Result<ComponentReport, DeployError> {
    let cancelled = || cancel.load(Ordering::Relaxed);
    let mut record = record::read(cluster).await?.ok_or_else(|| {
        DeployError::Rollback("nothing was deployed to this cluster by ferry".into())
    })?;
    let current = record.component(name).cloned().ok_or_else(|| {
        DeployError::Rollback(format!("component {name} was never deployed by ferry"))
    })?;
    let target = to.unwrap_or(current.revision - 1);
    if target < 1 {
        return Err(DeployError::Rollback(format!(
            "component {name} has no revision before {}",
            current.revision
        )));
    }
    if target >= current.revision {
        return Err(DeployError::Rollback(format!(
            "component {name} is at revision {}; roll back to an earlier one",
            current.revision
        )));
    }
    let data = record::read_revision(cluster, name, target)
        .await?
        .ok_or_else(|| {
            DeployError::Rollback(format!(
                "revision {target} of {name} is not kept (ferry keeps the last {} revisions)",
                record::HISTORY
            ))
        })?;
    let all: Vec<&Object> = data.objects.iter().collect();
    let live = apply::live_index(cluster, name, &all).await?;
    let mut applied = Applied::default();
    apply::apply_objects(
        cluster,
        &data.objects,
        &live,
        Duration::from_secs(300),
        &cancelled,
        &mut applied,
    )
    .await?;
    wait::wait_ready(
        cluster,
        &apply::wait_list(&data.objects),
        Duration::from_secs(300),
        &cancelled,
    )
    .await?;
    let keep: BTreeSet<&ObjectId> = data.objects.iter().map(|o| &o.id).collect();
    let mut pruned = Vec::new();
    for id in current.objects.iter().rev().filter(|id| !keep.contains(id)) {
        if !PROTECTED.contains(&id.kind.as_str()) {
            cluster.delete(id).await?;
            pruned.push(id.to_string());
        }
    }
    let mut releases = Vec::new();
    for (release, namespace, helm_revision) in &data.releases {
        let revisions = helm::revisions(cluster, release, namespace).await?;
        let Some(source) = revisions.iter().find(|r| r.version == *helm_revision) else {
            return Err(DeployError::Rollback(format!(
                "Helm revision {helm_revision} of release {namespace}/{release} is gone"
            )));
        };
        let next = revisions.last().map_or(1, |r| r.version + 1);
        let mut json = source.release.clone();
        json["version"] = Value::from(next);
        if let Some(info) = json.get_mut("info").and_then(Value::as_object_mut) {
            info.insert("status".into(), Value::from("deployed"));
            info.insert(
                "description".into(),
                Value::from(format!("Rollback to {helm_revision}")),
            );
            info.insert("last_deployed".into(), Value::from(now_text()));
        }
        helm::write(cluster, &json, name, unix_now()).await?;
        for old in revisions.iter().filter(|r| r.status == "deployed") {
            helm::set_status(cluster, old, "superseded", name, unix_now()).await?;
        }
        releases.push((release.clone(), namespace.clone(), next));
    }
    let revision = current.revision + 1;
    record::write_revision(
        cluster,
        name,
        revision,
        &RevisionData {
            objects: data.objects.clone(),
            releases: releases.clone(),
        },
    )
    .await?;
    record.put(ComponentRecord {
        revision,
        status: "deployed".into(),
        message: Some(format!("rolled back to revision {target}")),
        objects: data.objects.iter().map(|o| o.id.clone()).collect(),
        releases,
        ..current
    });
    record::write(cluster, &record).await?;
    Ok(ComponentReport {
        name: name.to_owned(),
        revision,
        written: applied.written,
        unchanged: applied.unchanged,
        hooks: 0,
        pruned,
    })
}

//! Which chart releases a deploy upgrades: a release the cluster already
//! holds (a deployed or superseded revision, by ferry or by Helm) is rendered
//! as `helm upgrade` renders it (`.Release.IsUpgrade` true, `.Release.IsInstall`
//! false) and runs its upgrade hooks; the others are installs.

use std::collections::BTreeSet;

use super::cluster::{Cluster, KubeconfigSource};
use super::helm;
use super::plan::Plan;
use super::DeployError;

/// The (namespace, name) of every release of `plan` that the cluster holds.
pub async fn installed_releases(
    plan: &Plan,
    kubeconfig: &KubeconfigSource,
) -> Result<BTreeSet<(String, String)>, DeployError> {
    let cluster = Cluster::connect(kubeconfig).await?;
    let mut installed = BTreeSet::new();
    for release in plan
        .components
        .iter()
        .flat_map(|c| &c.steps)
        .filter_map(|s| s.release.as_ref())
    {
        let revisions = helm::revisions(&cluster, &release.name, &release.namespace).await?;
        if revisions.iter().any(helm::Revision::is_installed) {
            installed.insert((release.namespace.clone(), release.name.clone()));
        }
    }
    Ok(installed)
}

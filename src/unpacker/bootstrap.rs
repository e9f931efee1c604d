//! The bootstrap sequence of a new air-gapped site, for one bundle: which
//! command runs at each step, from `ferry serve` on the bastion to the
//! bastion switched off. Pure: it reads the bundle's embedded spec only.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::bundle::BundleSpec;

/// Where things are at the site.
#[derive(Clone, Debug)]
pub struct Site {
    /// The bundle file as the bastion has it.
    pub bundle: String,
    /// The trusted public key file.
    pub key: String,
    /// The bastion's `ferry serve` address (`10.0.0.5:5000`).
    pub bastion: String,
    /// Harbor as the pods reach it (`harbor.harbor.svc:80/PROJECT`).
    pub harbor: String,
    /// The component that is Harbor (`harbor`).
    pub harbor_component: String,
}

/// One step.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// What the step achieves.
    pub title: String,
    /// The commands, in order (shell).
    pub commands: Vec<String>,
    /// What to know.
    pub note: String,
}

/// Harbor's component and everything it depends on, transitively, in the spec's order.
fn harbor_closure(spec: &BundleSpec, harbor: &str) -> Vec<String> {
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut queue = vec![harbor.to_owned()];
    while let Some(name) = queue.pop() {
        if !wanted.insert(name.clone()) {
            continue;
        }
        if let Some(component) = spec.components.iter().find(|c| c.name == name) {
            queue.extend(component.dependencies.iter().cloned());
        }
    }
    spec.components
        .iter()
        .filter(|c| wanted.contains(&c.name))
        .map(|c| c.name.clone())
        .collect()
}

/// The whole sequence for `spec` at `site`.
pub fn sequence(spec: &BundleSpec, site: &Site) -> Vec<Step> {
    let bundle = &site.bundle;
    let key = &site.key;
    let bastion = &site.bastion;
    let first = harbor_closure(spec, &site.harbor_component);
    let has_harbor = spec
        .components
        .iter()
        .any(|c| c.name == site.harbor_component);
    let skip_rest: String = spec
        .components
        .iter()
        .filter(|c| !first.contains(&c.name) && !c.deploy.is_empty())
        .map(|c| format!(" --skip {}", c.name))
        .collect();
    let port = bastion.rsplit_once(':').map_or("5000", |(_, p)| p);
    vec![
        Step {
            title: "serve the bundle from the bastion".to_owned(),
            commands: vec![format!(
                "ferry serve {bundle} --key {key} --listen 0.0.0.0:{port}"
            )],
            note: "a read-only registry, file server and the archive itself (/_ferry/bundle.tar) straight from the bundle; every node must reach it until Harbor holds the bundle".to_owned(),
        },
        Step {
            title: "configure the nodes' registry mirrors".to_owned(),
            commands: vec![format!(
                "ferry serve {bundle} --key {key} --print-config --advertise {bastion} --config-dir node-config"
            )],
            note: "containerd hosts.toml and CRI-O registries.conf.d for every registry the bundle's images come from, pointing at the bastion (a later step puts Harbor first)".to_owned(),
        },
        Step {
            title: "install the cluster with kubespray, offline".to_owned(),
            commands: vec![
                "ansible-playbook -i inventory/site/hosts.yaml cluster.yml -e @node-config/kubespray-offline.yml".to_owned(),
            ],
            note: "kubespray's files and images come from the bastion through the generated offline variables".to_owned(),
        },
        Step {
            title: "deploy what Harbor needs, and Harbor, from the bastion's images".to_owned(),
            commands: if has_harbor {
                vec![format!("ferry deploy {bundle} --key {key} --no-strict{skip_rest}")]
            } else {
                Vec::new()
            },
            note: if has_harbor {
                format!(
                    "components {} (Harbor and what it depends on, e.g. storage and ingress), with no image map: nodes pull the original references through the bastion mirror",
                    first.join(", ")
                )
            } else {
                format!(
                    "the bundle has no component `{}`: Harbor must already run (or pass --harbor-component)",
                    site.harbor_component
                )
            },
        },
        Step {
            title: "push into Harbor and deploy everything else, inside the cluster".to_owned(),
            commands: vec![format!(
                "ferry deploy {bundle} --key {key} --in-cluster --bundle-url http://{bastion}/_ferry/bundle.tar --harbor {} --harbor-auth harbor-config.json --wait",
                site.harbor
            )],
            note: "the unpacker Job (ferry's own image) streams the bundle from the bastion, verifies it, pushes it into Harbor over the cluster network and deploys it with its service account; `ferry status` and `kubectl -n ferry-system logs job/...` follow it".to_owned(),
        },
        Step {
            title: "put Harbor first in the nodes' registry mirrors".to_owned(),
            commands: vec![format!(
                "ferry serve {bundle} --key {key} --print-config --advertise {bastion} --registry {} --config-dir node-config",
                site.harbor
            )],
            note: "containerd hosts.toml and CRI-O mirrors with Harbor first, at the project paths the push used, and the bastion as the fallback; copy node-config/ to every node (kubespray's containerd_registries_mirrors or a file copy)".to_owned(),
        },
        Step {
            title: "switch the bastion off".to_owned(),
            commands: vec!["ferry status".to_owned()],
            note: "every image now comes from Harbor (first in the nodes' mirror configuration); the bastion is only a fallback and can be stopped".to_owned(),
        },
    ]
}

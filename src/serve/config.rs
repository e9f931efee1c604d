//! What nodes and kubespray need to use a served (or pushed) bundle:
//! kubespray offline variables, containerd `hosts.toml` and CRI-O
//! `registries.conf` mirror entries for every upstream registry carried.
//! With a [`RegistryMirror`] (the Harbor a bundle was pushed into), nodes try
//! it first, at the path push mapped each upstream registry to, and the
//! served bundle second: images created at run time (not in any manifest)
//! resolve inside the air gap, and nodes keep pulling once the bastion is off.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Catalog;

/// Kubespray's names for the registries it pulls from.
const KUBESPRAY_IMAGE_REPOS: &[(&str, &str)] = &[
    ("registry.k8s.io", "kube_image_repo"),
    ("gcr.io", "gcr_image_repo"),
    ("ghcr.io", "github_image_repo"),
    ("docker.io", "docker_image_repo"),
    ("quay.io", "quay_image_repo"),
];

/// A registry that holds the pushed bundle (Harbor), tried before the served bundle.
#[derive(Clone, Debug)]
pub struct RegistryMirror {
    /// `host[:port]`.
    pub host: String,
    /// Per upstream registry, the path push put its repositories under (`platform`,
    /// `platform/docker.io`); a registry missing here maps to `default_prefix`.
    pub prefixes: BTreeMap<String, String>,
    /// The path for registries not in `prefixes` (may be empty).
    pub default_prefix: String,
    /// Whether it speaks HTTPS with a certificate nodes trust.
    pub tls: bool,
}

impl RegistryMirror {
    fn prefix(&self, registry: &str) -> &str {
        self.prefixes
            .get(registry)
            .map_or(self.default_prefix.as_str(), String::as_str)
            .trim_matches('/')
    }
}

/// Node and installer configuration for a bundle served at `endpoint`
/// (`host:port`), as named files and their content; `first`, when given, is
/// tried before the served bundle.
pub fn node_config(
    catalog: &Catalog,
    endpoint: &str,
    tls: bool,
    first: Option<&RegistryMirror>,
) -> BTreeMap<String, String> {
    let scheme = if tls { "https" } else { "http" };
    let mut files = BTreeMap::new();
    let registries = catalog.registries();

    let mut kubespray =
        String::from("# kubespray offline settings written by `ferry serve --print-config`\n");
    let _ = writeln!(kubespray, "files_repo: \"{scheme}://{endpoint}\"");
    let _ = writeln!(kubespray, "registry_host: \"{endpoint}\"");
    for (registry, variable) in KUBESPRAY_IMAGE_REPOS {
        if registries.contains(*registry) {
            let _ = writeln!(
                kubespray,
                "{variable}: \"{{{{ registry_host }}}}/{registry}\""
            );
        }
    }
    let mut downloads: BTreeMap<String, String> = BTreeMap::new();
    for path in catalog.file_paths() {
        let name = path.rsplit('/').next().unwrap_or_default();
        let variable = download_variable(name);
        let templated = path
            .replace("/amd64/", "/{{ image_arch }}/")
            .replace("-amd64", "-{{ image_arch }}")
            .replace(".amd64.", ".{{ image_arch }}.")
            .replace("/arm64/", "/{{ image_arch }}/")
            .replace("-arm64", "-{{ image_arch }}")
            .replace(".arm64.", ".{{ image_arch }}.");
        if let Some(variable) = variable {
            downloads.entry(variable).or_insert(templated);
        }
    }
    for (variable, path) in downloads {
        let _ = writeln!(kubespray, "{variable}: \"{{{{ files_repo }}}}/{path}\"");
    }
    files.insert("kubespray-offline.yml".to_owned(), kubespray);

    let mut crio = String::from("# CRI-O / containers-registries.conf mirrors written by ferry\n");
    for registry in &registries {
        let _ = writeln!(
            crio,
            "\n[[registry]]\nprefix = \"{registry}\"\nlocation = \"{registry}\""
        );
        let mut hosts = String::new();
        if let Some(mirror) = first {
            let prefix = mirror.prefix(registry);
            let location = if prefix.is_empty() {
                mirror.host.clone()
            } else {
                format!("{}/{prefix}", mirror.host)
            };
            let _ = writeln!(
                crio,
                "\n[[registry.mirror]]\nlocation = \"{location}\"\ninsecure = {}",
                !mirror.tls
            );
            // containerd asks `<host>/v2/<prefix>/<repository>/...` with override_path.
            let scheme = if mirror.tls { "https" } else { "http" };
            let path = if prefix.is_empty() {
                "/v2".to_owned()
            } else {
                format!("/v2/{prefix}")
            };
            let _ = write!(
                hosts,
                "\n[host.\"{scheme}://{}{path}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n{}",
                mirror.host,
                if mirror.tls { "" } else { "  skip_verify = true\n" }
            );
        }
        let _ = writeln!(
            crio,
            "\n[[registry.mirror]]\nlocation = \"{endpoint}/{registry}\"\ninsecure = {}",
            !tls
        );
        let _ = write!(
            hosts,
            "\n[host.\"{scheme}://{endpoint}\"]\n  capabilities = [\"pull\", \"resolve\"]\n{}",
            if tls { "" } else { "  skip_verify = true\n" }
        );
        let server = if registry == "docker.io" {
            "https://registry-1.docker.io".to_owned()
        } else {
            format!("https://{registry}")
        };
        files.insert(
            format!("containerd/certs.d/{registry}/hosts.toml"),
            format!("server = \"{server}\"\n{hosts}"),
        );
    }
    files.insert("crio/registries.conf.d/50-ferry.conf".to_owned(), crio);
    files
}

/// Kubespray's `*_download_url` variable for a file name, when it has one.
fn download_variable(file_name: &str) -> Option<String> {
    let known = [
        ("kubeadm", "kubeadm_download_url"),
        ("kubelet", "kubelet_download_url"),
        ("kubectl", "kubectl_download_url"),
        ("etcd-", "etcd_download_url"),
        ("cni-plugins", "cni_download_url"),
        ("calicoctl", "calicoctl_download_url"),
        ("crictl", "crictl_download_url"),
        ("cri-o.", "crio_download_url"),
        ("helm-", "helm_download_url"),
        ("runc", "runc_download_url"),
        ("containerd-", "containerd_download_url"),
        ("nerdctl", "nerdctl_download_url"),
        ("skopeo", "skopeo_download_url"),
        ("yq", "yq_download_url"),
    ];
    known
        .iter()
        .find(|(prefix, _)| file_name.starts_with(prefix))
        .map(|(_, variable)| (*variable).to_owned())
}

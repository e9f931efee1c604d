//! From original references to target references.
//!
//! `docker.io/library/nginx:1.27` pushed to `harbor.example` with project
//! `platform` becomes `harbor.example/platform/library/nginx:1.27`: the
//! repository path and tag are kept, the digest is unchanged. With
//! `keep_registry`, the original registry becomes a path segment
//! (`harbor.example/platform/docker.io/library/nginx:1.27`), which keeps two
//! registries' same-named repositories apart. Per-registry projects let
//! `quay.io` images land in another project than `docker.io` ones.

use std::collections::BTreeMap;

use crate::oci::Reference;

/// The mapping rule.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// Target registry host (`harbor.example`, `127.0.0.1:5000`).
    pub host: String,
    /// Path prefix under the host (for Harbor: the project), may be empty.
    pub project: String,
    /// Projects per original registry, overriding `project`.
    pub projects: BTreeMap<String, String>,
    /// Keep the original registry as the first path segment.
    pub keep_registry: bool,
}

impl Mapping {
    /// The project an original registry maps to.
    pub fn project_for(&self, registry: &str) -> &str {
        self.projects
            .get(registry)
            .map_or(self.project.as_str(), String::as_str)
    }

    /// The path (without host) every repository of an original registry goes under:
    /// its project, then the registry itself with `keep_registry`; may be empty.
    pub fn prefix(&self, registry: &str) -> String {
        let mut parts = Vec::new();
        let project = self.project_for(registry);
        if !project.is_empty() {
            parts.push(project.to_owned());
        }
        if self.keep_registry {
            parts.push(registry.replace(':', "-"));
        }
        parts.join("/")
    }

    /// The target repository path (without host) of an original reference.
    pub fn repository(&self, original: &Reference) -> String {
        let prefix = self.prefix(&original.registry);
        if prefix.is_empty() {
            original.repository.clone()
        } else {
            format!("{prefix}/{}", original.repository)
        }
    }

    /// The full target reference: host, mapped repository, same tag.
    pub fn target(&self, original: &Reference) -> Reference {
        Reference {
            registry: self.host.clone(),
            repository: self.repository(original),
            tag: original.tag.clone(),
            digest: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_like_the_brief() {
        let mapping = Mapping {
            host: "harbor.example".into(),
            project: "platform".into(),
            projects: BTreeMap::from([("quay.io".to_owned(), "quay".to_owned())]),
            keep_registry: false,
        };
        let nginx: Reference = "docker.io/library/nginx:1.27".parse().unwrap();
        assert_eq!(
            mapping.target(&nginx).to_string(),
            "harbor.example/platform/library/nginx:1.27"
        );
        let ceph: Reference = "quay.io/ceph/ceph:v18".parse().unwrap();
        assert_eq!(
            mapping.target(&ceph).to_string(),
            "harbor.example/quay/ceph/ceph:v18"
        );
        let keep = Mapping {
            keep_registry: true,
            ..mapping
        };
        assert_eq!(
            keep.target(&nginx).to_string(),
            "harbor.example/platform/docker.io/library/nginx:1.27"
        );
    }
}

//! Image references of the objects deploy applies, pointed at the target
//! registry through the image map.
//!
//! Every pod spec in an object is found by shape, not by kind: any mapping
//! with a `containers` list is a pod spec, so Deployments, StatefulSets,
//! DaemonSets, Jobs, CronJobs, bare Pods and custom resources that embed pod
//! templates are all covered. Its `containers`, `initContainers` and
//! `ephemeralContainers` images are rewritten to the pushed copy pinned by
//! digest.

use serde::Serialize;
use serde_json::Value;

use super::objects::Object;
use crate::image_map::{ImageMap, Resolution};

/// An image an object runs that the image map cannot point anywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmapped {
    /// The component whose object it is.
    pub component: String,
    /// The object (`Deployment ns/name`).
    pub object: String,
    /// The container.
    pub container: String,
    /// The image as written.
    pub image: String,
    /// Why (`not in the bundle`, `ambiguous: ...`).
    pub reason: String,
}

/// Rewrites the images of `object` through `map`; returns those it could not map.
pub fn rewrite_object(object: &mut Object, map: &ImageMap) -> Vec<Unmapped> {
    let id = object.id.to_string();
    let mut unmapped = Vec::new();
    visit_pod_specs(&mut object.body, &mut |spec| {
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            let Some(Value::Array(containers)) = spec.get_mut(list) else {
                continue;
            };
            for container in containers {
                let name = container
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                let Some(image) = container.get("image").and_then(Value::as_str) else {
                    continue;
                };
                let image = image.to_owned();
                match map.resolve(&image) {
                    Resolution::Exact(entry) | Resolution::ByName(entry) => {
                        container["image"] = Value::String(entry.pinned_target());
                    }
                    Resolution::Ambiguous(entries) => unmapped.push(Unmapped {
                        component: String::new(),
                        object: id.clone(),
                        container: name,
                        image,
                        reason: format!(
                            "ambiguous: it could be any of {}",
                            entries
                                .iter()
                                .map(|e| e.original.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }),
                    Resolution::Unknown => unmapped.push(Unmapped {
                        component: String::new(),
                        object: id.clone(),
                        container: name,
                        image,
                        reason: "the bundle does not carry it".to_owned(),
                    }),
                }
            }
        }
    });
    unmapped
}

fn is_pod_spec(map: &serde_json::Map<String, Value>) -> bool {
    map.get("containers").is_some_and(|c| {
        c.as_array().is_some_and(|list| {
            list.iter()
                .all(|item| item.get("image").is_some() || item.get("name").is_some())
        })
    })
}

fn visit_pod_specs(value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match value {
        Value::Object(map) => {
            if is_pod_spec(map) {
                f(value);
                return;
            }
            for child in map.values_mut() {
                visit_pod_specs(child, f);
            }
        }
        Value::Array(items) => {
            for item in items {
                visit_pod_specs(item, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_map::{ArtifactKind, MapEntry};
    use crate::oci::Digest;

    /// (container, image) of every container of every pod spec, in list order.
    fn images_of(body: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        visit_pod_specs(&mut body.clone(), &mut |spec| {
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for c in spec
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.push((
                        c["name"].as_str().unwrap().to_owned(),
                        c["image"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        });
        out
    }

    #[test]
    fn rewrites_every_container_of_every_pod_template() {
        let map = ImageMap::new(vec![MapEntry {
            original: "docker.io/library/busybox:1.36".into(),
            target: "harbor.example/library/busybox:1.36".into(),
            digest: Digest::of_bytes(b"busybox"),
            kind: ArtifactKind::Image,
        }]);
        let text = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: n}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{name: init, image: busybox:1.36}]\n          containers: [{name: main, image: 'docker.io/library/busybox:1.36'}, {name: other, image: 'quay.io/x/y:1'}]\n          ephemeralContainers: [{name: debug, image: busybox:1.36}]\n";
        let mut object = super::super::objects::parse_documents(text, "c.yaml")
            .unwrap()
            .remove(0);
        let unmapped = rewrite_object(&mut object, &map);
        let images = images_of(&object.body);
        let pinned = format!(
            "harbor.example/library/busybox:1.36@{}",
            Digest::of_bytes(b"busybox")
        );
        assert_eq!(
            images,
            vec![
                ("init".to_owned(), pinned.clone()),
                ("main".to_owned(), pinned.clone()),
                ("other".to_owned(), "quay.io/x/y:1".to_owned()),
                ("debug".to_owned(), pinned),
            ]
        );
        assert_eq!(unmapped.len(), 1);
        assert_eq!(unmapped[0].object, "CronJob n/c");
        assert_eq!(unmapped[0].container, "other");
    }
}

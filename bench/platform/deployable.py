"""Deployable synthetic content for bench/platform/mirror.py.

A component's `deploy:` steps name charts, manifest files and wait targets. For the synthetic charts and
manifest files the mirror serves, this module writes Kubernetes objects that make those steps work against
an API server (or a test double of one):

  - every chart or manifest step applies real objects: a ConfigMap marking the step, a Namespace for a
    manifest step's own namespace, and workloads whose pod templates run the component's images (the
    images are shared out over the component's steps, in order, so every image runs somewhere);
  - every object a wait step names (Deployment/StatefulSet/DaemonSet/Job/CRD/Service/ConfigMap) is created
    by the chart or manifest step just before that wait, with the name and namespace the target gives;
  - a chart's objects live in its templates (`{{ .Release.Name }}` / `{{ .Release.Namespace }}` where the
    step does not fix them), so the release name and namespace of the deploy step are what a render gives.

Real content (charts from ../shared/corpus, local files such as Kubeflow's built manifest) is not written
here; `check_real_file` checks that such a file holds the objects its wait targets name.
"""
import gzip
import re
import sys

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
DEFAULT_GROUPS = {"Deployment": "apps", "StatefulSet": "apps", "DaemonSet": "apps", "ReplicaSet": "apps",
                  "Job": "batch", "CronJob": "batch", "CustomResourceDefinition": "apiextensions.k8s.io",
                  "APIService": "apiregistration.k8s.io", "Ingress": "networking.k8s.io"}
API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1",
                "CustomResourceDefinition": "apiextensions.k8s.io/v1", "Service": "v1", "ConfigMap": "v1"}
RELEASE_NAME = "{{ .Release.Name }}"
RELEASE_NAMESPACE = "{{ .Release.Namespace }}"


def parse_target(text):
    """`KIND[.group]/[NAMESPACE/]NAME [CONDITION]` as ferry reads it: a dict."""
    words = text.split()
    parts = words[0].split("/")
    if len(parts) == 2:
        kind_group, namespace, name = parts[0], None, parts[1]
    elif len(parts) == 3:
        kind_group, namespace, name = parts
    else:
        sys.exit(f"wait target {text!r} is not KIND[.group]/[NAMESPACE/]NAME [CONDITION]")
    kind, _, group = kind_group.partition(".")
    if kind == "CRD":
        kind = "CustomResourceDefinition"
    return {"kind": kind, "group": group or DEFAULT_GROUPS.get(kind, ""), "namespace": namespace, "name": name,
            "condition": words[1] if len(words) > 1 else None}


def steps_of(comp, namespace):
    """The component's content steps (chart or manifests), each with the wait targets that follow it."""
    steps = []
    for raw in comp.get("deploy") or []:
        if "chart" in raw:
            steps.append({"kind": "chart", "chart": raw["chart"], "release": raw.get("release", comp["name"]),
                          "namespace": raw.get("namespace") or namespace or "default", "targets": []})
        elif "manifests" in raw:
            steps.append({"kind": "manifests", "files": list(raw["manifests"]),
                          "namespace": raw.get("namespace") or namespace or "default", "targets": []})
        elif isinstance(raw.get("wait"), list):
            if not steps:
                sys.exit(f"{comp['name']}: a wait step before any chart or manifest step")
            steps[-1]["targets"].extend(parse_target(t) for t in raw["wait"])
    return steps


def share(items, n):
    """`items` cut into `n` contiguous, nearly equal parts."""
    out, start = [], 0
    for i in range(n):
        end = start + (len(items) - start) // (n - i)
        out.append(items[start:end])
        start = end
    return out


def container_names(images):
    names, seen = [], set()
    for ref in images:
        base = re.sub(r"[^a-z0-9-]", "-", ref.rsplit("/", 1)[-1].split(":")[0].split("@")[0].lower()).strip("-")
        base = (base or "c")[:50]
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}-{n}"
        seen.add(name)
        names.append(name)
    return names


def pod_template(app, images):
    return {"metadata": {"labels": {"app.kubernetes.io/name": app}},
            "spec": {"containers": [{"name": name, "image": ref}
                                    for name, ref in zip(container_names(images), images)]}}


def workload(kind, name, namespace, images):
    meta = {"name": name, "labels": {"app.kubernetes.io/name": name}}
    if namespace:
        meta["namespace"] = namespace
    spec = {"selector": {"matchLabels": {"app.kubernetes.io/name": name}}, "template": pod_template(name, images)}
    if kind == "Deployment":
        spec["replicas"] = 1
    elif kind == "StatefulSet":
        spec["replicas"] = 1
        spec["serviceName"] = name
    elif kind == "Job":
        spec = {"backoffLimit": 1, "template": pod_template(name, images)}
        spec["template"]["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": meta, "spec": spec}


def crd(name):
    plural, _, group = name.partition(".")
    if not group:
        sys.exit(f"CRD name {name!r} is not PLURAL.GROUP")
    singular = plural[:-1] if plural.endswith("s") else plural
    kind = singular[:1].upper() + singular[1:]
    return {"apiVersion": API_VERSIONS["CustomResourceDefinition"], "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def target_object(target, namespace, images):
    kind = target["kind"]
    ns = target["namespace"] or namespace
    if kind in WORKLOAD_KINDS or kind == "Job":
        return workload(kind, target["name"], ns, images)
    if kind == "CustomResourceDefinition":
        return crd(target["name"])
    if kind == "Service":
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": target["name"], "namespace": ns},
                "spec": {"selector": {"app.kubernetes.io/name": target["name"]},
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": target["name"], "namespace": ns},
                "data": {"synthetic": "true"}}
    sys.exit(f"the mirror cannot make a synthetic {kind} for a wait target")


def step_objects(comp_name, index, step, images, fallback_image, in_chart):
    """The objects of one content step, in apply order (CRDs, then the rest)."""
    namespace = RELEASE_NAMESPACE if in_chart else step["namespace"]
    objects = []
    workload_targets = [t for t in step["targets"] if t["kind"] in WORKLOAD_KINDS]
    for target in step["targets"]:
        if target["kind"] == "CustomResourceDefinition":
            objects.append(target_object(target, namespace, []))
    objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"{comp_name}-step-{index + 1}-synthetic", "namespace": namespace},
                    "data": {"component": comp_name, "step": str(index + 1)}})
    for n, target in enumerate(t for t in step["targets"] if t["kind"] != "CustomResourceDefinition"):
        # The step's share of the images runs in its first workload target, or in a workload of its own.
        mine = images if (workload_targets and target is workload_targets[0]) else [fallback_image]
        objects.append(target_object(target, namespace, mine))
    if images and not workload_targets:
        name = RELEASE_NAME if in_chart else f"{comp_name}-synthetic-{index + 1}"
        objects.append(workload("Deployment", name, namespace, images))
    return objects


def component_content(comp, namespace, image_refs):
    """{("chart", name): [objects], ("file", name): [[objects] per file...]} for one component."""
    steps = steps_of(comp, namespace)
    if not steps:
        return {}
    parts = share(list(image_refs), len(steps))
    fallback = image_refs[0] if image_refs else "registry.k8s.io/pause:3.10"
    content = {}
    own_namespace_done = False
    for index, (step, images) in enumerate(zip(steps, parts)):
        objects = step_objects(comp["name"], index, step, images, fallback, step["kind"] == "chart")
        if step["kind"] == "chart":
            content.setdefault(("chart", step["chart"]), []).extend(objects)
            continue
        files = step["files"]
        per_file = {f: [] for f in files}
        if not own_namespace_done and step["namespace"] not in ("default", "kube-system"):
            per_file[files[0]].append({"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": step["namespace"]}})
            own_namespace_done = True
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
        per_file[files[0]].extend(crds)
        for f in files[:-1]:
            per_file[f].append({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": f"{comp['name']}-{safe(f)}-synthetic",
                                             "namespace": step["namespace"]},
                                "data": {"file": f}})
        per_file[files[-1]].extend(rest)
        for f in files:
            content[("file", f)] = per_file[f]
    return content


def safe(name):
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:40]


def render_documents(objects, header):
    """Multi-document YAML of `objects`, with `header` as a leading comment."""
    body = "".join("---\n" + yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects)
    return f"# {header}\n{body}"


def check_real_file(comp_name, path, targets):
    """Exits unless the real (local) manifest file at `path` holds every object `targets` names."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    present = set()
    for d in docs:
        group = d.get("apiVersion", "").rpartition("/")[0]
        present.add((d.get("kind"), group, d.get("metadata", {}).get("namespace"), d.get("metadata", {}).get("name")))
    for t in targets:
        if (t["kind"], t["group"], t["namespace"], t["name"]) not in present:
            sys.exit(f"{comp_name}: {path} has no {t['kind']} {t['namespace']}/{t['name']} that its deploy waits on")


def real_file_targets(comp, namespace, local_files):
    """(path, targets) for each content step whose last file is a local, real file."""
    out = []
    for step in steps_of(comp, namespace):
        if step["kind"] == "manifests" and step["files"][-1] in local_files and step["targets"]:
            out.append((local_files[step["files"][-1]], step["targets"]))
    return out

#!/usr/bin/env python3
"""Full-scale synthetic mirror of the K-PaaS platform specs (issue 6, items 4 and 5).

Reads the real bundle specs (default: bundles/k-paas-container-platform-1.6.2.yaml and
bundles/paasta-container-platform-1.4.0.yaml) and their component manifests, and writes, under --out:

  registry/            a docker-registry (distribution 2.8) filesystem storage root holding every image
                       the specs reference, at <registry host>/<repository>:<tag> (multi-arch indexes for
                       multi-arch images, 3-8 layers each, base layers shared between images), and every
                       `oci://` chart as a Helm OCI artifact (--registry-storage puts it elsewhere)
  files/               an HTTP document root: every file at <host>/<path> and every HTTP chart
                       repository at <host>/<path>/index.yaml + <name>-<version>.tgz (the real chart from
                       ../shared/corpus/charts when name and version match, a minimal synthetic one otherwise)
                       Synthetic charts and YAML files are deployable: they hold the objects the components'
                       `deploy:` steps install and wait for, running the components' images (deployable.py)
  vendor-images/       the `podman save` archives the cp-portal manifests take their images from
  vendor-manifests/    the manifests the overlays read: symlinks to the real ones, except a manifest with
                       digest-only references (`repo@sha256:...`, Kubeflow's Knative images), which is
                       copied with each such reference given the tag `sha256-<hex>` (a mirror cannot hold
                       content under upstream's digest, and `unpinImages` keeps digest-only pins)
  bundles/<name>.yaml  one overlay per spec: `base:` the real spec, `manifests: ../vendor-manifests`,
                       `fileSha256` for every downloaded file (the synthetic content's hashes) and
                       `unpinImages: true` where images carry `tag@sha256:` pins
  mirror-args.txt      the `--mirror` flags (one per line) that point every upstream at the mirrors
  summary.json         per spec: expected counts, bytes, and the mirror digest of every image

Content is synthetic and deterministic: the same arguments write the same bytes. --scale sets the total
bytes of the first spec's content (image blobs, files, charts, portal archives); content only the other
specs use is sized at --other-scale of that rate (default 0.2, to keep the disk footprint down).

Usage:
  mirror.py --out DIR --registry 127.0.0.1:5000 --files-url http://127.0.0.1:8000 [--scale 5.2GiB]
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import sys
import tarfile
import zlib
from urllib.parse import unquote, urlsplit

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("mirror.py needs PyYAML: python3 -m pip install pyyaml (or apt-get install python3-yaml)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deployable  # noqa: E402  (next to this file)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_SPECS = [
    os.path.join(REPO_ROOT, "bundles", "k-paas-container-platform-1.6.2.yaml"),
    os.path.join(REPO_ROOT, "bundles", "paasta-container-platform-1.4.0.yaml"),
]
CORPUS = os.path.join(os.path.dirname(REPO_ROOT), "shared", "corpus", "charts")

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

MIB = 1 << 20
CHUNK = 1 << 20


def parse_size(text):
    units = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": MIB, "mib": MIB, "g": 1 << 30, "gib": 1 << 30,
             "kb": 10**3, "mb": 10**6, "gb": 10**9}
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in units:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 80MiB, 5.2GiB)")
    return int(float(m.group(1)) * units[m.group(2).lower()])


def h(*parts):
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).digest()


def hnum(*parts):
    return int.from_bytes(h(*parts)[:8], "big")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------------
# The specs, composed as ferry composes them (base, remove, manifests, components; files per arch)
# ---------------------------------------------------------------------------------------------------

def normalize_ref(ref):
    """registry, repository, tag, digest of a reference, with Docker Hub's defaults applied."""
    name, digest = (ref.split("@", 1) + [None])[:2]
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        registry, repository = name.split("/", 1)
    else:
        registry, repository = "docker.io", name
    if registry == "docker.io" and "/" not in repository:
        repository = "library/" + repository
    return registry, repository, tag, digest


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def load_layers(path):
    doc = load_yaml(path)
    here = os.path.dirname(path)
    if doc.get("base"):
        layered = load_layers(os.path.normpath(os.path.join(here, doc["base"])))
    else:
        layered = {"name": None, "version": None, "platforms": None,
                   "manifests": os.path.normpath(os.path.join(here, "../vendor-manifests")), "components": {}}
    layered["name"] = doc["name"]
    layered["version"] = doc.get("version", layered["version"])
    if doc.get("manifests"):
        layered["manifests"] = os.path.normpath(os.path.join(here, doc["manifests"]))
    if doc.get("platforms"):
        layered["platforms"] = list(doc["platforms"])
    for name in doc.get("remove") or []:
        layered["components"].pop(name)
    for entry in doc.get("components") or []:
        existing = layered["components"].setdefault(entry["name"], {"name": entry["name"], "images": []})
        if entry.get("version") is not None:
            existing["version"] = str(entry["version"])
        if entry.get("namespace") is not None:
            existing["namespace"] = entry["namespace"]
        for image in entry.get("images") or []:
            if image.get("archive") or image.get("layout"):
                sys.exit(f"{path}: images a spec adds from archives or layouts are not generated ({image['ref']})")
            existing["images"].append(image)
    return layered


def load_spec(path):
    """The composed spec: components with their manifests' images, charts and files."""
    path = os.path.abspath(path)
    layered = load_layers(path)
    arches = sorted({p.split("/")[1] for p in layered["platforms"]})
    components = []
    for name in sorted(layered["components"]):
        version = layered["components"][name]["version"]
        manifest_path = os.path.join(layered["manifests"], name, f"{version}.yaml")
        manifest = load_yaml(manifest_path)
        mdir = os.path.dirname(manifest_path)
        images = []
        for image in (manifest.get("images") or []) + layered["components"][name]["images"]:
            archive = image.get("archive")
            images.append({
                "ref": image["ref"],
                "archive": os.path.normpath(os.path.join(mdir, archive)) if archive else None,
                "archive_rel": archive,
                "source_ref": image.get("sourceRef") or image["ref"],
                "layout": image.get("layout"),
            })
        charts = [{"name": c["name"], "version": str(c["version"]), "repo": c["repo"].rstrip("/")}
                  for c in manifest.get("charts") or []]
        files = []
        for f in manifest.get("files") or []:
            fversion = str(f.get("version") or manifest["version"])
            template = f["url"]
            for arch in (arches if "{arch}" in template else [None]):
                url = template.replace("{version}", fversion).replace("{arch}", arch or "").replace("{os}", "linux")
                local = "://" not in url
                files.append({"name": f["name"], "arch": arch, "url": url, "local": local,
                              "path": os.path.normpath(os.path.join(mdir, url)) if local else None})
        components.append({"name": name, "version": str(manifest["version"]), "license": manifest.get("license"),
                           "manifest_path": manifest_path, "images": images, "charts": charts, "files": files,
                           "namespace": layered["components"][name].get("namespace"),
                           "deploy": manifest.get("deploy") or []})
    return {"path": path, "name": layered["name"], "version": layered["version"],
            "platforms": layered["platforms"], "arches": arches, "manifests": layered["manifests"],
            "components": components}


# ---------------------------------------------------------------------------------------------------
# Sizes: a rough real-world size (MiB per architecture, compressed) per image and file, scaled
# ---------------------------------------------------------------------------------------------------

IMAGE_SIZES = [  # (substring of the reference, MiB): first match wins
    ("tritonserver", 1500), ("torchserve", 800), ("mlserver", 700), ("rook/ceph", 450), ("ceph/ceph", 450),
    ("cephcsi", 300), ("ml_metadata", 250), ("python:", 350), ("tensorflow/serving", 200),
    ("keycloak-config-cli", 150), ("bitnami/keycloak", 250), ("trivy-adapter", 150), ("mysql", 150),
    ("calico/node", 140), ("bitnami/mariadb", 120), ("ingress-nginx/controller", 110), ("harbor-db", 100),
    ("chaos-mesh/chaos-daemon", 100), ("calico/cni", 90), ("proxyv2", 90), ("goharbor/", 70),
    ("paddleserver", 400), ("lgbserver", 300), ("xgbserver", 300), ("sklearnserver", 300), ("pmmlserver", 300),
    ("pilot", 70), ("openbao", 60), ("cp-portal", 180), ("cp-keycloak", 250), ("ml-pipeline/", 60),
    ("kubeflownotebookswg/", 60), ("katib", 50), ("os-shell", 40), ("pause", 0.4), ("kube-apiserver", 28),
    ("kube-controller-manager", 27), ("kube-scheduler", 18), ("kube-proxy", 27), ("coredns", 18),
    ("knative", 25), ("kube-rbac-proxy", 15), ("sig-storage/csi-", 15), ("cluster-proportional", 12),
]
# Base layers shared between images: (family, [MiB per layer]).
BASES = {
    "distroless": [0.8, 1.5], "alpine": [3.5], "debian": [30, 8], "photon": [16, 6], "ubuntu": [28, 12],
    "centos": [45, 20], "busybox": [0.8],
}
FILE_SIZES = {  # MiB
    "kubeadm": 70, "kubelet": 78, "kubectl": 57, "etcd": 20, "cni-plugins": 45, "calicoctl": 64,
    "calico-crds": 25, "crictl": 19, "cri-o": 75, "crun": 3, "skopeo": 30, "helm": 16, "istioctl": 30,
    "istio": 25, "tofu": 25, "terraform": 20, "kustomize": 8, "cp-deployment": 12,
}


def image_mib(ref):
    for needle, mib in IMAGE_SIZES:
        if needle in ref:
            return mib
    return 20 + hnum("size", ref) % 40


def base_family(ref):
    if "bitnami/" in ref or "library/python" in ref or "library/mysql" in ref or "/mysql:" in ref:
        return "debian"
    if "goharbor/" in ref:
        return "photon"
    if "ceph" in ref:
        return "centos"
    if "alpine" in ref or "chartmuseum" in ref or "metallb" in ref:
        return "alpine"
    if any(s in ref for s in ("tritonserver", "tensorflow", "torchserve", "mlserver", "server:", "kserve/",
                              "cp-portal", "cp-keycloak", "ml_metadata", "kubeflow")):
        return "ubuntu"
    if "pause" in ref:
        return "busybox"
    return "distroless"


def single_arch(ref):
    """Images upstream publishes for amd64 only."""
    return any(s in ref for s in ("-amd64", "nvcr.io/", "gcr.io/ml-pipeline/", "gcr.io/arrikto/",
                                  "gcr.io/tfx-oss-public/"))


def docker_media_types(registry):
    """docker.io and quay.io images as Docker schema 2, the others as OCI: both kinds go through ferry."""
    return registry in ("docker.io", "quay.io")


# ---------------------------------------------------------------------------------------------------
# Deterministic bytes: a tar of one file, wrapped in a stored-deflate gzip (valid, and fast to write)
# ---------------------------------------------------------------------------------------------------

class Pool:
    """8 MiB of SHAKE-256 output; each blob reads it from its own offset behind its own header."""

    def __init__(self, seed):
        data = hashlib.shake_256(seed).digest(8 * MIB)
        self.size = len(data)
        self.data = memoryview(data + data)

    def stream(self, key, length):
        header = (hashlib.sha256(key).hexdigest() * 2).encode()
        yield header[:length]
        remaining = length - min(length, len(header))
        offset = int.from_bytes(hashlib.sha256(b"offset" + key).digest()[:4], "big") % self.size
        while remaining:
            n = min(remaining, CHUNK, self.size)
            yield self.data[offset:offset + n]
            offset = (offset + n) % self.size
            remaining -= n


def tar_stream(pool, key, member, length):
    """A tar archive holding one file of `length` synthetic bytes: (total size, chunk iterator)."""
    info = tarfile.TarInfo(member)
    info.size = length
    info.mtime = 0
    info.mode = 0o755
    info.uname = info.gname = ""
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    pad = (512 - length % 512) % 512
    total = len(header) + length + pad + 1024

    def chunks():
        yield header
        yield from pool.stream(key, length)
        yield b"\0" * (pad + 1024)

    return total, chunks()


def stored_gzip(chunks, total):
    """gzip (RFC 1952) of `total` bytes of chunks, in stored deflate blocks: yields (plain chunk, gzip bytes)."""
    yield None, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    crc = 0
    done = 0
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        out = []
        pos = 0
        # Full blocks, keeping the last one back: it carries the final-block bit.
        while len(buf) - pos >= 65535 and done + 65535 < total:
            block = bytes(buf[pos:pos + 65535])
            pos += 65535
            done += 65535
            crc = zlib.crc32(block, crc)
            out.append(b"\x00\xff\xff\x00\x00")
            out.append(block)
        del buf[:pos]
        yield chunk, b"".join(out)
    pos = 0
    while pos < len(buf):
        block = bytes(buf[pos:pos + 65535])
        pos += len(block)
        done += len(block)
        crc = zlib.crc32(block, crc)
        final = 1 if pos >= len(buf) else 0
        yield None, bytes([final]) + struct.pack("<HH", len(block), len(block) ^ 0xFFFF) + block
    if done != total:
        raise AssertionError(f"stored_gzip: {done} bytes written, {total} announced")
    yield None, struct.pack("<II", crc, total & 0xFFFFFFFF)


# ---------------------------------------------------------------------------------------------------
# A docker-registry filesystem storage root, written directly (blobs, layer links, revisions, tags)
# ---------------------------------------------------------------------------------------------------

class RegistryStorage:
    def __init__(self, root):
        self.v2 = os.path.join(root, "docker", "registry", "v2")
        self.tmp = os.path.join(root, "ferry-mirror-tmp")
        os.makedirs(self.tmp, exist_ok=True)
        self.blobs = {}  # hex -> size
        self.counter = 0

    def _blob_path(self, hexd):
        return os.path.join(self.v2, "blobs", "sha256", hexd[:2], hexd, "data")

    def _place(self, tmp, hexd, size):
        path = self._blob_path(hexd)
        if os.path.exists(path):
            os.unlink(tmp)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(tmp, path)
        self.blobs[hexd] = size

    def put_bytes(self, data):
        hexd = hashlib.sha256(data).hexdigest()
        if hexd not in self.blobs:
            self.counter += 1
            tmp = os.path.join(self.tmp, str(self.counter))
            with open(tmp, "wb") as f:
                f.write(data)
            self._place(tmp, hexd, len(data))
        return "sha256:" + hexd, len(data)

    def put_layer(self, pool, key, member, length, gz=True):
        """A synthetic layer blob: returns (digest, size, diff_id)."""
        total, chunks = tar_stream(pool, key, member, length)
        self.counter += 1
        tmp = os.path.join(self.tmp, str(self.counter))
        plain = hashlib.sha256()
        blob = hashlib.sha256()
        size = 0
        with open(tmp, "wb") as f:
            if gz:
                for raw, out in stored_gzip(chunks, total):
                    if raw is not None:
                        plain.update(raw)
                    if out:
                        blob.update(out)
                        f.write(out)
                        size += len(out)
            else:
                for raw in chunks:
                    plain.update(raw)
                    blob.update(raw)
                    f.write(raw)
                    size += len(raw)
        hexd = blob.hexdigest()
        self._place(tmp, hexd, size)
        return "sha256:" + hexd, size, "sha256:" + plain.hexdigest()

    def _link(self, path, digest):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(digest)

    def link_blob(self, repo, digest):
        algo, hexd = digest.split(":")
        self._link(os.path.join(self.v2, "repositories", repo, "_layers", algo, hexd, "link"), digest)

    def link_manifest(self, repo, digest):
        algo, hexd = digest.split(":")
        self._link(os.path.join(self.v2, "repositories", repo, "_manifests", "revisions", algo, hexd, "link"),
                   digest)

    def tag(self, repo, tag, digest):
        algo, hexd = digest.split(":")
        base = os.path.join(self.v2, "repositories", repo, "_manifests", "tags", tag)
        self._link(os.path.join(base, "current", "link"), digest)
        self._link(os.path.join(base, "index", algo, hexd, "link"), digest)

    def finish(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------------

class Mirror:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.specs = [load_spec(p) for p in args.spec]
        self.pool = Pool(b"ferry-k-paas-mirror")
        storage_root = os.path.abspath(args.registry_storage or os.path.join(self.out, "registry"))
        self.files_root = os.path.join(self.out, "files")
        self.storage = RegistryStorage(storage_root)
        self.file_hashes = {}  # url -> (sha256 hex, size)
        self.image_digests = {}  # mirror key (registry/repo:tag) -> digest
        self.archive_info = {}  # archive path -> bytes
        self.chart_info = {}  # (repo, name, version) -> {"source": ..., "bytes": n}
        self.registries = set()
        self.url_hosts = set()
        self.deployable()

    # -- what the deploy steps apply ----------------------------------------------------------------

    def deployable(self):
        """Objects for every synthetic chart and manifest file a `deploy:` step names (see deployable.py)."""
        self.chart_objects = {}  # (repo, name, version) -> [objects]
        self.file_objects = {}  # url -> [objects]
        for spec in self.specs:
            for comp in spec["components"]:
                refs = []
                for image in comp["images"]:
                    if image["archive"]:
                        refs.append(image["ref"])
                    else:
                        registry, repository, tag = self.mirror_tag(image)
                        refs.append(f"{registry}/{repository}:{tag}")
                refs = sorted(set(refs), key=refs.index)
                content = deployable.component_content(comp, comp["namespace"], refs)
                for (kind, name), objects in content.items():
                    if kind == "chart":
                        for chart in comp["charts"]:
                            if chart["name"] == name:
                                self.chart_objects.setdefault((chart["repo"], name, chart["version"]), objects)
                    else:
                        for f in comp["files"]:
                            if f["name"] == name and not f["local"]:
                                self.file_objects.setdefault(f["url"], objects)
                local = {f["name"]: f["path"] for f in comp["files"] if f["local"]}
                for path, targets in deployable.real_file_targets(comp, comp["namespace"], local):
                    deployable.check_real_file(comp["name"], path, targets)

    # -- plan ---------------------------------------------------------------------------------------

    def mirror_tag(self, image):
        """(registry, repository, tag) the mirror holds an image under."""
        registry, repository, tag, digest = normalize_ref(image["ref"])
        if tag is None:
            tag = "sha256-" + digest.split(":", 1)[1]
        return registry, repository, tag

    def plan(self):
        """Weights (MiB) of every piece of content, and whether the first spec uses it."""
        weights = {}  # key -> [mib, primary]
        fixed = {}  # key -> [bytes, primary] for content that is not scaled (manifests' YAML files)

        def add(table, key, value, primary):
            entry = table.setdefault(key, [value, False])
            entry[1] = entry[1] or primary

        for index, spec in enumerate(self.specs):
            primary = index == 0
            for comp in spec["components"]:
                for image in comp["images"]:
                    if image["layout"]:
                        sys.exit(f"{comp['name']}: images from OCI layouts are not generated ({image['ref']})")
                    if image["archive"]:
                        layers = self.layer_plan(image["source_ref"], archive=True)
                        for i, mib in enumerate(layers["own"]):
                            add(weights, ("alayer", self.archive_path(comp, image), i), mib, primary)
                        continue
                    registry, repository, tag = self.mirror_tag(image)
                    ref = f"{registry}/{repository}:{tag}"
                    layers = self.layer_plan(ref)
                    for arch in self.image_arches(ref):
                        # Only the platforms the first spec carries count towards --scale.
                        carried = primary and arch in spec["arches"]
                        for i, mib in enumerate(BASES[layers["base"]]):
                            add(weights, ("base", layers["base"], arch, i), mib, carried)
                        for i, mib in enumerate(layers["own"]):
                            add(weights, ("layer", ref, arch, i), mib, carried)
                for f in comp["files"]:
                    if f["local"]:
                        continue
                    if f["url"].endswith((".yaml", ".yml")):
                        add(fixed, ("file", f["url"]), 4096 + hnum("yaml", f["url"]) % (200 << 10), primary)
                    else:
                        add(weights, ("file", f["url"]), FILE_SIZES.get(f["name"], 10), primary)
        primary_weight = sum(w for w, p in weights.values() if p)
        primary_fixed = sum(b for b, p in fixed.values() if p)
        budget = max(self.args.scale - primary_fixed, MIB)
        unit = budget / primary_weight  # bytes per MiB of weight
        sizes = {}
        for key, (mib, primary) in weights.items():
            rate = unit if primary else unit * self.args.other_scale
            sizes[key] = max(int(mib * rate), 256)
        for key, (size, _) in fixed.items():
            sizes[key] = size
        self.sizes = sizes

    def layer_plan(self, ref, archive=False):
        """Base family and own layer weights (MiB) of an image: 3-8 layers in all."""
        family = base_family(ref)
        n_base = len(BASES[family])
        n_own = 2 + hnum("layers", ref) % (7 - n_base)  # base + own between 3 and 8
        total = image_mib(ref)
        own_total = max(total - sum(BASES[family]), total * 0.25)
        # Decreasing shares: the application layer is the biggest.
        shares = [2 ** (n_own - i) + hnum("share", ref, i) % 3 for i in range(n_own)]
        scale = own_total / sum(shares)
        own = [s * scale for s in shares]
        if archive:
            # `podman save` keeps the base layers inside the archive: carry them as the image's own.
            own = BASES[family] + own
        return {"base": family, "own": own}

    def archive_path(self, comp, image):
        """Where the overlay's manifests (in OUT/vendor-manifests/) find a `podman save` archive."""
        return os.path.normpath(os.path.join(self.out, "vendor-manifests", comp["name"], image["archive_rel"]))

    def image_arches(self, ref):
        return ["amd64"] if single_arch(ref) else ["amd64", "arm64"]

    # -- images -------------------------------------------------------------------------------------

    def config_blob(self, ref, arch, diff_ids):
        config = {
            "architecture": arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Entrypoint": ["/" + ref.split("/")[-1].split(":")[0]],
                       "Labels": {"dev.ferry.mirror.synthetic": "true", "dev.ferry.mirror.ref": ref}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"synthetic layer {i}"}
                        for i in range(len(diff_ids))],
        }
        if arch == "arm64":
            config["variant"] = "v8"
        return canonical(config)

    def write_image(self, ref):
        if ref in self.image_digests:
            return self.image_digests[ref]
        registry, rest = ref.split("/", 1)
        repository, tag = rest.rsplit(":", 1)
        repo = f"{registry}/{repository}"
        docker = docker_media_types(registry)
        layer_type = DOCKER_LAYER if docker else OCI_LAYER
        plan = self.layer_plan(ref)
        family = plan["base"]
        children = []
        for arch in self.image_arches(ref):
            layers = []
            diff_ids = []
            for i, _ in enumerate(BASES[family]):
                key = ("base", family, arch, i)
                digest, size, diff_id = self.base_layer(key)
                layers.append({"mediaType": layer_type, "digest": digest, "size": size})
                diff_ids.append(diff_id)
            for i, _ in enumerate(plan["own"]):
                key = ("layer", ref, arch, i)
                digest, size, diff_id = self.storage.put_layer(
                    self.pool, canonical(list(key)), f"opt/{repository.split('/')[-1]}/layer-{i}.bin",
                    self.sizes[key])
                layers.append({"mediaType": layer_type, "digest": digest, "size": size})
                diff_ids.append(diff_id)
            config = self.config_blob(ref, arch, diff_ids)
            config_digest, config_size = self.storage.put_bytes(config)
            manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                                   "digest": config_digest, "size": config_size},
                        "layers": layers}
            body = canonical(manifest)
            digest, size = self.storage.put_bytes(body)
            for blob in [config_digest] + [layer["digest"] for layer in layers]:
                self.storage.link_blob(repo, blob)
            self.storage.link_manifest(repo, digest)
            platform = {"architecture": arch, "os": "linux"}
            if arch == "arm64":
                platform["variant"] = "v8"
            children.append({"mediaType": manifest["mediaType"], "digest": digest, "size": size,
                             "platform": platform})
        if len(children) == 1:
            top = children[0]["digest"]
        else:
            index = {"schemaVersion": 2, "mediaType": DOCKER_LIST if docker else OCI_INDEX, "manifests": children}
            top, _ = self.storage.put_bytes(canonical(index))
            self.storage.link_manifest(repo, top)
        self.storage.tag(repo, tag, top)
        self.image_digests[ref] = top
        return top

    def base_layer(self, key):
        if not hasattr(self, "_bases"):
            self._bases = {}
        if key not in self._bases:
            _, family, arch, i = key
            self._bases[key] = self.storage.put_layer(
                self.pool, canonical(list(key)), f"{family}-{arch}/rootfs-{i}.bin", self.sizes[key])
        return self._bases[key]

    # -- podman save archives -----------------------------------------------------------------------

    def write_archive(self, path, ref):
        if path in self.archive_info:
            return
        plan = self.layer_plan(ref, archive=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        diff_ids = []
        members = []
        with open(tmp, "wb") as out:
            for i, _ in enumerate(plan["own"]):
                key = ("alayer", path_key(self.out, path), i)
                length = self.sizes[("alayer", path, i)]
                total, chunks = tar_stream(self.pool, canonical(list(key)), f"app/layer-{i}.bin", length)
                digest = hashlib.sha256()
                # The layer's bytes are needed for their name: hash first, then write.
                for chunk in chunks:
                    digest.update(chunk)
                name = digest.hexdigest() + ".tar"
                diff_ids.append("sha256:" + digest.hexdigest())
                members.append(name)
                write_member(out, name, total, tar_stream(self.pool, canonical(list(key)),
                                                          f"app/layer-{i}.bin", length)[1])
            config = self.config_blob(ref, "amd64", diff_ids)
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            write_member(out, config_name, len(config), [config])
            manifest = canonical([{"Config": config_name, "RepoTags": [ref], "Layers": members}])
            write_member(out, "manifest.json", len(manifest), [manifest])
            out.write(b"\0" * 1024)
        os.replace(tmp, path)
        self.archive_info[path] = os.path.getsize(path)

    # -- charts ---------------------------------------------------------------------------------------

    def chart_tgz(self, name, version, objects=None):
        corpus = os.path.join(CORPUS, name)
        chart_yaml = os.path.join(corpus, "Chart.yaml")
        if os.path.isfile(chart_yaml):
            meta = load_yaml(chart_yaml)
            if str(meta.get("version")) == version:
                return package_dir(corpus, name), f"real chart ../shared/corpus/charts/{name}", meta
        meta = {"apiVersion": "v2", "name": name, "version": version, "appVersion": version,
                "description": f"Synthetic stand-in for the {name} chart {version} (ferry mirror harness)",
                "type": "application"}
        files = {
            f"{name}/Chart.yaml": yaml.safe_dump(meta, sort_keys=True).encode(),
            f"{name}/values.yaml": b"# synthetic chart: no values of its own\n{}\n",
            f"{name}/templates/configmap.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-%s\n"
                "  namespace: {{ .Release.Namespace }}\ndata:\n  chart: %s-%s\n" % (name, name, version)).encode(),
        }
        if objects:
            files[f"{name}/templates/objects.yaml"] = deployable.render_documents(
                objects, f"synthetic objects of the {name} chart: what its deploy steps install and wait for").encode()
        return gz(tar_of(files)), "synthetic", meta

    def write_charts(self):
        http_repos = {}
        for spec in self.specs:
            for comp in spec["components"]:
                for chart in comp["charts"]:
                    key = (chart["repo"], chart["name"], chart["version"])
                    if key in self.chart_info:
                        continue
                    data, source, meta = self.chart_tgz(chart["name"], chart["version"], self.chart_objects.get(key))
                    self.chart_info[key] = {"source": source, "bytes": len(data)}
                    repo = chart["repo"]
                    if repo.startswith("oci://"):
                        self.push_oci_chart(repo[len("oci://"):], chart["name"], chart["version"], data, meta)
                    elif repo.startswith(("http://", "https://")):
                        http_repos.setdefault(repo, []).append((chart, data, meta))
                    else:
                        sys.exit(f"local chart repositories are not generated: {repo}")
        for repo, charts in sorted(http_repos.items()):
            parts = urlsplit(repo)
            self.url_hosts.add(f"{parts.scheme}://{parts.netloc}")
            directory = os.path.join(self.files_root, parts.netloc, unquote(parts.path).strip("/"))
            os.makedirs(directory, exist_ok=True)
            entries = {}
            for chart, data, meta in charts:
                filename = f"{chart['name']}-{chart['version']}.tgz"
                with open(os.path.join(directory, filename), "wb") as f:
                    f.write(data)
                entry = {"apiVersion": meta.get("apiVersion", "v2"), "name": chart["name"],
                         "version": chart["version"], "appVersion": str(meta.get("appVersion", "")),
                         "created": "1970-01-01T00:00:00Z", "digest": hashlib.sha256(data).hexdigest(),
                         "urls": [filename]}
                entries.setdefault(chart["name"], []).append(entry)
            index = {"apiVersion": "v1", "entries": entries, "generated": "1970-01-01T00:00:00Z"}
            with open(os.path.join(directory, "index.yaml"), "w") as f:
                yaml.safe_dump(index, f, sort_keys=True)

    def push_oci_chart(self, path, name, version, data, meta):
        registry = path.split("/", 1)[0]
        self.registries.add(registry)
        repo = f"{path}/{name}"
        config = canonical({k: meta[k] for k in ("apiVersion", "appVersion", "description", "name", "type",
                                                 "version") if k in meta})
        config_digest, config_size = self.storage.put_bytes(config)
        layer_digest, layer_size = self.storage.put_bytes(data)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": HELM_CONFIG, "digest": config_digest, "size": config_size},
                    "layers": [{"mediaType": HELM_LAYER, "digest": layer_digest, "size": layer_size}],
                    "annotations": {"org.opencontainers.image.title": name,
                                    "org.opencontainers.image.version": version}}
        digest, _ = self.storage.put_bytes(canonical(manifest))
        self.storage.link_blob(repo, config_digest)
        self.storage.link_blob(repo, layer_digest)
        self.storage.link_manifest(repo, digest)
        self.storage.tag(repo, version.replace("+", "_"), digest)

    # -- files --------------------------------------------------------------------------------------

    def write_file(self, url, name):
        if url in self.file_hashes:
            return self.file_hashes[url]
        parts = urlsplit(url)
        self.url_hosts.add(f"{parts.scheme}://{parts.netloc}")
        path = os.path.join(self.files_root, parts.netloc, unquote(parts.path).lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        length = self.sizes[("file", url)]
        digest = hashlib.sha256()
        with open(path + ".tmp", "wb") as f:
            if url.endswith((".yaml", ".yml")):
                line = f"# synthetic stand-in for {url} (ferry mirror harness)\n".encode()
                objects = self.file_objects.get(url)
                head = deployable.render_documents(objects, line.decode().strip("# \n")).encode() if objects else b""
                # Padded with comment lines to the planned size (the objects come first).
                body = head + (line * (max(length - len(head), 0) // len(line) + 1))[:max(length - len(head), 0)]
                digest.update(body)
                f.write(body)
            elif url.endswith((".tar.gz", ".tgz")):
                total, chunks = tar_stream(self.pool, canonical(["file", url]), f"{name}/{name}.bin",
                                           max(length - 1600, 0))
                for _, out in stored_gzip(chunks, total):
                    if out:
                        digest.update(out)
                        f.write(out)
            else:
                for chunk in self.pool.stream(canonical(["file", url]), length):
                    digest.update(chunk)
                    f.write(chunk)
        os.replace(path + ".tmp", path)
        self.file_hashes[url] = (digest.hexdigest(), os.path.getsize(path))
        return self.file_hashes[url]

    # -- overlays -----------------------------------------------------------------------------------

    def manifests_tree(self):
        """vendor-manifests/: symlinks to the real manifests; digest-only references get a mirror tag."""
        tree = os.path.join(self.out, "vendor-manifests")
        shutil.rmtree(tree, ignore_errors=True)
        derived = {}
        self.local_hashes = {}
        for spec in self.specs:
            for comp in spec["components"]:
                target = os.path.join(tree, comp["name"], os.path.basename(comp["manifest_path"]))
                if os.path.lexists(target):
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(comp["manifest_path"]) as f:
                    text = f.read()
                rewritten, count = re.subn(
                    r"^(\s*-\s*ref:\s*)([^\s@:#]+(?:/[^\s@:#]+)*)@sha256:([0-9a-f]{64})",
                    lambda m: f"{m.group(1)}{m.group(2)}:sha256-{m.group(3)}", text, flags=re.M)
                if count:
                    header = (f"# DERIVED by bench/platform/mirror.py from {comp['manifest_path']}:\n"
                              f"# {count} digest-only reference(s) `repo@sha256:HEX` became `repo:sha256-HEX`,\n"
                              "# the tag the synthetic mirror holds them under (a mirror cannot hold content\n"
                              "# under upstream's digest, and `unpinImages` keeps digest-only pins).\n")
                    with open(target, "w") as f:
                        f.write(header + rewritten)
                    derived[comp["name"]] = count
                else:
                    os.symlink(comp["manifest_path"], target)
                # Local files and layouts next to the manifest (e.g. kubeflow/built/).
                src_dir = os.path.dirname(comp["manifest_path"])
                pins = set(re.findall(r"^\s*-\s*ref:\s*([^\s@:#]+(?:/[^\s@:#]+)*@sha256:[0-9a-f]{64})", text, flags=re.M))
                for f in comp["files"]:
                    if not f["local"]:
                        continue
                    first = f["url"].split("/", 1)[0]
                    link = os.path.join(tree, comp["name"], first)
                    if pins and f["url"].endswith((".yaml", ".yaml.gz")) and "/" in f["url"]:
                        # The carried manifest runs the same digest-only pins: give it the mirror's tags too,
                        # in a derived copy whose hash the overlay names.
                        self.derive_local_file(comp, f, src_dir, tree, pins)
                    elif not os.path.lexists(link):
                        os.symlink(os.path.join(src_dir, first), link)
        return derived

    def derive_local_file(self, comp, f, src_dir, tree, pins):
        """A copy of a carried manifest file with `repo@sha256:HEX` pins as `repo:sha256-HEX` (see manifests_tree)."""
        first, rest = f["url"].split("/", 1)
        directory = os.path.join(tree, comp["name"], first)
        if os.path.islink(directory):
            os.unlink(directory)
        os.makedirs(directory, exist_ok=True)
        for entry in os.listdir(os.path.join(src_dir, first)):
            link = os.path.join(directory, entry)
            if not os.path.lexists(link):
                os.symlink(os.path.join(src_dir, first, entry), link)
        source = os.path.join(src_dir, f["url"])
        with open(source, "rb") as fh:
            data = fh.read()
        if source.endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode()
        for pin in pins:
            repo, digest = pin.split("@sha256:")
            text = text.replace(pin, f"{repo}:sha256-{digest}")
        out = text.encode()
        if source.endswith(".gz"):
            out = gzip.compress(out, mtime=0)
        target = os.path.join(tree, comp["name"], f["url"])
        if os.path.lexists(target):
            os.unlink(target)
        with open(target, "wb") as fh:
            fh.write(out)
        self.local_hashes[(comp["name"], comp["version"], f["name"])] = hashlib.sha256(out).hexdigest()

    def overlay(self, spec):
        lines = [
            f"# Written by bench/platform/mirror.py: {spec['name']} {spec['version']} through the synthetic mirror.",
            "# The base is the real spec; manifests come from ../vendor-manifests (symlinks to the real ones,",
            "# see mirror.py); file hashes are the mirror's synthetic content's; tag@digest pins are dropped.",
            "apiVersion: ferry/v1",
            "kind: Bundle",
            f"name: {spec['name']}",
            f"base: {os.path.relpath(spec['path'], os.path.join(self.out, 'bundles'))}",
            "manifests: ../vendor-manifests",
            "components:",
        ]
        for comp in spec["components"]:
            entry = {}
            hashes = {}
            for f in comp["files"]:
                if f["local"]:
                    derived_sha = self.local_hashes.get((comp["name"], comp["version"], f["name"]))
                    if derived_sha:
                        hashes[f["name"]] = derived_sha
                    continue
                sha, _ = self.file_hashes[f["url"]]
                if f["arch"]:
                    hashes.setdefault(f["name"], {})[f["arch"]] = sha
                else:
                    hashes[f["name"]] = sha
            if hashes:
                entry["fileSha256"] = hashes
            if any(normalize_ref(i["ref"])[2] and normalize_ref(i["ref"])[3] for i in comp["images"]):
                entry["unpinImages"] = True
            if entry:
                lines.append(f"  - name: {comp['name']}")
                if entry.get("unpinImages"):
                    lines.append("    unpinImages: true")
                if hashes:
                    lines.append("    fileSha256:")
                    for name in sorted(hashes):
                        lines.append(f"      {json.dumps(name)}: {json.dumps(hashes[name], sort_keys=True)}")
        path = os.path.join(self.out, "bundles", f"{spec['name']}.yaml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    # -- run ----------------------------------------------------------------------------------------

    def run(self):
        os.makedirs(self.out, exist_ok=True)
        for sub in ("files", "vendor-images", "bundles"):
            shutil.rmtree(os.path.join(self.out, sub), ignore_errors=True)
        self.plan()
        derived = self.manifests_tree()
        summary = {"scale": self.args.scale, "other_scale": self.args.other_scale, "specs": {},
                   "derived_manifests": derived}
        for spec in self.specs:
            for comp in spec["components"]:
                for image in comp["images"]:
                    if image["archive"]:
                        self.write_archive(self.archive_path(comp, image), image["source_ref"])
                    else:
                        registry, repository, tag = self.mirror_tag(image)
                        self.registries.add(registry)
                        self.write_image(f"{registry}/{repository}:{tag}")
                for f in comp["files"]:
                    if not f["local"]:
                        self.write_file(f["url"], f["name"])
        self.write_charts()
        self.storage.finish()
        for spec in self.specs:
            summary["specs"][spec["name"]] = self.spec_summary(spec)
        args = [f"{r}=http://{self.args.registry}/{r}" for r in sorted(self.registries)]
        args += [f"{u}={self.args.files_url.rstrip('/')}/{urlsplit(u).netloc}" for u in sorted(self.url_hosts)]
        summary["mirror_args"] = args
        summary["registry_blobs"] = len(self.storage.blobs)
        summary["registry_bytes"] = sum(self.storage.blobs.values())
        summary["files_bytes"] = sum(size for _, size in self.file_hashes.values())
        summary["archive_bytes"] = sum(self.archive_info.values())
        summary["charts"] = {f"{r} {n} {v}": info for (r, n, v), info in sorted(self.chart_info.items())}
        with open(os.path.join(self.out, "mirror-args.txt"), "w") as f:
            f.write("".join(f"--mirror\n{a}\n" for a in args))
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
            f.write("\n")
        return summary

    def spec_summary(self, spec):
        """What locking the overlay must give: counts, and each image's reference and mirror digest."""
        overlay = self.overlay(spec)
        images = {}
        entries = {"images": 0, "charts": 0, "files": 0}
        for comp in spec["components"]:
            refs = set()
            for image in comp["images"]:
                if image["archive"]:
                    refs.add(image["ref"])
                    continue
                registry, repository, tag = self.mirror_tag(image)
                # The reference the lock records: unpinned, or given the mirror tag (digest-only).
                locked = f"{registry}/{repository}:{tag}"
                refs.add(locked)
                images[locked] = self.image_digests[locked]
            entries["images"] += len(refs)
            entries["charts"] += len(comp["charts"])
            entries["files"] += len(comp["files"])
        return {"overlay": overlay, "name": spec["name"], "version": spec["version"],
                "lockfile": os.path.join(self.out, "lockfiles", f"{spec['name']}.lock"),
                "platforms": spec["platforms"], "components": len(spec["components"]),
                "entries": entries, "images": images}


def path_key(out, path):
    return os.path.relpath(path, out)


def write_member(out, name, size, chunks):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uname = info.gname = ""
    out.write(info.tobuf(format=tarfile.USTAR_FORMAT))
    for chunk in chunks:
        out.write(chunk)
    out.write(b"\0" * ((512 - size % 512) % 512))


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            data = files[path]
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def package_dir(directory, name):
    """`helm package`-like: the chart directory under `<name>/`, deterministic."""
    files = {}
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for filename in sorted(names):
            full = os.path.join(root, filename)
            rel = os.path.relpath(full, directory)
            with open(full, "rb") as f:
                files[f"{name}/{rel}"] = f.read()
    return gz(tar_of(files))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--registry", required=True, help="the mirror registry's HOST:PORT (for --mirror flags)")
    parser.add_argument("--files-url", required=True, help="the file server's URL serving OUT/files")
    parser.add_argument("--registry-storage", help="docker-registry storage root (default OUT/registry)")
    parser.add_argument("--scale", type=parse_size, default=parse_size("80MiB"),
                        help="total bytes of the first spec's content (default 80MiB)")
    parser.add_argument("--other-scale", type=float, default=0.2,
                        help="size factor for content only the other specs use (default 0.2)")
    parser.add_argument("--spec", action="append", help="bundle spec (repeatable; default: the two K-PaaS specs)")
    args = parser.parse_args()
    args.spec = args.spec or DEFAULT_SPECS
    summary = Mirror(args).run()
    for name, spec in summary["specs"].items():
        e = spec["entries"]
        print(f"{name} {spec['version']}: {spec['components']} components, {e['images']} images, "
              f"{e['charts']} charts, {e['files']} files; overlay {spec['overlay']}")
    real = sorted(k for k, v in summary["charts"].items() if v["source"] != "synthetic")
    print(f"charts: {len(summary['charts'])}, real ones from the corpus: {', '.join(real) or 'none'}")
    print(f"mirror registry: {summary['registry_blobs']} blobs, {summary['registry_bytes'] / MIB:.1f} MiB; "
          f"files {summary['files_bytes'] / MIB:.1f} MiB; portal archives {summary['archive_bytes'] / MIB:.1f} MiB")


if __name__ == "__main__":
    main()

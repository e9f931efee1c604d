#!/usr/bin/env python3
"""Writes the example's offline "upstream": an OCI image layout with a
multi-arch image and a single-arch image, a Helm chart repository, and two
per-architecture files. Deterministic: the same script writes the same bytes.

Run from anywhere: python3 examples/upstream/generate.py
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def tar_bytes(files):
    """A deterministic tar of {path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            data = files[path]
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if path.startswith("bin/") else 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


class Layout:
    def __init__(self, root):
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "blobs", "sha256"))
        self.entries = []

    def blob(self, data, media_type, **extra):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.root, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        desc = {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
        desc.update(extra)
        return desc

    def json_blob(self, value, media_type, **extra):
        return self.blob(json.dumps(value, sort_keys=True, separators=(",", ":")).encode(), media_type, **extra)

    def image(self, arch, layers):
        layer_descs = []
        diff_ids = []
        for files in layers:
            raw = tar_bytes(files)
            diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
            layer_descs.append(self.blob(gz(raw), "application/vnd.oci.image.layer.v1.tar+gzip"))
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/hello"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        config_desc = self.json_blob(config, "application/vnd.oci.image.config.v1+json")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": layer_descs,
        }
        return self.json_blob(manifest, "application/vnd.oci.image.manifest.v1+json",
                              platform={"architecture": arch, "os": "linux"})

    def name(self, desc, ref):
        entry = {k: v for k, v in desc.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.entries.append(entry)

    def finish(self):
        with open(os.path.join(self.root, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": self.entries}
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump(index, f, sort_keys=True, indent=1)
            f.write("\n")


def main():
    layout = Layout(os.path.join(HERE, "layout"))
    shared = {"etc/hello.txt": b"hello from the example upstream\n"}
    per_arch = []
    for arch in ("amd64", "arm64"):
        binary = {"bin/hello": ("#!/bin/sh\necho hello from linux/%s\n" % arch).encode()}
        per_arch.append(layout.image(arch, [shared, binary]))
    index = layout.json_blob(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": per_arch},
        "application/vnd.oci.image.index.v1+json")
    layout.name(index, "example.local/demo/hello:1.0")
    tools = layout.image("amd64", [shared, {"bin/tool": b"#!/bin/sh\necho tool\n"}])
    layout.name(tools, "example.local/demo/tool:2.1")
    layout.finish()

    charts = os.path.join(HERE, "charts")
    shutil.rmtree(charts, ignore_errors=True)
    os.makedirs(charts)
    chart_files = {
        "hello/Chart.yaml": b"apiVersion: v2\nname: hello\nversion: 0.1.0\nappVersion: \"1.0\"\ndescription: The example's chart\n",
        "hello/values.yaml": b"image:\n  repository: example.local/demo/hello\n  tag: \"1.0\"\nreplicas: 1\n",
        "hello/templates/deployment.yaml": (
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-hello\n"
            b"spec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: hello}\n"
            b"  template:\n    metadata:\n      labels: {app: hello}\n    spec:\n      containers:\n"
            b"        - name: hello\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"),
    }
    archive = gz(tar_bytes(chart_files))
    with open(os.path.join(charts, "hello-0.1.0.tgz"), "wb") as f:
        f.write(archive)
    with open(os.path.join(charts, "index.yaml"), "w") as f:
        f.write("apiVersion: v1\nentries:\n  hello:\n    - name: hello\n      version: 0.1.0\n"
                "      appVersion: \"1.0\"\n      urls: [hello-0.1.0.tgz]\n      digest: %s\n"
                "generated: \"1970-01-01T00:00:00Z\"\n" % hashlib.sha256(archive).hexdigest())

    files = os.path.join(HERE, "files")
    shutil.rmtree(files, ignore_errors=True)
    os.makedirs(files)
    for arch in ("amd64", "arm64"):
        with open(os.path.join(files, "hello-cli-1.0.0-linux-%s" % arch), "w") as f:
            f.write("#!/bin/sh\necho hello-cli 1.0.0 for linux/%s\n" % arch)


if __name__ == "__main__":
    main()

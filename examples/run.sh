#!/usr/bin/env bash
# ferry's main job, end to end, on the example bundle, offline:
# lock --check -> key -> signed build (cold cache) -> verify -> inspect -> unpack -> rebuild (same bytes) -> deploy plan -> in-cluster plan.
# Needs only the Rust toolchain. Output goes to target/example/.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building ferry (release; the first build takes several minutes, later ones seconds)"
cargo build --release --quiet --bin ferry
ferry=target/release/ferry
out=target/example
rm -rf "$out" && mkdir -p "$out"
export FERRY_CACHE_DIR="$out/cache"
export FERRY_SEED_FILE="$out/site.seed"   # the site secret for reproducible chart rendering
spec=examples/bundles/example.yaml

echo "== lock: the committed lockfile must match a fresh resolution"
"$ferry" lock "$spec" --check
echo "== a signing key pair (cosign-compatible; set FERRY_KEY_PASSWORD to encrypt the private key)"
"$ferry" key generate --output-key "$out/cosign.key" --output-pub "$out/cosign.pub"
echo "== build from the lock alone, cold cache, signed"
"$ferry" build "$spec" --locked -o "$out/example.tar" --sign-key "$out/cosign.key"
echo "== verify offline: the signature over the root, every blob re-hashed, nothing missing or extra"
"$ferry" verify "$out/example.tar" --key "$out/cosign.pub"
echo "== inspect"
"$ferry" inspect "$out/example.tar"
echo "== unpack into an OCI image layout any OCI tool reads"
"$ferry" unpack "$out/example.tar" -o "$out/layout" --key "$out/cosign.pub"
echo "== the chart rendered by the Rust Helm engine, and the images it runs (all carried: build checked)"
"$ferry" template examples/upstream/charts/hello-0.1.0.tgz --name hello -n hello --set replicas=2
"$ferry" images examples/upstream/charts/hello-0.1.0.tgz
echo "== what nodes and kubespray need to use the bundle served at 10.0.0.5:5000 (ferry serve)"
"$ferry" serve "$out/example.tar" --key "$out/cosign.pub" --print-config --advertise 10.0.0.5:5000 --config-dir "$out/node-config" --quiet
find "$out/node-config" -type f | sort
echo "== rebuild elsewhere, with another cache and concurrency: same bytes"
FERRY_CACHE_DIR="$out/cache2" "$ferry" build "$spec" --locked -j 1 -o "$out/again/example.tar" --sign-key "$out/cosign.key" --quiet >/dev/null
a=$(sha256sum "$out/example.tar" | cut -d' ' -f1)
b=$(sha256sum "$out/again/example.tar" | cut -d' ' -f1)
if [ "$a" != "$b" ]; then echo "NOT reproducible: $a != $b" >&2; exit 1; fi
root=$("$ferry" inspect "$out/example.tar" --json -q | sed -n 's/^  "root": "\([^"]*\)".*/\1/p')
echo "reproducible: both builds are sha256:$a"
echo "  bundle root $root: the same on every run with this ferry binary (the archive's sha256 also"
echo "  covers the signature, and this script makes a new example key each run)"
echo "== the deploy plan: every step and object ferry deploy would apply, in order (no cluster needed)"
"$ferry" deploy "$out/example.tar" --key "$out/cosign.pub" --plan
echo "== the in-cluster plan: ferry's own image (carried in the bundle) runs the push into Harbor and the deploy as a Job"
"$ferry" deploy "$out/example.tar" --key "$out/cosign.pub" --in-cluster --plan \
  --bundle-url http://10.0.0.5:5000/_ferry/bundle.tar --harbor harbor.harbor.svc:80/example
echo
echo "== made, under $out/:"
echo "  example.tar        the signed bundle (root $root)"
echo "  cosign.key/.pub    the example signing key pair (made by this run; not for real use)"
echo "  layout/            the bundle unpacked as an OCI image layout (skopeo, oras, crane read it)"
echo "  node-config/       kubespray offline variables, containerd hosts.toml and CRI-O mirrors"
echo "  again/example.tar  the rebuild from another cache, byte-identical to example.tar"

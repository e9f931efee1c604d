#!/usr/bin/env bash
# ferry deploy against `kubectl apply --server-side` on the same objects, in one run.
#
# Two workloads: `platform` is the K-PaaS 1.6.2 bundle (bundles/k-paas-container-platform-1.6.2.yaml)
# built through bench/platform/mirror.py's synthetic mirror at a small SCALE (its charts, manifests and
# Kubeflow's built manifest are the real deploy steps; image content is synthetic); `N` is the example
# bundle plus a component of N generated Deployments (running the carried image), Services and ConfigMaps. Both tools apply to a fresh Kubernetes API
# double each (crates/kube-double: no API server can run here), and both are measured twice: the first
# apply and an unchanged re-apply. Printed per run: wall seconds, peak RSS, API requests and writes
# (from the double's request log), and ferry's ratio to kubectl.
#
#   bench/deploy.sh platform [SCALE]   (default 48MiB of synthetic image content)
#   bench/deploy.sh [N]                (N objects of each kind, default 100)
# kubectl gets exactly what ferry applies, from `ferry deploy --plan --output-dir`: one file per step
# in apply order, each step's CRDs in a file of their own that kubectl applies and waits Established
# for first; namespaces are created first (as `--create-namespace` would).
# Note: ferry deploy also waits for readiness (the double's controller makes pods ready after 200 ms),
# keeps Helm and deployment records and a Lease; kubectl apply does none of that, so the comparison
# favours kubectl.
set -euo pipefail
MODE=${1:-100}
source "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || { echo "missing kubectl" >&2; exit 1; }
# FERRY and DOUBLE may name prebuilt binaries; otherwise release builds are made.
if [ -z "${DOUBLE:-}" ]; then
  (cd "$REPO_ROOT" && cargo build --release --quiet --bin ferry && cargo build --release --quiet -p kube-double)
  DOUBLE=$REPO_ROOT/target/release/kube-double
fi
W=$BENCH_DIR/deploy-$MODE
rm -rf "$W" && mkdir -p "$W"
export FERRY_CACHE_DIR=$W/cache FERRY_SEED_FILE=$W/site.seed DOCKER_CONFIG=$W/docker-config
DEPLOY_ARGS=()
if [ "$MODE" = platform ]; then
  SCALE=${2:-48MiB}
  python3 -c 'import yaml' 2>/dev/null || { echo "missing PyYAML (apt-get install python3-yaml)" >&2; exit 1; }
  command -v docker-registry >/dev/null || { echo "missing docker-registry" >&2; exit 1; }
  echo "building the K-PaaS 1.6.2 bundle through the synthetic mirror (SCALE=$SCALE) ..." >&2
  start_registry deploy-mirror
  mkdir -p "$W/mirror/files"
  files_port=$(free_port)
  python3 -m http.server --bind 127.0.0.1 --directory "$W/mirror/files" "$files_port" >"$W/http.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$files_port/" && break; sleep 0.1; done
  python3 "$REPO_ROOT/bench/platform/mirror.py" --out "$W/mirror" --registry "$REG" \
    --files-url "http://127.0.0.1:$files_port" --registry-storage "$BENCH_DIR/registry-deploy-mirror/data" \
    --scale "$SCALE" --spec "$REPO_ROOT/bundles/k-paas-container-platform-1.6.2.yaml" >"$W/mirror.log"
  mapfile -t MIRRORS < "$W/mirror/mirror-args.txt"
  overlay=$W/mirror/bundles/k-paas-container-platform.yaml
  "$FERRY" lock "$overlay" -q "${MIRRORS[@]}" >/dev/null
  "$FERRY" build "$overlay" --locked -o "$W/bench.tar" -q "${MIRRORS[@]}" >/dev/null
  for var in HOST_DOMAIN=k-paas.example.test INGRESS_NGINX_IP=10.0.0.50 K8S_MASTER_NODE_IP=10.0.0.10 \
    K_PAAS_REGISTRY=harbor.k-paas.example.test METALLB_IP_RANGE=10.0.0.50-10.0.0.60 NFS_SERVER_PRIVATE_IP=10.0.0.20; do
    DEPLOY_ARGS+=(--var "$var")
  done
  what="the K-PaaS 1.6.2 platform (synthetic images, SCALE=$SCALE)"
else
  N=$MODE
  cp -r "$REPO_ROOT/examples/." "$W/spec"
  mkdir -p "$W/spec/vendor-manifests/many"
  python3 - "$N" "$W/spec/vendor-manifests/many/objects.yaml" <<'PY'
import sys
n, out = int(sys.argv[1]), sys.argv[2]
docs = []
for i in range(n):
    docs.append(f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: config-{i}, namespace: many}}
data: {{index: "{i}", text: "{'x' * 200}"}}""")
    docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: many, labels: {{app: app-{i}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      containers:
        - name: app
          image: example.local/demo/hello:1.0
          ports: [{{containerPort: 8080}}]
          envFrom: [{{configMapRef: {{name: config-{i}}}}}]""")
    docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: many}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]""")
open(out, "w").write("apiVersion: v1\nkind: Namespace\nmetadata: {name: many}\n---\n" + "\n---\n".join(docs) + "\n")
PY
  sha=$(sha256sum "$W/spec/vendor-manifests/many/objects.yaml" | cut -d' ' -f1)
  cat > "$W/spec/vendor-manifests/many/1.0.0.yaml" <<YAML
apiVersion: ferry/v1
kind: Component
name: many
version: 1.0.0
license: Apache-2.0
description: $N Deployments, Services and ConfigMaps (bench/deploy.sh).
dependencies: [hello]
files:
  - name: objects.yaml
    url: objects.yaml
    sha256: $sha
deploy:
  - manifests: [objects.yaml]
    timeout: 10m
YAML
  cat >> "$W/spec/bundles/example.yaml" <<YAML
  - name: many
    version: 1.0.0
    namespace: many
YAML
  "$FERRY" lock "$W/spec/bundles/example.yaml" --lockfile "$W/bench.lock" -q >/dev/null
  "$FERRY" build "$W/spec/bundles/example.yaml" --locked --lockfile "$W/bench.lock" -o "$W/bench.tar" -q >/dev/null
  what="the example chart + $((3 * N + 1)) manifest objects"
fi
# What ferry applies, step by step, as files kubectl applies in the same order.
"$FERRY" deploy "$W/bench.tar" --insecure-skip-signature --plan --output-dir "$W/steps" "${DEPLOY_ARGS[@]}" -q >/dev/null

start_double() { # NAME -> sets DURL, DKUBE
  local port; port=$(free_port)
  DKUBE=$W/$1.kubeconfig
  "$DOUBLE" --listen "127.0.0.1:$port" --kubeconfig "$DKUBE" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$DKUBE" ] && break; sleep 0.05; done
  DURL=$(grep -m1 'server:' "$DKUBE" | awk '{print $2}')
}
requests() { # -> "requests writes" since the last call, then clears the log
  curl -sk -H 'Authorization: Bearer double-token' "$DURL/_double/requests" >"$W/requests.json"
  curl -sk -X DELETE -H 'Authorization: Bearer double-token' "$DURL/_double/requests" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r), sum(1 for x in r if x["method"] not in ("GET","HEAD")))' "$W/requests.json"
}
measure() { # LABEL CMD... -> prints wall, rss
  shift
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out" 2>&1 || { cat "$W/out" >&2; exit 1; }
  read -r wall rss <"$W/time"
  echo "$wall $rss"
}
# kubectl's run: namespaces first, then each step file in order; a step's CRDs are applied and waited
# for (Established) before the rest, as ferry does.
python3 - "$W/steps" > "$W/namespaces.txt" <<'PY'
import os, sys, yaml
names = set()
for f in sorted(os.listdir(sys.argv[1])):
    for doc in yaml.safe_load_all(open(os.path.join(sys.argv[1], f))):
        if doc and doc.get("metadata", {}).get("namespace"):
            names.add(doc["metadata"]["namespace"])
print("\n".join(sorted(names)))
PY
cat > "$W/kubectl-apply.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
kube=$1 steps=$2 namespaces=$3
while read -r ns; do
  [ -n "$ns" ] || continue
  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}' "$ns" |
    kubectl --kubeconfig "$kube" apply --server-side -f - >/dev/null
done < "$namespaces"
for f in "$steps"/*.yaml; do
  kubectl --kubeconfig "$kube" apply --server-side --force-conflicts -f "$f" >/dev/null
  case $f in *-crds.yaml) kubectl --kubeconfig "$kube" wait --for condition=established --timeout 60s -f "$f" >/dev/null ;; esac
done
SH
files=$(find "$W/steps" -name '*.yaml' | wc -l)
objects=$(cat "$W/steps"/*.yaml | grep -c '^---$' || true)
echo "workload: $what: $objects objects in $files step files; load average $(cut -d' ' -f1 /proc/loadavg)"
start_double ferry; FKUBE=$DKUBE
requests >/dev/null
deploy=("$FERRY" deploy "$W/bench.tar" --insecure-skip-signature --kubeconfig "$FKUBE" "${DEPLOY_ARGS[@]}" -q)
read -r f1 fr1 < <(measure ferry "${deploy[@]}")
read -r fq1 fw1 < <(requests)
read -r f2 fr2 < <(measure ferry "${deploy[@]}")
read -r fq2 fw2 < <(requests)
start_double kubectl; KKUBE=$DKUBE
export HOME=$W/kubectl-home   # a cold discovery cache for kubectl, as ferry has none
requests >/dev/null
read -r k1 kr1 < <(measure kubectl bash "$W/kubectl-apply.sh" "$KKUBE" "$W/steps" "$W/namespaces.txt")
read -r kq1 kw1 < <(requests)
read -r k2 kr2 < <(measure kubectl bash "$W/kubectl-apply.sh" "$KKUBE" "$W/steps" "$W/namespaces.txt")
read -r kq2 kw2 < <(requests)
row() { printf '%-22s %8s s %8s KiB %6s requests %6s writes\n' "$@"; }
row "ferry deploy" "$f1" "$fr1" "$fq1" "$fw1"
row "ferry redeploy" "$f2" "$fr2" "$fq2" "$fw2"
row "kubectl apply --ss" "$k1" "$kr1" "$kq1" "$kw1"
row "kubectl re-apply" "$k2" "$kr2" "$kq2" "$kw2"
python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print(f'ratio (kubectl time / ferry time): first {a/b:.2f}x, unchanged {c/d:.2f}x')" "$k1" "$f1" "$k2" "$f2"

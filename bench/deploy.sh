#!/usr/bin/env bash
# ferry deploy against `kubectl apply --server-side` on the same objects, in one run.
#
# The workload is the example bundle plus a component of N generated objects (Deployments running the
# carried image, Services, ConfigMaps), built here offline. Both tools apply to a fresh Kubernetes API
# double each (crates/kube-double: no API server can run here), and both are measured twice: the first
# apply and an unchanged re-apply. Printed per run: wall seconds, peak RSS, API requests and writes
# (from the double's request log), and ferry's ratio to kubectl.
#
#   bench/deploy.sh [N]      (N objects of each kind, default 100)
# Note: ferry deploy also waits for readiness, keeps Helm and deployment records and a Lease;
# kubectl apply does none of that, so the comparison favours kubectl.
set -euo pipefail
N=${1:-100}
source "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || { echo "missing kubectl" >&2; exit 1; }
# FERRY and DOUBLE may name prebuilt binaries; otherwise release builds are made.
if [ -z "${DOUBLE:-}" ]; then
  (cd "$REPO_ROOT" && cargo build --release --quiet --bin ferry && cargo build --release --quiet -p kube-double)
  DOUBLE=$REPO_ROOT/target/release/kube-double
fi
W=$BENCH_DIR/deploy-$N
rm -rf "$W" && mkdir -p "$W"
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
export FERRY_CACHE_DIR=$W/cache FERRY_SEED_FILE=$W/site.seed
"$FERRY" lock "$W/spec/bundles/example.yaml" --lockfile "$W/bench.lock" -q >/dev/null
"$FERRY" build "$W/spec/bundles/example.yaml" --locked --lockfile "$W/bench.lock" -o "$W/bench.tar" -q >/dev/null
# kubectl gets what ferry applies: the chart rendered by ferry render, and the manifest file as carried.
"$FERRY" render "$W/bench.tar" --insecure-skip-signature -o "$W/rendered" -q >/dev/null
kubectl_files=("$W/spec/vendor-manifests/many/objects.yaml")
while IFS= read -r f; do kubectl_files+=("$f"); done < <(find "$W/rendered" -name '*.yaml' | sort)

start_double() { # NAME -> sets DURL, DKUBE
  local port; port=$(free_port)
  DKUBE=$W/$1.kubeconfig
  "$DOUBLE" --listen "127.0.0.1:$port" --kubeconfig "$DKUBE" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$DKUBE" ] && break; sleep 0.05; done
  DURL=$(grep -m1 'server:' "$DKUBE" | awk '{print $2}')
}
requests() { # -> "requests writes" since the last call, then clears the log
  local j; j=$(curl -sk -H 'Authorization: Bearer double-token' "$DURL/_double/requests")
  curl -sk -X DELETE -H 'Authorization: Bearer double-token' "$DURL/_double/requests" >/dev/null
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(len(r), sum(1 for x in r if x["method"] not in ("GET","HEAD")))' "$j"
}
measure() { # LABEL CMD... -> prints wall, rss
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >"$W/out" 2>&1 || { cat "$W/out" >&2; exit 1; }
  read -r wall rss <"$W/time"
  echo "$wall $rss"
}
objects=$((3 * N + 1))
echo "workload: example chart + $objects manifest objects; load average $(cut -d' ' -f1 /proc/loadavg)"
start_double ferry; FURL=$DURL; FKUBE=$DKUBE
requests >/dev/null
read -r f1 fr1 < <(measure ferry "$FERRY" deploy "$W/bench.tar" --insecure-skip-signature --kubeconfig "$FKUBE" -q)
read -r fq1 fw1 < <(requests)
read -r f2 fr2 < <(measure ferry "$FERRY" deploy "$W/bench.tar" --insecure-skip-signature --kubeconfig "$FKUBE" -q)
read -r fq2 fw2 < <(requests)
start_double kubectl; KKUBE=$DKUBE
requests >/dev/null
args=(); for f in "${kubectl_files[@]}"; do args+=(-f "$f"); done
# The namespaces first, as an operator would (kubectl does not order them).
kubectl --kubeconfig "$KKUBE" create namespace hello >/dev/null 2>&1 || kubectl --kubeconfig "$KKUBE" apply --server-side -f - >/dev/null <<<'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"hello"}}'
kubectl --kubeconfig "$KKUBE" apply --server-side -f - >/dev/null <<<'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"many"}}'
requests >/dev/null
read -r k1 kr1 < <(measure kubectl kubectl --kubeconfig "$KKUBE" apply --server-side --force-conflicts "${args[@]}")
read -r kq1 kw1 < <(requests)
read -r k2 kr2 < <(measure kubectl kubectl --kubeconfig "$KKUBE" apply --server-side --force-conflicts "${args[@]}")
read -r kq2 kw2 < <(requests)
row() { printf '%-22s %8s s %8s KiB %6s requests %6s writes\n' "$@"; }
row "ferry deploy" "$f1" "$fr1" "$fq1" "$fw1"
row "ferry redeploy" "$f2" "$fr2" "$fq2" "$fw2"
row "kubectl apply --ss" "$k1" "$kr1" "$kq1" "$kw1"
row "kubectl re-apply" "$k2" "$kr2" "$kq2" "$kw2"
python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print(f'ratio (kubectl time / ferry time): first {a/b:.2f}x, unchanged {c/d:.2f}x')" "$k1" "$f1" "$k2" "$f2"

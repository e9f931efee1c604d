#!/usr/bin/env bash
# skopeo pulling every image from `ferry serve` vs from docker-registry holding
# the same content, in one run.
# Usage: bench/serve.sh [SCALE]   (default 1.15: 22 images, ~2.15 GB)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
workload "${1:-1.15}"
start_registry serve-source
echo "seeding $REG and building the bundle ..." >&2
seed_registry
out=$BENCH_DIR/serve-out && rm -rf "$out" && mkdir -p "$out"
perf_bundle "$out/perf.tar"
bytes=$(workload_bytes)
port=$(free_port)
"$FERRY" serve "$out/perf.tar" --listen "127.0.0.1:$port" --insecure-skip-signature -q 2>"$out/serve.log" &
PIDS+=($!)
for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

pull_all() { # SOURCE_PREFIX DEST
  while read -r _ repo tag; do
    skopeo copy -q --src-tls-verify=false "docker://$1/$repo:$tag" "oci:$2:$repo:$tag"
  done < "$WORKLOAD/images.tsv"
}
export -f pull_all; export WORKLOAD
echo "== skopeo from docker-registry"
measure from-registry bash -c "pull_all $REG $out/a"; reg_wall=$WALL
echo "== skopeo from ferry serve"
measure from-ferry-serve bash -c "pull_all 127.0.0.1:$port/perf.local $out/b"; serve_wall=$WALL
serve_pid=${PIDS[-1]}
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$serve_pid/status" 2>/dev/null || echo "?")
python3 - <<PY
mb = $bytes / 1e6
r, s = $reg_wall, $serve_wall
print(f"\nworkload: {mb:.0f} MB")
print(f"from docker-registry {r:7.2f} s  {mb/r:6.0f} MB/s")
print(f"from ferry serve     {s:7.2f} s  {mb/s:6.0f} MB/s  (serve peak RSS $rss MB)")
print(f"ratio registry/ferry: {r/s:.2f}x")
PY

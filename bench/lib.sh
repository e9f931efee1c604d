# Shared pieces of the benchmarks: the workload, a docker-registry on
# 127.0.0.1, and a measuring wrapper. Source it; it defines functions only.

BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench}
SHARED=${SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY=${FERRY:-$REPO_ROOT/target/release/ferry}
PIDS=()

cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

need_tools() {
  for tool in docker-registry skopeo python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install docker-registry skopeo time)" >&2; exit 1; }
  done
  [ -d "$SHARED/tools/perf-workload" ] || { echo "missing $SHARED/tools/perf-workload" >&2; exit 1; }
  (cd "$REPO_ROOT" && cargo build --release --quiet --bin ferry)
}

# workload SCALE: generates (once) the deterministic perf workload.
workload() {
  local scale=${1:-1.15}
  WORKLOAD=$BENCH_DIR/workload-$scale
  if [ ! -f "$WORKLOAD/images.tsv" ]; then
    echo "generating the workload (scale $scale) in $WORKLOAD ..." >&2
    python3 "$SHARED/tools/perf-workload/gen_workload.py" "$WORKLOAD" --scale "$scale" >&2
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME: a fresh docker-registry; sets REG (host:port).
start_registry() {
  local dir=$BENCH_DIR/registry-$1 port
  rm -rf "$dir" && mkdir -p "$dir/data"
  port=$(free_port)
  cat > "$dir/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: bench}
YAML
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  PIDS+=($!)
  REG=127.0.0.1:$port
  for _ in $(seq 100); do curl -fs "http://$REG/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "registry did not start: $(tail -5 "$dir/log")" >&2; exit 1
}

# seed_registry: copies every workload image into $REG with skopeo.
seed_registry() {
  while read -r ref repo tag; do
    skopeo copy -q --dest-tls-verify=false "oci:$WORKLOAD/layout:$ref" "docker://$REG/$repo:$tag"
  done < "$WORKLOAD/images.tsv"
}

# measure LABEL CMD...: runs CMD, prints "LABEL wall_s rss_mb" and sets WALL/RSS.
measure() {
  local label=$1; shift
  local out=$BENCH_DIR/time-$label
  /usr/bin/time -f "%e %M" -o "$out" "$@" >/dev/null
  read -r WALL RSS_KB < "$out"
  RSS=$((RSS_KB / 1024))
  printf '%-28s %8.2f s %8d MB peak RSS\n' "$label" "$WALL" "$RSS"
}

# workload_bytes: unique blob bytes of the workload.
workload_bytes() { du -sb "$WORKLOAD/layout/blobs" | cut -f1; }

# perf_spec DIR: a spec listing every workload image as perf.local/<repo>:<tag>.
perf_spec() {
  local dir=$1
  rm -rf "$dir" && mkdir -p "$dir/bundles" "$dir/vendor-manifests/perf"
  {
    echo "apiVersion: ferry/v1"; echo "kind: Component"; echo "name: perf"; echo "version: 1.0.0"
    echo "license: Apache-2.0"; echo "images:"
    while read -r _ repo tag; do echo "  - ref: perf.local/$repo:$tag"; done < "$WORKLOAD/images.tsv"
  } > "$dir/vendor-manifests/perf/1.0.0.yaml"
  printf 'apiVersion: ferry/v1\nkind: Bundle\nname: perf\nplatforms: [linux/amd64]\ncomponents:\n  - {name: perf, version: 1.0.0}\n' > "$dir/bundles/perf.yaml"
}

# perf_bundle OUT: builds the workload's bundle (plain tar) from $REG into OUT.
perf_bundle() {
  local out=$1 spec_dir=$BENCH_DIR/bundle-spec
  perf_spec "$spec_dir"
  FERRY_CACHE_DIR=$BENCH_DIR/bundle-cache "$FERRY" lock "$spec_dir/bundles/perf.yaml" --mirror "perf.local=http://$REG" -q >/dev/null
  FERRY_CACHE_DIR=$BENCH_DIR/bundle-cache "$FERRY" build "$spec_dir/bundles/perf.yaml" --locked --mirror "perf.local=http://$REG" -q -o "$out" >/dev/null
}

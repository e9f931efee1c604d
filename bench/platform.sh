#!/usr/bin/env bash
# The K-PaaS platform at full scale through a synthetic mirror (issue 6, items 4 and 5).
#
# bench/platform/mirror.py populates a docker-registry and an HTTP file server with synthetic content at
# exactly the references the real specs name (bundles/k-paas-container-platform-1.6.2.yaml and
# bundles/paasta-container-platform-1.4.0.yaml), and writes overlays on those specs that point every
# upstream at the mirrors (file hashes replaced and tag@digest pins dropped only there). Then, for 1.6.2:
# lock -> audit (drift against the mirror) -> build (signed) -> verify -> push (into a second, empty
# registry) -> inspect, each measured (wall time and peak RSS); the 1.4.0 lock; `ferry diff` of the two
# locks and `ferry licenses` of 1.6.2; a sample of the pushed images read back with skopeo.
#
# Usage: bench/platform.sh [SCALE]   (default 5.1GiB: the 1.6.2 content, so the bundle is >= 5 GiB)
# Env:   FERRY (default target/debug/ferry, built here unless FERRY_SKIP_BUILD=1),
#        BENCH_DIR (default /tmp/ferry-bench; this bench works in $BENCH_DIR/platform),
#        KEEP=1 keeps everything (default: the mirror's storage is freed once the bundle is built, so a
#        full-scale run needs about 2x SCALE of disk instead of 3x, and the bundle and the pushed copy
#        are removed at the end; the locks, JSON outputs and logs stay).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
FERRY=${FERRY:-$REPO_ROOT/target/debug/ferry}
source "$REPO_ROOT/bench/lib.sh"
SCALE=${1:-5.1GiB}
WORK=$BENCH_DIR/platform
SPEC_162=$REPO_ROOT/bundles/k-paas-container-platform-1.6.2.yaml
SPEC_140=$REPO_ROOT/bundles/paasta-container-platform-1.4.0.yaml

for tool in docker-registry skopeo python3 curl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install docker-registry skopeo curl time)" >&2; exit 1; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "missing PyYAML (python3 -m pip install pyyaml, or apt-get install python3-yaml)" >&2; exit 1; }
if [ -z "${FERRY_SKIP_BUILD:-}" ]; then (cd "$REPO_ROOT" && cargo build --quiet --bin ferry); fi

scale_bytes=$(python3 -B -c "import sys; sys.path.insert(0, '$REPO_ROOT/bench/platform'); import mirror; print(mirror.parse_size('$SCALE'))")
rm -rf "$WORK" && mkdir -p "$WORK"
free=$(df -B1 --output=avail "$WORK" | tail -1)
need=$((scale_bytes * 23 / 10 + (1 << 30)))
if [ "${KEEP:-}" = 1 ]; then need=$((scale_bytes * 33 / 10 + (1 << 30))); fi
if [ "$free" -lt "$need" ]; then
  echo "not enough disk in $WORK: $((free >> 20)) MiB free, about $((need >> 20)) MiB needed for SCALE=$SCALE" >&2
  exit 1
fi

export FERRY_CACHE_DIR=$WORK/cache FERRY_SEED_FILE=$WORK/site.seed FERRY_KEY_PASSWORD=bench-password
export DOCKER_CONFIG=$WORK/docker-config SOURCE_DATE_EPOCH=0
declare -A T R

# step LABEL OUT CMD...: runs CMD with its stdout in OUT; records wall time and peak RSS.
step() {
  local label=$1 out=$2; shift 2
  if ! /usr/bin/time -f "%e %M" -o "$WORK/time-$label" "$@" >"$out" 2>"$WORK/$label.err"; then
    echo "FAILED: $label: $*" >&2; tail -30 "$WORK/$label.err" >&2; exit 1
  fi
  read -r wall rss_kb < <(tail -1 "$WORK/time-$label")
  T[$label]=$wall; R[$label]=$((rss_kb / 1024))
  printf '  %-18s %8.2f s %7d MB peak RSS\n' "$label" "$wall" "${R[$label]}"
}

echo "== mirror: registry + file server, synthetic content at SCALE=$SCALE"
start_registry mirror; MIRROR=$REG
mkdir -p "$WORK/mirror/files"
files_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/mirror/files" "$files_port" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$files_port/" && break; sleep 0.1; done
step generate "$WORK/generate.out" python3 "$REPO_ROOT/bench/platform/mirror.py" --out "$WORK/mirror" \
  --registry "$MIRROR" --files-url "http://127.0.0.1:$files_port" \
  --registry-storage "$BENCH_DIR/registry-mirror/data" --scale "$SCALE"
sed 's/^/    /' "$WORK/generate.out"
mapfile -t MIRRORS < "$WORK/mirror/mirror-args.txt"
OVERLAY_162=$WORK/mirror/bundles/k-paas-container-platform.yaml
OVERLAY_140=$WORK/mirror/bundles/paasta-container-platform.yaml
LOCK_162=$WORK/mirror/lockfiles/k-paas-container-platform.lock
LOCK_140=$WORK/mirror/lockfiles/paasta-container-platform.lock

echo "== ferry (K-PaaS 1.6.2 through the mirror overlay)"
"$FERRY" key generate --output-key "$WORK/cosign.key" --output-pub "$WORK/cosign.pub" -q >/dev/null
step lock-1.6.2 "$WORK/lock-162.json" "$FERRY" lock "$OVERLAY_162" --json -q "${MIRRORS[@]}"
step lock-1.4.0 "$WORK/lock-140.json" "$FERRY" lock "$OVERLAY_140" --json -q "${MIRRORS[@]}"
step audit "$WORK/audit.txt" "$FERRY" audit "$LOCK_162" --spec "$OVERLAY_162" -q "${MIRRORS[@]}"
BUNDLE=$WORK/k-paas-1.6.2.tar
step build "$WORK/build.json" "$FERRY" build "$OVERLAY_162" --locked -o "$BUNDLE" --sign-key "$WORK/cosign.key" \
  --json -q "${MIRRORS[@]}"
step verify "$WORK/verify.json" "$FERRY" verify "$BUNDLE" --key "$WORK/cosign.pub" --json -q
if [ "${KEEP:-}" != 1 ]; then
  # Everything from here on reads the bundle alone: free the mirror's copy of the content.
  kill "${PIDS[0]}" 2>/dev/null || true
  rm -rf "$BENCH_DIR/registry-mirror/data" "$WORK/mirror/files" "$WORK/mirror/vendor-images"
fi
start_registry target; TARGET=$REG
step push "$WORK/push.json" "$FERRY" push "$BUNDLE" --to "$TARGET/k-paas" --key "$WORK/cosign.pub" \
  --image-map "$WORK/image-map.json" --json -q
step inspect "$WORK/inspect.json" "$FERRY" inspect "$BUNDLE" --json -q
step diff "$WORK/diff.txt" "$FERRY" diff "$LOCK_140" "$LOCK_162"
step licenses "$WORK/licenses.txt" "$FERRY" licenses "$SPEC_162"
"$FERRY" diff "$LOCK_140" "$LOCK_162" --json > "$WORK/diff.json"

echo "== the pushed copy, read back with skopeo (every 10th image of the image map)"
python3 - "$WORK/image-map.json" "$LOCK_162" > "$WORK/skopeo-sample.tsv" <<'PY'
import json, sys, tomllib
images = [e for e in json.load(open(sys.argv[1])) if e.get("kind") == "image"]
locked = {i["reference"]: i["digest"] for i in tomllib.load(open(sys.argv[2], "rb"))["image"]}
for entry in images[::10]:
    print(entry["target"], locked[entry["original"]], sep="\t")
PY
checked=0
while IFS=$'\t' read -r target digest; do
  got=$(skopeo inspect --tls-verify=false --raw "docker://$target" | sha256sum | cut -d' ' -f1)
  [ "sha256:$got" = "$digest" ] || { echo "MISMATCH: $target is sha256:$got, the lock says $digest" >&2; exit 1; }
  checked=$((checked + 1))
done < "$WORK/skopeo-sample.tsv"
echo "  $checked pushed images read back with the locked digest"

echo
echo "== ferry licenses $SPEC_162"
cat "$WORK/licenses.txt"
echo
echo "== ferry diff (1.4.0 lock -> 1.6.2 lock): components"
sed -n '/^components:/,/^$/p' "$WORK/diff.txt"

bundle_bytes=$(stat -c %s "$BUNDLE")
python3 - "$WORK" "$bundle_bytes" "$SCALE" <<PY
import json, sys
work, bundle_bytes, scale = sys.argv[1], int(sys.argv[2]), sys.argv[3]
load = lambda name: json.load(open(f"{work}/{name}"))
summary = load("mirror/summary.json")
verify, inspect, push, diff = load("verify.json"), load("inspect.json"), load("push.json"), load("diff.json")
s162 = summary["specs"]["k-paas-container-platform"]["entries"]
s140 = summary["specs"]["paasta-container-platform"]["entries"]
print()
print(f"== summary (SCALE={scale})")
print(f"mirror: {summary['registry_blobs']} registry blobs ({summary['registry_bytes'] / 2**30:.2f} GiB), "
      f"files {summary['files_bytes'] / 2**30:.2f} GiB, portal archives {summary['archive_bytes'] / 2**30:.2f} GiB")
n = lambda key: len(inspect[key])
print(f"1.6.2: {n('components')} components, {n('images')} images, {n('charts')} charts, "
      f"{n('files')} files, {verify['blobs']} blobs; bundle {bundle_bytes / 2**30:.2f} GiB "
      f"({bundle_bytes} bytes){'' if bundle_bytes >= 5 * 2**30 else '  (BELOW 5 GiB)'}")
for label, lock, want in (("1.6.2", load("lock-162.json"), s162), ("1.4.0", load("lock-140.json"), s140)):
    print(f"{label} lock: {lock['images']} images, {lock['charts']} charts, {lock['files']} files "
          f"(the spec names {want['images']}, {want['charts']}, {want['files']}); 0 unresolved")
c = diff["components"]
print(f"diff 1.4.0 -> 1.6.2: components +{len(c['added'])} -{len(c['removed'])} ~{len(c['changed'])}; "
      f"images +{len(diff['images']['added'])} -{len(diff['images']['removed'])} ~{len(diff['images']['changed'])}")
print(f"push: {json.dumps({k: v for k, v in push.items() if not isinstance(v, (list, dict))})}")
PY
echo
echo "audit (1.6.2 lock against the mirror): $(sed -n 2p "$WORK/audit.txt")"
echo
printf '%-12s %10s %12s\n' stage wall_s peak_rss_MB
for s in generate lock-1.6.2 lock-1.4.0 audit build verify push inspect diff licenses; do
  printf '%-12s %10.2f %12d\n' "$s" "${T[$s]}" "${R[$s]}"
done
if [ "${KEEP:-}" != 1 ]; then
  rm -rf "$BUNDLE" "$WORK/cache" "$BENCH_DIR/registry-target/data" "$BENCH_DIR/registry-mirror/data" \
    "$WORK/mirror/registry" "$WORK/mirror/files" "$WORK/mirror/vendor-images"
fi

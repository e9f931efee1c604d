#!/usr/bin/env bash
# ferry build (cold cache) vs skopeo copy docker:// -> oci: for the same
# images from a local docker-registry, in one run; prints wall time, MB/s,
# peak RSS and the ratio. Then a warm-cache build, which must fetch nothing.
# Usage: bench/pull.sh [SCALE]   (default 1.15: 22 images, ~2.15 GB)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
workload "${1:-1.15}"
start_registry pull
echo "seeding $REG with skopeo ..." >&2
seed_registry
bytes=$(workload_bytes)

spec_dir=$BENCH_DIR/pull-spec
perf_spec "$spec_dir"

out=$BENCH_DIR/pull-out && rm -rf "$out" && mkdir -p "$out"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

echo "== skopeo copy docker:// -> oci: (one image after another, as skopeo works)"
cat > "$out/skopeo.sh" <<SH
while read -r _ repo tag; do
  skopeo copy -q --src-tls-verify=false "docker://$REG/\$repo:\$tag" "oci:$out/skopeo-layout:\$repo:\$tag"
done < "$WORKLOAD/images.tsv"
SH
measure skopeo bash "$out/skopeo.sh"; skopeo_wall=$WALL; skopeo_rss=$RSS

echo "== ferry lock + build, cold cache"
export FERRY_CACHE_DIR=$out/cache
mirror=(--mirror "perf.local=http://$REG")
measure ferry-lock "$FERRY" lock "$spec_dir/bundles/perf.yaml" "${mirror[@]}" -q; lock_wall=$WALL
measure ferry-build-cold "$FERRY" build "$spec_dir/bundles/perf.yaml" --locked "${mirror[@]}" -q -o "$out/perf.tar"; build_wall=$WALL; build_rss=$RSS
cold=$(python3 -c "print($lock_wall + $build_wall)")
rm -rf "$out/cache" "$out/perf.tar"
"$FERRY" lock "$spec_dir/bundles/perf.yaml" "${mirror[@]}" -q >/dev/null
sync
measure ferry-build-cold-nodigest "$FERRY" build "$spec_dir/bundles/perf.yaml" --locked "${mirror[@]}" -q --no-archive-digest -o "$out/perf.tar"; nodigest_wall=$WALL

echo "== ferry build again, warm cache (no blob transfer expected)"
"$FERRY" build "$spec_dir/bundles/perf.yaml" --locked "${mirror[@]}" -q --json -o "$out/perf2.tar" > "$out/warm.json"
measure ferry-build-warm "$FERRY" build "$spec_dir/bundles/perf.yaml" --locked "${mirror[@]}" -q -o "$out/perf3.tar"
python3 - "$out/warm.json" <<PY
import json, sys
w = json.load(open(sys.argv[1]))
print(f"warm build fetched {w['blobs_fetched']} blobs / {w['bytes_fetched']} bytes")
PY
cmp -s "$out/perf.tar" "$out/perf2.tar" && echo "cold and warm archives are identical" || echo "ARCHIVES DIFFER"

python3 - <<PY
mb = $bytes / 1e6
s, c, b = $skopeo_wall, $cold, $build_wall
print(f"\nworkload: {mb:.0f} MB of unique blobs")
print(f"skopeo            {s:7.2f} s  {mb/s:7.0f} MB/s  peak RSS {$skopeo_rss} MB")
print(f"ferry lock+build  {c:7.2f} s  {mb/c:7.0f} MB/s  (build alone {b:.2f} s, peak RSS {$build_rss} MB)")
n = $nodigest_wall
print(f"ferry build --no-archive-digest {n:7.2f} s  {mb/n:7.0f} MB/s  (skips the archive file's own sha256; the root digest still identifies the bundle)")
print(f"ratio skopeo/ferry: {s/c:.2f}x (lock+build), {s/b:.2f}x (build alone), {s/n:.2f}x (build --no-archive-digest)")
PY

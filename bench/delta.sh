#!/usr/bin/env bash
# Delta bundle size for a 1.6.1 -> 1.6.2-like upgrade: the "old" release has
# every workload image but the :v5 tags, the "new" one every image but the :v1
# tags, so 4 of 18 images (22%) change, sharing base/runtime layers with the
# rest as real upgrades do. Prints full and delta sizes.
# Usage: bench/delta.sh [SCALE]   (default 1.15)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
workload "${1:-1.15}"
start_registry delta-source
echo "seeding $REG ..." >&2
seed_registry
out=$BENCH_DIR/delta-out && rm -rf "$out" && mkdir -p "$out"
make_spec() { # NAME EXCLUDED_TAG
  local dir=$out/$1
  mkdir -p "$dir/bundles" "$dir/vendor-manifests/perf"
  {
    echo "apiVersion: ferry/v1"; echo "kind: Component"; echo "name: perf"; echo "version: 1.0.0"
    echo "license: Apache-2.0"; echo "images:"
    while read -r _ repo tag; do [ "$tag" = "$2" ] || echo "  - ref: perf.local/$repo:$tag"; done < "$WORKLOAD/images.tsv"
  } > "$dir/vendor-manifests/perf/1.0.0.yaml"
  printf 'apiVersion: ferry/v1\nkind: Bundle\nname: perf\nplatforms: [linux/amd64]\ncomponents:\n  - {name: perf, version: 1.0.0}\n' > "$dir/bundles/perf.yaml"
}
make_spec old v5
make_spec new v1
export FERRY_CACHE_DIR=$out/cache
for release in old new; do
  "$FERRY" lock "$out/$release/bundles/perf.yaml" --mirror "perf.local=http://$REG" -q >/dev/null
  "$FERRY" build "$out/$release/bundles/perf.yaml" --locked --mirror "perf.local=http://$REG" -q -o "$out/$release.tar" >/dev/null
done
measure delta-build "$FERRY" build "$out/new/bundles/perf.yaml" --locked --mirror "perf.local=http://$REG" -q --base "$out/old.tar" -o "$out/delta.tar"
"$FERRY" verify "$out/delta.tar" --insecure-skip-signature --json > "$out/delta.json"
"$FERRY" diff "$out/old.tar" "$out/new.tar" > "$out/diff.txt" || true
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
size = lambda name: os.path.getsize(os.path.join(out, name))
full, delta = size("new.tar"), size("delta.tar")
report = json.load(open(os.path.join(out, "delta.json")))
print(f"\nfull 1.6.2-like bundle: {full/1e6:8.0f} MB")
print(f"delta against 1.6.1:    {delta/1e6:8.0f} MB  ({100*delta/full:.0f}% of full; {report['blobs_from_base']} blobs left to the base)")
PY
tail -5 "$out/diff.txt"

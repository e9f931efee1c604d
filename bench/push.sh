#!/usr/bin/env bash
# ferry push vs skopeo copy oci: -> docker:// of the same images into an empty
# docker-registry, in one run; the registry's own ingest limit (parallel curl
# uploads of the same blobs); and a second push when everything is present.
# Usage: bench/push.sh [SCALE]   (default 1.15: 22 images, ~2.15 GB)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
workload "${1:-1.15}"
start_registry push-source
echo "seeding $REG and building the bundle ..." >&2
seed_registry
out=$BENCH_DIR/push-out && rm -rf "$out" && mkdir -p "$out"
perf_bundle "$out/perf.tar"
bytes=$(workload_bytes)

echo "== skopeo copy oci: -> docker:// (one image after another)"
start_registry push-skopeo; skopeo_reg=$REG
cat > "$out/skopeo.sh" <<SH
while read -r ref repo tag; do
  skopeo copy -q --dest-tls-verify=false "oci:$WORKLOAD/layout:\$ref" "docker://$skopeo_reg/\$repo:\$tag"
done < "$WORKLOAD/images.tsv"
SH
measure skopeo-push bash "$out/skopeo.sh"; skopeo_wall=$WALL

echo "== registry ingest limit: parallel curl uploads of the same blobs"
start_registry push-curl; curl_reg=$REG
cat > "$out/curl-one.sh" <<'SH'
#!/bin/bash
reg=$1; blob=$2; digest=sha256:$(basename "$blob")
loc=$(curl -s -D - -o /dev/null -X POST "http://$reg/v2/ingest/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case "$loc" in http*) ;; *) loc="http://$reg$loc" ;; esac
curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$blob" "$loc&digest=$digest" >/dev/null
SH
chmod +x "$out/curl-one.sh"
measure curl-ingest bash -c "ls $WORKLOAD/layout/blobs/sha256/* | xargs -P 4 -n 1 $out/curl-one.sh $curl_reg"; curl_wall=$WALL

echo "== ferry push (verifies the bundle first)"
start_registry push-ferry; ferry_reg=$REG
measure ferry-push "$FERRY" push "$out/perf.tar" --to "$ferry_reg" --insecure-skip-signature --image-map "$out/map.json" -q; ferry_wall=$WALL; ferry_rss=$RSS
measure ferry-repush "$FERRY" push "$out/perf.tar" --to "$ferry_reg" --insecure-skip-signature --image-map "$out/map.json" -q; repush_wall=$WALL
"$FERRY" push "$out/perf.tar" --to "$ferry_reg" --insecure-skip-signature --image-map "$out/map.json" --json > "$out/repush.json"

python3 - "$out/repush.json" <<PY
import json, sys
r = json.load(open(sys.argv[1]))
mb = $bytes / 1e6
s, f, c = $skopeo_wall, $ferry_wall, $curl_wall
print(f"\nworkload: {mb:.0f} MB of unique blobs")
print(f"skopeo push        {s:7.2f} s  {mb/s:6.0f} MB/s")
print(f"curl ingest limit  {c:7.2f} s  {mb/c:6.0f} MB/s  (4 parallel uploads)")
print(f"ferry push         {f:7.2f} s  {mb/f:6.0f} MB/s  peak RSS {$ferry_rss} MB (includes the verify pass)")
print(f"ratio skopeo/ferry: {s/f:.2f}x; ferry reaches {100*c/f:.0f}% of the registry's ingest limit")
print(f"re-push, all present: {$repush_wall:.2f} s wall (process); of which verifying the bundle {r['verify_seconds']:.2f} s and the push itself {r['push_seconds']:.3f} s; uploaded {r['blobs_uploaded']} blobs, wrote {r['manifests_pushed']} manifests")
PY

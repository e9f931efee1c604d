#!/usr/bin/env bash
# Bytes a push sends again after it was stopped mid-blob, straight to a
# docker-registry: RUNS times each, SIGKILL and SIGTERM once the registry holds
# THRESHOLD bytes of open uploads, then a rerun with --json (bytes_resumed).
# Usage: bench/push_kill.sh BUNDLE [RUNS] [CHUNK_MIB] [THRESHOLD_MIB]
# (FERRY=path/to/ferry to use a given binary; default: a release build.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v docker-registry >/dev/null || { echo "missing docker-registry" >&2; exit 1; }
[ -x "$FERRY" ] || (cd "$REPO_ROOT" && cargo build --release --quiet --bin ferry)
bundle=$1; runs=${2:-5}; chunk=${3:-4}; threshold=$((${4:-12} << 20))
out=$BENCH_DIR/push-kill && rm -rf "$out" && mkdir -p "$out"
held() { find "$1" -path '*/_uploads/*/data' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
for sig in KILL TERM; do
  for run in $(seq "$runs"); do
    start_registry "kill-$sig-$run"; data=$BENCH_DIR/registry-kill-$sig-$run/data
    cache=$out/cache-$sig-$run
    FERRY_CACHE_DIR=$cache "$FERRY" push "$bundle" --to "$REG" --insecure-skip-signature \
      --image-map "$out/map.json" -q -j 1 --chunk-size "${chunk}MiB" 2>/dev/null &
    pid=$!
    while [ "$(held "$data")" -lt "$threshold" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.003; done
    kill "-$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    at_stop=$(held "$data")
    FERRY_CACHE_DIR=$cache "$FERRY" push "$bundle" --to "$REG" --insecure-skip-signature \
      --image-map "$out/map.json" --json -j 1 --chunk-size "${chunk}MiB" 2>/dev/null > "$out/rerun.json"
    python3 - "$out/rerun.json" "$sig" "$run" "$at_stop" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
held = int(sys.argv[4])
print(f"SIG{sys.argv[2]:<4} run {sys.argv[3]}: registry held {held/2**20:6.1f} MiB at exit; "
      f"rerun resumed {r['bytes_resumed']/2**20:6.1f} MiB, sent again {max(held - r['bytes_resumed'], 0)/2**20:6.1f} MiB")
PY
  done
done

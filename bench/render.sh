#!/usr/bin/env bash
# Chart rendering benchmark: ferry-helm's in-process load+render time per chart of the corpus
# versus the real Helm's (shared/tools/helm-template --bench N, also in-process load+render).
#
#   bench/render.sh [N]        N renders per chart and tool (default 10); one run each
#
# Prints per-chart seconds per render (ferry: mean of N after one warm-up; helm: its median)
# and the ratio helm/ferry (how many times faster ferry is). Goal: ferry >= 5x faster.
set -euo pipefail
N=${1:-10}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
SHARED=${SHARED:-$(cd "$root/.." && pwd)/shared}
CHARTS=$SHARED/corpus/charts
HELM=$SHARED/tools/helm-template
[ -d "$CHARTS" ] || { echo "missing $CHARTS" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet -p ferry-helm --example render_bench)
FERRY=$CARGO_TARGET_DIR/release/examples/render_bench

printf '%-34s %12s %12s %8s\n' chart ferry_s helm_s ratio
for dir in "$CHARTS"/*/; do
  chart=$(basename "$dir")
  f=$("$FERRY" "$dir" --name rel -n ns --bench "$N")
  h=$("$HELM" "$dir" --name rel -n ns --bench "$N" | sed -n 's/.*median \([0-9.e+-]*\) s.*/\1/p')
  ratio=$(python3 -c "print(f'{float($h)/float($f):.2f}x')")
  printf '%-34s %12.6f %12.6f %8s\n' "$chart" "$f" "$h" "$ratio"
done

#!/usr/bin/env bash
# Chart rendering benchmark: ferry-helm's in-process load+render time per chart of the corpus
# versus the real Helm's (shared/tools/helm-template --bench N, also in-process load+render).
#
#   [FERRY=BIN] bench/render.sh [N] [ROUNDS]   at least N renders per chart, tool and round (default 20);
#                                   ROUNDS alternating ferry/helm rounds per chart (default 3)
#
# Small charts render in a fraction of a millisecond, so N renders of them last a few
# milliseconds, shorter than the slow spells of a shared virtual machine (a vCPU runs at about
# two thirds of its speed for tens to hundreds of milliseconds at a time). So each chart gets
# enough renders for ferry's rounds to last about BUDGET seconds (default 0.1; at most 2000
# renders), estimated from a short probe, and both tools get the same count.
#
# Prints per-chart seconds per render: ferry's median of the renders after one cold render,
# ferry's cold (first) render, and helm's median; then helm/ferry for both. With several rounds, each
# column is the median of the rounds' figures: the tools take turns, so a noisy neighbour on a
# shared machine hits both alike. ferry keeps generated RSA keys and bcrypt hashes in a
# process-wide cache keyed by the deterministic generator's state, so only its cold render pays
# for them (charts using genCA/htpasswd: chaos-mesh, harbor).
# Floor (issue 14): every chart >= 2x faster than Helm warm, and the cold render no slower
# than Helm warm (cold_ratio >= 1).
set -euo pipefail
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work skews both columns)"
N=${1:-20}
ROUNDS=${2:-3}
BUDGET=${BUDGET:-0.1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
SHARED=${SHARED:-$(cd "$root/.." && pwd)/shared}
CHARTS=$SHARED/corpus/charts
HELM=$SHARED/tools/helm-template
[ -d "$CHARTS" ] || { echo "missing $CHARTS" >&2; exit 1; }
# FERRY=path/to/render_bench times that build instead (e.g. a copy of an older one)
if [ -z "${FERRY:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
  (cd "$root" && cargo build --release --quiet -p ferry-helm --example render_bench)
  FERRY=$CARGO_TARGET_DIR/release/examples/render_bench
fi

printf '%-34s %6s %10s %10s %10s %8s %8s\n' chart n ferry_s ferry_cold helm_s ratio cold_ratio
median() { python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
for dir in "$CHARTS"/*/; do
  chart=$(basename "$dir")
  read -r probe _ < <("$FERRY" "$dir" --name rel -n ns --bench 5)
  n=$(python3 -c "import math; print(min(2000, max($N, math.ceil($BUDGET / max(float('$probe'), 1e-6)))))")
  fs=() fcs=() hs=()
  for _ in $(seq "$ROUNDS"); do
    read -r f fc < <("$FERRY" "$dir" --name rel -n ns --bench "$n")
    h=$("$HELM" "$dir" --name rel -n ns --bench "$n" | sed -n 's/.*median \([0-9.e+-]*\) s.*/\1/p')
    fs+=("$f") fcs+=("$fc") hs+=("$h")
  done
  f=$(median "${fs[@]}") fc=$(median "${fcs[@]}") h=$(median "${hs[@]}")
  ratio=$(python3 -c "print(f'{float($h)/float($f):.2f}x')")
  cratio=$(python3 -c "print(f'{float($h)/float($fc):.2f}x')")
  printf '%-34s %6d %10.6f %10.6f %10.6f %8s %8s\n' "$chart" "$n" "$f" "$fc" "$h" "$ratio" "$cratio"
done

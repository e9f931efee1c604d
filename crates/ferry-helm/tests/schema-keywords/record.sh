#!/usr/bin/env bash
# Records what the real Helm (v4.2.3, /work/shared/tools/helm-template) prints for each test
# chart here and each of its values files, into expected.txt. Run from anywhere:
#   crates/ferry-helm/tests/schema-keywords/record.sh
# A chart DIR is run once per file in DIR.values/ (`-f FILE`), or once with its own values when
# it has no DIR.values/. Each case is written as
#   === CHART CASE           (CASE: the values file's name, or `-`)
#   $ COMMAND                (the command line, from the repository root)
#   OUTPUT                   (what `helm template` printed: the manifests, or the error message)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
helm=${HELM_TEMPLATE:-/work/shared/tools/helm-template}
rel=${here#"$repo"/}
out=$here/expected.txt
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# Printed by the real Helm (v4.2.3 via $helm); regenerate with $rel/record.sh."
  echo "# Lines after '\$ ' are the commands (from the repository root); the rest is Helm's output:"
  echo "# the rendered manifests, or the error message (the HelmValuesError text)."
  for chart in "$here"/*/; do
    chart=${chart%/}
    name=$(basename "$chart")
    [[ $name == *.values ]] && continue
    [[ -f $chart/Chart.yaml ]] || continue
    cases=("-")
    if [[ -d $chart.values ]]; then
      cases=()
      for f in "$chart.values"/*.json; do cases+=("$(basename "$f")"); done
    fi
    for case in "${cases[@]}"; do
      args=("$rel/$name")
      [[ $case != - ]] && args+=(-f "$rel/$name.values/$case")
      echo "=== $name $case"
      echo "\$ /work/shared/tools/helm-template ${args[*]}"
      if (cd "$repo" && "$helm" "${args[@]}") >"$tmp" 2>"$tmp.err"; then
        cat "$tmp"
      else
        # The message of the Python exception (the last lines of the traceback).
        sed -n '/^helm_python\.errors\.[A-Za-z]*: /,$p' "$tmp.err" | sed 's/^helm_python\.errors\.[A-Za-z]*: //'
      fi
      rm -f "$tmp.err"
    done
  done
} >"$out"
echo "wrote $out"

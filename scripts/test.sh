#!/usr/bin/env bash
# The whole test suite: installs its own test dependencies (Debian's
# docker-registry and skopeo, htpasswd, openssl, jq), then checks formatting,
# lints and runs every test of the workspace against real registries.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils openssl:openssl curl:curl jq:jq umoci:umoci; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if ((${#need[@]})); then
  echo "installing test dependencies: ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -d ../shared ]; then
  echo "WARNING: ../shared is absent: the conformance and corpus tests will FAIL (they need it)." >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet

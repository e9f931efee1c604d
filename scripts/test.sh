#!/usr/bin/env bash
# The whole test suite: installs its own test dependencies (Debian's
# docker-registry and skopeo, htpasswd, openssl, jq, umoci; Python tools in
# target/test-venv), then checks formatting,
# lints and runs every test of the workspace against real registries.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils openssl:openssl curl:curl jq:jq umoci:umoci python3:python3-pip; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if ((${#need[@]})); then
  echo "installing test dependencies: ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Python test tools live in a virtual environment of the project's own (target/test-venv),
# first on PATH for the tests: CycloneDX's schema validator (tests/audit.rs), PyYAML (the
# platform mirror generator, tests/platform_mirror.rs) and PyPI's oras, an independent OCI
# client (tests/registry_verify.rs).
venv=target/test-venv
if [ ! -x "$venv/bin/python3" ]; then
  echo "creating $venv (the Python test tools)"
  mkdir -p target
  if ! python3 -m venv "$venv" 2>/dev/null; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv" && python3 -m venv "$venv"
  fi
fi
if ! "$venv/bin/python3" -c 'import cyclonedx.validation.json, jsonschema, yaml, oras.client' >/dev/null 2>&1; then
  echo "installing into $venv: cyclonedx-python-lib[validation], pyyaml, oras"
  "$venv/bin/python3" -m pip install -q 'cyclonedx-python-lib[validation]' pyyaml oras
fi
export PATH="$PWD/$venv/bin:$PATH"
if [ ! -d ../shared ]; then
  echo "WARNING: ../shared is absent: the conformance and corpus tests will FAIL (they need it)." >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet

#!/usr/bin/env bash
# The whole test suite: installs its own test dependencies (Debian's
# docker-registry and skopeo, htpasswd, openssl, jq), then checks formatting,
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
# The CycloneDX 1.5 schema validator the SBOM tests use (tests/audit.rs).
if ! python3 -c 'import cyclonedx.validation.json, jsonschema' >/dev/null 2>&1; then
  echo "installing cyclonedx-python-lib[validation] (the SBOM schema validator)"
  python3 -m pip install -q 'cyclonedx-python-lib[validation]' ||
    python3 -m pip install -q --break-system-packages 'cyclonedx-python-lib[validation]' ||
    echo "WARNING: cannot install cyclonedx-python-lib[validation]: the SBOM test in tests/audit.rs will FAIL." >&2
fi
# PyYAML for the platform mirror generator (bench/platform/mirror.py, tests/platform_mirror.rs).
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing PyYAML (the platform mirror generator)"
  python3 -m pip install -q pyyaml ||
    python3 -m pip install -q --break-system-packages pyyaml ||
    echo "WARNING: cannot install PyYAML: tests/platform_mirror.rs will FAIL." >&2
fi
# PyPI's oras, an independent OCI client (tests/registry_verify.rs pulls a pushed file with it).
if ! python3 -c 'import oras.client' >/dev/null 2>&1; then
  echo "installing oras (PyPI's OCI registry client)"
  python3 -m pip install -q oras ||
    python3 -m pip install -q --break-system-packages oras ||
    echo "WARNING: cannot install oras: tests/registry_verify.rs will FAIL." >&2
fi
if [ ! -d ../shared ]; then
  echo "WARNING: ../shared is absent: the conformance and corpus tests will FAIL (they need it)." >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet

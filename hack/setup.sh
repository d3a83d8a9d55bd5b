#!/usr/bin/env bash
# Prepares a fresh Debian (bookworm) machine to run rollgate's e2e tests:
# installs Prometheus and Alertmanager from Debian, the image tools (buildah,
# skopeo, umoci, the distribution registry, musl), the musl Rust target and
# cargo-cyclonedx, then builds (or reuses the cached) Kubernetes control plane
# and kwok via hack/platform/build.sh.
# Safe to run again: it installs only what is missing and the build is cached.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian package -> a file it installs that the harness uses.
declare -A packages=(
  [prometheus]=/usr/bin/prometheus
  [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
  [ca-certificates]=/etc/ssl/certs/ca-certificates.crt
  [util-linux]=/usr/bin/flock
  # The image (hack/image, hack/release) and its tests: built without a daemon, pushed to a
  # local registry, unpacked and run under chroot.
  [buildah]=/usr/bin/buildah
  [skopeo]=/usr/bin/skopeo
  [umoci]=/usr/bin/umoci
  [docker-registry]=/usr/bin/docker-registry
  [musl-tools]=/usr/bin/musl-gcc
  # tmux: the terminal test of `rollgate status --watch` and `list --watch` (capture-pane).
  [tmux]=/usr/bin/tmux
)

missing=()
for pkg in "${!packages[@]}"; do
  [[ -e "${packages[$pkg]}" ]] || missing+=("$pkg")
done

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}" >&2
  # The harness runs its own Prometheus and Alertmanager on free ports; keep
  # the packages' services from starting on the default ports (9090, 9093,
  # 9100) by refusing service starts while we install.
  policy=/usr/sbin/policy-rc.d
  added_policy=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    added_policy=1
  fi
  remove_policy() { if [[ -n "$added_policy" ]]; then $sudo rm -f "$policy"; fi; }
  trap remove_policy EXIT
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  remove_policy
  trap - EXIT
fi

# On machines with a service manager the packages may still have started
# their daemons (e.g. installed earlier without this script): stop them.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  if [[ -x "/etc/init.d/$svc" ]] && $sudo "/etc/init.d/$svc" status >/dev/null 2>&1; then
    echo "setup.sh: stopping the $svc service (the harness runs its own)" >&2
    $sudo "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done

echo "setup.sh: $(/usr/bin/prometheus --version 2>&1 | head -1)" >&2
echo "setup.sh: $(/usr/bin/prometheus-alertmanager --version 2>&1 | head -1)" >&2

if ! command -v go >/dev/null; then
  echo "setup.sh: Go is required to build the control plane (see docs/PLATFORM.md)" >&2
  exit 1
fi
# lupa (a Lua runtime from PyPI) runs the Argo CD health checks of docs/GITOPS.md in the tests.
if ! python3 -c "import lupa" 2>/dev/null; then
  echo "setup.sh: installing lupa==2.8 from PyPI" >&2
  python3 -m pip install --quiet "lupa==2.8"
fi

# The image's binary is linked statically against musl (docs/IMAGE.md).
if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  echo "setup.sh: adding the Rust target x86_64-unknown-linux-musl" >&2
  rustup target add x86_64-unknown-linux-musl
fi
# The release bundle's SBOM (hack/release), from the pinned version of the CycloneDX tool.
cyclonedx_version=0.5.9
if [[ "$(cargo cyclonedx --version 2>/dev/null)" != *" $cyclonedx_version" ]]; then
  echo "setup.sh: installing cargo-cyclonedx $cyclonedx_version" >&2
  cargo install --quiet --locked cargo-cyclonedx --version "$cyclonedx_version"
fi

# helm (for the chart tests), from its pinned Go module, cached the same way.
"$repo/hack/platform/helm/build.sh" >/dev/null
# krew (installs the release bundle's plugin manifest in the tests), the same way.
"$repo/hack/platform/krew/build.sh" >/dev/null
# The platform's external metrics API (for the HPA) and the Gateway API CRDs, the same way.
"$repo/hack/platform/prometheus-adapter/build.sh" >/dev/null
"$repo/hack/platform/gateway-api/fetch.sh" >/dev/null
exec "$repo/hack/platform/build.sh"

#!/usr/bin/env bash
# Fetches the Gateway API standard-channel CRDs from the Go module pinned in
# hack/platform/gateway-api/go.{mod,sum} (through the Go module proxy, checked
# against go.sum) into the content-addressed cache shared with
# hack/platform/build.sh:
#
#   ${ROLLGATE_CACHE:-$HOME/.cache/rollgate}/gateway-api-<version>-<hash>/crds/*.yaml
#
# Only the CustomResourceDefinitions: the channel's ValidatingAdmissionPolicy
# (safe-upgrades) guards CRD upgrades, not routes, and would sit in front of
# every CRD write of the suite. The last line on stdout is the crds dir.
# Do not `go mod tidy` here: nothing imports the module, tidy would drop it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local
go_version="$(go version)"
version="$(awk '$1 == "require" && $2 == "sigs.k8s.io/gateway-api" {print $3}' "$here/go.mod")"
if [[ -z "$version" ]]; then
  echo "gateway-api/fetch.sh: cannot find the sigs.k8s.io/gateway-api pin in $here/go.mod" >&2
  exit 1
fi
hash="$({ cat "$here/go.mod" "$here/go.sum" "${BASH_SOURCE[0]}"; echo "$go_version"; } | sha256sum | cut -c1-16)"
cache="${ROLLGATE_CACHE:-$HOME/.cache/rollgate}"
out="$cache/gateway-api-$version-$hash"
if [[ -f "$out/complete" ]]; then
  echo "$out/crds"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/gateway-api-fetch.lock"
flock 9
if [[ ! -f "$out/complete" ]]; then
  echo "gateway-api/fetch.sh: fetching sigs.k8s.io/gateway-api $version into $out" >&2
  module_dir="$(cd "$here" && go mod download -json sigs.k8s.io/gateway-api | awk -F'"' '$2 == "Dir" {print $4}')"
  rm -rf "$out"
  mkdir -p "$out/crds.partial"
  for crd in "$module_dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    [[ "$crd" == *_vap_* ]] || cp "$crd" "$out/crds.partial/"
  done
  chmod u+w "$out/crds.partial"/*
  mv "$out/crds.partial" "$out/crds"
  printf 'gateway-api=%s\n' "$version" >"$out/complete"
fi
echo "$out/crds"

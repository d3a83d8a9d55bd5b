#!/usr/bin/env bash
# Builds helm from the Go module pinned in hack/platform/helm/go.{mod,sum} into
# the same content-addressed cache as hack/platform/build.sh:
#
#   ${ROLLGATE_CACHE:-$HOME/.cache/rollgate}/helm-<helm version>-<hash>/bin/helm
#
# The hash covers go.mod, go.sum, this script and `go version`; an unchanged pin
# reuses the finished build (marked by a stamp file). Progress goes to stderr;
# the last line on stdout is the bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export GOTOOLCHAIN=local CGO_ENABLED=0
go_version="$(go version)"

# `require helm.sh/helm/v3 vX` (one line) or inside a `require (...)` block.
helm_version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "helm.sh/helm/v3") print $(i + 1) }' "$here/go.mod" | head -1)"
if [[ -z "$helm_version" ]]; then
  echo "helm/build.sh: cannot find the helm.sh/helm/v3 pin in $here/go.mod" >&2
  exit 1
fi

hash="$(
  {
    cat "$here/go.mod" "$here/go.sum" "${BASH_SOURCE[0]}"
    echo "$go_version"
  } | sha256sum | cut -c1-16
)"
cache="${ROLLGATE_CACHE:-$HOME/.cache/rollgate}"
out="$cache/helm-$helm_version-$hash"
bin="$out/bin"
stamp="$out/complete"

if [[ -f "$stamp" && -x "$bin/helm" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
# Several test processes may ask at once: one builds, the others wait.
exec 9>"$cache/helm-build.lock"
flock 9
if [[ -f "$stamp" && -x "$bin/helm" ]]; then
  echo "$bin"
  exit 0
fi

staging="$out/bin.partial"
rm -rf "$staging" "$bin" "$stamp"
mkdir -p "$staging"

started=$SECONDS
echo "helm/build.sh: building helm $helm_version into $out ($go_version)" >&2
(
  cd "$here"
  # `helm version` reports the pin instead of v3.x-dev.
  go build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    -o "$staging/helm" helm.sh/helm/v3/cmd/helm
)
mv "$staging" "$bin"
{
  echo "helm=$helm_version"
  echo "go=$go_version"
  echo "seconds=$((SECONDS - started))"
} >"$stamp"
echo "helm/build.sh: done in $((SECONDS - started))s" >&2
echo "$bin"

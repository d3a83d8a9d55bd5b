#!/usr/bin/env bash
# Builds prometheus-adapter from the Go module pinned in
# hack/platform/prometheus-adapter/go.{mod,sum} into the content-addressed cache
# shared with hack/platform/build.sh:
#
#   ${ROLLGATE_CACHE:-$HOME/.cache/rollgate}/prometheus-adapter-<version>-<hash>/bin/prometheus-adapter
#
# Same scheme as hack/platform/krew/build.sh: the hash covers go.mod, go.sum,
# this script and `go version`; a stamp file marks a finished build. Its own
# module: it wants k8s.io/* v0.30 and must not share a build list with
# Kubernetes. Progress goes to stderr; the last line on stdout is the bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local CGO_ENABLED=0
go_version="$(go version)"
version="$(awk '$1 == "require" && $2 == "sigs.k8s.io/prometheus-adapter" {print $3}' "$here/go.mod")"
if [[ -z "$version" ]]; then
  echo "prometheus-adapter/build.sh: cannot find the sigs.k8s.io/prometheus-adapter pin in $here/go.mod" >&2
  exit 1
fi
hash="$({ cat "$here/go.mod" "$here/go.sum" "${BASH_SOURCE[0]}"; echo "$go_version"; } | sha256sum | cut -c1-16)"
cache="${ROLLGATE_CACHE:-$HOME/.cache/rollgate}"
out="$cache/prometheus-adapter-$version-$hash"
if [[ -f "$out/complete" && -x "$out/bin/prometheus-adapter" ]]; then
  echo "$out/bin"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/prometheus-adapter-build.lock"
flock 9
if [[ ! -f "$out/complete" ]]; then
  started=$SECONDS
  echo "prometheus-adapter/build.sh: building prometheus-adapter $version into $out ($go_version)" >&2
  rm -rf "$out"
  mkdir -p "$out/bin.partial"
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out/bin.partial/prometheus-adapter" \
    sigs.k8s.io/prometheus-adapter/cmd/adapter)
  mv "$out/bin.partial" "$out/bin"
  printf 'prometheus-adapter=%s\ngo=%s\nseconds=%s\n' "$version" "$go_version" "$((SECONDS - started))" >"$out/complete"
  echo "prometheus-adapter/build.sh: done in $((SECONDS - started))s" >&2
fi
echo "$out/bin"

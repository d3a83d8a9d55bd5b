#!/usr/bin/env bash
# Builds krew from the Go module pinned in hack/platform/krew/go.{mod,sum} into
# the content-addressed cache shared with hack/platform/build.sh:
#
#   ${ROLLGATE_CACHE:-$HOME/.cache/rollgate}/krew-<version>-<hash>/bin/krew
#
# Same scheme as hack/platform/helm/build.sh: the hash covers go.mod, go.sum,
# this script and `go version`; a stamp file marks a finished build. Progress
# goes to stderr; the last line on stdout is the bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local CGO_ENABLED=0
go_version="$(go version)"
version="$(awk '$1 == "require" && $2 == "sigs.k8s.io/krew" {print $3}' "$here/go.mod")"
hash="$({ cat "$here/go.mod" "$here/go.sum" "${BASH_SOURCE[0]}"; echo "$go_version"; } | sha256sum | cut -c1-16)"
cache="${ROLLGATE_CACHE:-$HOME/.cache/rollgate}"
out="$cache/krew-$version-$hash"
if [[ -f "$out/complete" && -x "$out/bin/krew" ]]; then
  echo "$out/bin"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/krew-build.lock"
flock 9
if [[ ! -f "$out/complete" ]]; then
  started=$SECONDS
  echo "krew/build.sh: building krew $version into $out ($go_version)" >&2
  rm -rf "$out"
  mkdir -p "$out/bin.partial"
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out/bin.partial/krew" sigs.k8s.io/krew/cmd/krew)
  mv "$out/bin.partial" "$out/bin"
  printf 'krew=%s\ngo=%s\nseconds=%s\n' "$version" "$go_version" "$((SECONDS - started))" >"$out/complete"
  echo "krew/build.sh: done in $((SECONDS - started))s" >&2
fi
echo "$out/bin"

#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the Go modules pinned in
# hack/platform/{k8s,kwok}/go.{mod,sum} into a content-addressed cache dir:
#
#   ${ROLLGATE_CACHE:-$HOME/.cache/rollgate}/platform-<k8s version>-<hash>/bin
#
# The hash covers both modules' go.mod and go.sum, this script and `go version`,
# so changing a pin (or the toolchain) builds into a new dir; an unchanged pin
# reuses the finished build (marked by a stamp file). Progress goes to stderr;
# the last line on stdout is the bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s_mod="$here/k8s"
kwok_mod="$here/kwok"

export GOTOOLCHAIN=local CGO_ENABLED=0
go_version="$(go version)"

k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$k8s_mod/go.mod")"
if [[ -z "$k8s_version" ]]; then
  echo "build.sh: cannot find the k8s.io/kubernetes pin in $k8s_mod/go.mod" >&2
  exit 1
fi

hash="$(
  {
    cat "$k8s_mod/go.mod" "$k8s_mod/go.sum" "$kwok_mod/go.mod" "$kwok_mod/go.sum" "${BASH_SOURCE[0]}"
    echo "$go_version"
  } | sha256sum | cut -c1-16
)"
cache="${ROLLGATE_CACHE:-$HOME/.cache/rollgate}"
out="$cache/platform-$k8s_version-$hash"
bin="$out/bin"
stamp="$out/complete"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

is_complete() {
  [[ -f "$stamp" ]] || return 1
  local b
  for b in "${binaries[@]}"; do
    [[ -x "$bin/$b" ]] || return 1
  done
}

if is_complete; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
# Several test processes may ask for the binaries at once: one builds, the
# others wait for it and then find the stamp.
exec 9>"$cache/build.lock"
flock 9
if is_complete; then
  echo "$bin"
  exit 0
fi

staging="$out/bin.partial"
rm -rf "$staging" "$bin" "$stamp"
mkdir -p "$staging"

# kube-apiserver --version and kubectl version report these instead of v0.0.0-master.
major="${k8s_version#v}"
major="${major%%.*}"
minor="${k8s_version#v*.}"
minor="${minor%%.*}"
commit="$(echo "k8s.io/kubernetes@$k8s_version" | sha1sum | cut -c1-40)"
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version"
  k8s_ldflags+=" -X $pkg.gitMajor=$major"
  k8s_ldflags+=" -X $pkg.gitMinor=$minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
  k8s_ldflags+=" -X $pkg.gitCommit=$commit"
  k8s_ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

started=$SECONDS
echo "build.sh: building Kubernetes $k8s_version and etcd into $out ($go_version)" >&2
(
  cd "$k8s_mod"
  go build -trimpath -ldflags "$k8s_ldflags" -o "$staging/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
  # etcd's server module is itself the etcd main package; name the binary etcd.
  go build -trimpath -ldflags "-s -w" -o "$staging/etcd" go.etcd.io/etcd/server/v3
)
echo "build.sh: building kwok" >&2
(
  cd "$kwok_mod"
  go build -trimpath -ldflags "-s -w" -o "$staging/" sigs.k8s.io/kwok/cmd/kwok
)

mv "$staging" "$bin"
{
  echo "k8s=$k8s_version"
  echo "go=$go_version"
  echo "seconds=$((SECONDS - started))"
} >"$stamp"
echo "build.sh: done in $((SECONDS - started))s" >&2
echo "$bin"

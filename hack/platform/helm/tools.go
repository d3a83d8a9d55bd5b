//go:build tools

// Package tools pins the helm command hack/platform/helm/build.sh compiles, so
// that `go mod tidy` keeps its requirements in go.mod and go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)

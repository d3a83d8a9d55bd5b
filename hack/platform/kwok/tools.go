//go:build tools

// Package tools pins the kwok command hack/platform/build.sh compiles, so that
// `go mod tidy` keeps its requirements in go.mod and go.sum.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)

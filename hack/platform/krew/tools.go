//go:build tools

// Package tools pins the krew command hack/platform/krew/build.sh compiles, so
// that `go mod tidy` keeps its requirements in go.mod and go.sum. The tests
// install the release bundle's plugin manifest with it (`krew install
// --manifest --archive`): krew's own validation, not a re-implementation.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
)

//go:build tools

// Package tools pins the prometheus-adapter command that
// hack/platform/prometheus-adapter/build.sh compiles, so that `go mod tidy`
// keeps its requirements in go.mod and go.sum. The test platform runs it as
// the aggregated external metrics API the HPA controller reads
// (docs/PLATFORM.md).
package tools

import (
	_ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
)

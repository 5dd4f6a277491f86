//go:build tools

// Package tools pins the Python language host's main package so `go mod tidy`
// keeps its dependencies in go.sum; scripts/build_pulumi.sh builds it by path.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"

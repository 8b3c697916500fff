//go:build tools

// The blank imports keep what kube-apiserver and kubectl need in go.mod/go.sum (`go mod tidy`);
// the binaries are built from k8s.io/kubernetes/cmd/kube-apiserver and .../cmd/kubectl.
package tools

import (
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	_ "k8s.io/component-base/cli"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubectl/pkg/cmd/util"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

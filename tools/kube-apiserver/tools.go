//go:build tools

// Package tools records the lab's build-time dependency on kube-apiserver.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"

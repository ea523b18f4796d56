// Package cluster is the cluster test tier (make test-cluster): it starts a real
// Kubernetes control plane and Knative Serving and Eventing as local processes,
// applies the project as a user does (ko resolve of config/ into an in-process
// registry, then server-side apply; the Helm chart through the Helm SDK), and
// checks what a user would look at: admission, nothing pruned, Knative's
// reconciled objects and conditions, RBAC, and the faults a cluster adds.
//
// The tests run only under hack/test-cluster.sh, which builds the binaries,
// makes the network namespace and sets SA_CLUSTER=1; `go test ./...` skips
// them. README.md in this directory describes the pieces.
package cluster

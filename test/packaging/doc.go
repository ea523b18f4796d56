// Package packaging checks the project's deployment packaging without a cluster or a
// network: the raw manifests in config/, the Helm chart in charts/serverless-architect
// and ko.yaml.
//
// The tests decode every object strictly into its typed Go struct, run Knative's own
// defaulting and validation on Knative objects, lint and render the chart through the
// Helm SDK, keep services/, config/ and the chart in step, check the containers'
// hardening, and (unless -short) link every service to check that the linker's dead-code
// elimination is whole (TestServicesKeepDeadCode) and build every ko:// image with ko
// against an in-process registry. Run them with `go test ./test/packaging/` or
// hack/verify-manifests.sh.
package packaging

# A thin wrapper over hack/: each target is one script. See hack/README.md.
SHELL := /usr/bin/env bash
export KO_CONFIG_PATH := $(CURDIR)/ko.yaml

.PHONY: dev test test-cluster unit bench lint provision destroy verify-manifests kind-up kind-down deploy

dev: ## Run the whole system locally (moto + every service)
	@hack/dev.sh

test: ## Run every test (lint, unit, integration against moto, end to end)
	@hack/test.sh

test-cluster: ## The cluster tier: a real control plane and Knative as processes, the project applied to it (root)
	@hack/test-cluster.sh

unit: ## Run the unit tests only (no moto, no browser): the fast loop
	@hack/unit.sh

bench: ## Run the benchmarks with their references
	@hack/bench.sh

lint: ## gofmt, go vet, golangci-lint, shellcheck, govulncheck
	@hack/lint.sh

provision: ## Create the AWS resources (real AWS, or moto via AWS_ENDPOINT_URL)
	@hack/provision.sh

destroy: ## Delete what provision created (lists it, asks y/N; ARGS=--yes without a terminal)
	@hack/destroy.sh $(ARGS)

verify-manifests: ## Validate config/, the chart and ko.yaml without a cluster (image builds included)
	@hack/verify-manifests.sh

kind-up: ## Create a kind cluster with Knative Serving (Kourier) and Eventing
	@hack/kind-up.sh

kind-down: ## Delete the kind cluster
	@hack/kind-down.sh

deploy: ## ko apply -f config/ (hack/deploy.sh --helm for the chart)
	@hack/deploy.sh

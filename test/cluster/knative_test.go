package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/serverless-architect/serverless-architect/test/cluster/ingress"
)

const (
	servingNamespace  = "knative-serving"
	eventingNamespace = "knative-eventing"
)

// knativeSkipped are files of Knative's config/ trees the tier does not apply:
// components the project does not use (their images are not built).
var knativeSkipped = []string{
	"config/core/deployments/job-sink.yaml",
	"config/core/deployments/pingsource-mt-adapter.yaml",
	"config/core/deployments/request-reply.yaml",
}

// knativeObjects reads what a Knative install applies, from the modules' own
// config/ trees (the release YAML files are made from these): Serving's core
// with knative.dev/networking's CRDs and config-network and knative.dev/caching's
// Image CRD (the serving repository links them into config/core; module zips
// drop links), Eventing's core, the in-memory channel and the MT channel broker.
func (e *clusterEnv) knativeObjects() ([]object, error) {
	sources := []struct {
		dir       string
		recursive bool
	}{
		{filepath.Join(e.servingDir, "config/core"), true},
		{filepath.Join(e.networkingDir, "config"), false},
		{filepath.Join(e.cachingDir, "config"), false},
		{filepath.Join(e.eventingDir, "config/core"), true},
		// Two ConfigMaps naming the integration images, which the release
		// script copies into config/core/configmaps.
		{filepath.Join(e.eventingDir, "third_party/eventing-integrations-latest"), false},
		{filepath.Join(e.eventingDir, "config/channels/in-memory-channel"), true},
		{filepath.Join(e.eventingDir, "config/brokers/mt-channel-broker"), true},
	}
	var out []object
	for _, s := range sources {
		objs, err := readDir(s.dir, s.recursive)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			skip := strings.HasPrefix(o.source, e.eventingDir) && slices.ContainsFunc(knativeSkipped, func(f string) bool {
				return strings.HasSuffix(filepath.ToSlash(o.source), "/"+f)
			})
			if !skip {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// installKnative applies Knative's config/ trees, unchanged, with the operator
// settings below, and waits until every Deployment is Available (their pods run
// on the process node) and every webhook configuration has its CA bundle.
func (e *clusterEnv) installKnative(ctx context.Context) error {
	objs, err := e.knativeObjects()
	if err != nil {
		return err
	}
	var namespaces, rest []object
	for _, o := range objs {
		if o.obj.GetKind() == "Namespace" {
			namespaces = append(namespaces, o)
		} else {
			rest = append(rest, o)
		}
	}
	if err := e.applier.applyAll(ctx, namespaces); err != nil {
		return err
	}
	for _, o := range namespaces {
		if err := e.onProcessNode(ctx, o.obj.GetName()); err != nil {
			return err
		}
	}
	if err := e.applier.applyAll(ctx, rest); err != nil {
		return err
	}
	for _, ns := range []string{servingNamespace, eventingNamespace} {
		if err := e.waitDeploymentsAvailable(ctx, ns, 8*time.Minute); err != nil {
			return err
		}
	}
	if err := e.waitWebhooksConfigured(ctx, 2*time.Minute); err != nil {
		return err
	}
	// After the webhooks are up: Knative's config webhook validates these.
	return e.configureKnative(ctx)
}

// knativeSettings are the operator's settings the tier gives Knative, each a
// config map key Knative documents.
var knativeSettings = map[string]map[string]string{
	servingNamespace + "/config-network": {
		"ingress-class": ingress.Class,
		// One of the two ways docs/deploy.md gives Knative trust in the
		// DomainMappings' hosts (the other is a ClusterDomainClaim per host).
		"autocreate-cluster-domain-claims": "true",
	},
	servingNamespace + "/config-autoscaler": {
		// The shortest windows Knative allows, so scale to zero is seen in a
		// test's time; the revisions' own annotations still apply on top.
		"stable-window":              "6s",
		"scale-to-zero-grace-period": "6s",
	},
}

func (e *clusterEnv) configureKnative(ctx context.Context) error {
	for key, data := range knativeSettings {
		ns, name, _ := strings.Cut(key, "/")
		patch, err := json.Marshal(map[string]any{"data": data})
		if err != nil {
			return err
		}
		if _, err := e.kube.CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("configure %s: %w", key, err)
		}
	}
	return nil
}

// waitDeploymentsAvailable waits until every Deployment in ns is Available with
// all replicas updated.
func (e *clusterEnv) waitDeploymentsAvailable(ctx context.Context, ns string, timeout time.Duration) error {
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := e.kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pending = pending[:0]
		for _, d := range list.Items {
			if !deploymentAvailable(&d) {
				pending = append(pending, d.Name)
			}
		}
		return len(list.Items) > 0 && len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("deployments in %s not available: %v: %w", ns, pending, err)
	}
	return nil
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Generation > d.Status.ObservedGeneration {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == "True"
		}
	}
	return want == 0
}

// waitWebhooksConfigured waits until Knative's webhooks have written their CA
// bundle into every webhook configuration that calls them.
func (e *clusterEnv) waitWebhooksConfigured(ctx context.Context, timeout time.Duration) error {
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		mw, err := e.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range mw.Items {
			for _, w := range c.Webhooks {
				if knativeService(w.ClientConfig) && len(w.ClientConfig.CABundle) == 0 {
					pending = append(pending, c.Name)
				}
			}
		}
		vw, err := e.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range vw.Items {
			for _, w := range c.Webhooks {
				if knativeService(w.ClientConfig) && len(w.ClientConfig.CABundle) == 0 {
					pending = append(pending, c.Name)
				}
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("webhook configurations without a CA bundle: %v: %w", pending, err)
	}
	return nil
}

func knativeService(cc admissionregistrationv1.WebhookClientConfig) bool {
	return cc.Service != nil && (cc.Service.Namespace == servingNamespace || cc.Service.Namespace == eventingNamespace)
}

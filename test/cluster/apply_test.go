package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// fieldManager is the field manager of everything the tier applies, as
// `kubectl apply --server-side` uses its own.
const fieldManager = "cluster-tier"

// object is one manifest document with where it came from.
type object struct {
	source string
	obj    *unstructured.Unstructured
}

func (o object) String() string {
	id := o.obj.GetKind() + " " + o.obj.GetName()
	if ns := o.obj.GetNamespace(); ns != "" {
		id = o.obj.GetKind() + " " + ns + "/" + o.obj.GetName()
	}
	return id + " (" + o.source + ")"
}

// decodeYAML reads every non-empty document of a multi-document YAML stream.
func decodeYAML(source string, data []byte) ([]object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []object
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s document %d: %w", source, i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s document %d has no kind or apiVersion", source, i+1)
		}
		out = append(out, object{source: source, obj: u})
	}
}

// readDir reads the *.yaml files of dir (optionally its subdirectories too) in
// path order, as `kubectl apply -f` and `ko resolve -f` do.
func readDir(dir string, recursive bool) ([]object, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && !recursive {
			return filepath.SkipDir
		}
		// kustomize's own file is not a Kubernetes object.
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) && d.Name() != "kustomization.yaml" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := decodeYAML(f, data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// kindOrder puts what others need first, as Helm's install order does.
// Workloads come before the webhook configurations and custom resources, so
// the webhooks those call can start while the rest is applied.
var kindOrder = []string{
	"Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
	"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
	"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
	"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

func kindRank(kind string) int {
	if i := slices.Index(kindOrder, kind); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// applier applies objects with server-side apply through the dynamic client.
type applier struct {
	dyn      dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	warnings *warnings
}

// warnings keeps the API server's warnings (deprecations, Knative's advice)
// since the last take, as kubectl prints them.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader is rest.WarningHandler's method.
func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// resource finds an object's REST resource, refreshing discovery once when the
// kind is new (a CRD just established).
func (a *applier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset()
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return a.dyn.Resource(m.Resource), nil
}

// apply server-side applies one object and returns what the API server stored.
func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := a.resource(obj)
	if err != nil {
		return nil, err
	}
	return ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
}

// get reads an object's stored state.
func (a *applier) get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := a.resource(obj)
	if err != nil {
		return nil, err
	}
	return ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
}

// applyAll applies objects in kind order, waiting for each CRD to be
// established before anything after it, and retrying for a while the objects
// whose kind is not served yet or whose admission webhook is not up yet (an
// install applies a webhook's configuration and its Deployment together). It
// stops at the first other error.
func (a *applier) applyAll(ctx context.Context, objs []object) error {
	sorted := slices.Clone(objs)
	slices.SortStableFunc(sorted, func(x, y object) int { return kindRank(x.obj.GetKind()) - kindRank(y.obj.GetKind()) })
	for _, o := range sorted {
		var last error
		err := wait.PollUntilContextTimeout(ctx, time.Second, 8*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := a.apply(ctx, o.obj)
			last = err
			if meta.IsNoMatchError(err) || webhookUnavailable(err) {
				return false, nil
			}
			return err == nil, err
		})
		if err != nil && last != nil {
			err = last
		}
		if err != nil {
			return fmt.Errorf("apply %s: %w", o, err)
		}
		if o.obj.GetKind() == "CustomResourceDefinition" {
			if err := a.waitEstablished(ctx, o.obj.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func (a *applier) waitEstablished(ctx context.Context, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := a.dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %w", name, err)
	}
	return nil
}

// webhookUnavailable reports whether the API server could not reach an
// admission webhook (as opposed to a webhook refusing the object).
func webhookUnavailable(err error) bool {
	return err != nil && apierrors.IsInternalError(err) && strings.Contains(err.Error(), "failed calling webhook")
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

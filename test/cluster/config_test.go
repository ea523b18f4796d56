package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// configNamespace is where config/ puts everything.
const configNamespace = "serverless-architect"

// repoRoot is the repository root: the nearest directory above with ko.yaml
// (this test is a module of its own, so go.mod is not the mark).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "ko.yaml")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no ko.yaml above the test's directory: run the tier from the repository")
		}
		dir = parent
	}
}

// applied is one object as sent and as the API server stored it.
type applied struct {
	object
	stored   *unstructured.Unstructured
	err      error
	warnings []string
}

// configRun is config/ applied once per run, for every test that needs it.
type configRun struct {
	once    sync.Once
	objs    []object
	results []applied
	err     error
}

// applyConfig applies config/ as docs/deploy.md tells a user to (`ko apply -f
// config/`: ko resolve into a registry, then apply; server-side here), after the
// operator's namespace and two Secrets. It runs once; later calls return the
// first run's objects and results.
func (e *clusterEnv) applyConfig(t *testing.T) ([]object, []applied) {
	t.Helper()
	e.config.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		root := repoRoot(t)
		start := time.Now()
		resolved, err := e.images.resolve(ctx, root, filepath.Join(root, "config"))
		if err != nil {
			e.config.err = err
			return
		}
		t.Logf("ko resolve -f config/: %s", time.Since(start).Round(time.Second))
		objs, err := decodeYAML("ko resolve -f config/", resolved)
		if err != nil {
			e.config.err = err
			return
		}
		for _, o := range objs {
			if refs := koReferences(o.obj.Object); len(refs) > 0 {
				e.config.err = fmt.Errorf("%s still holds %v after ko resolve", o, refs)
				return
			}
		}
		// docs/deploy.md: the namespace and the keys come first (hack/deploy.sh).
		if err := e.createKeys(ctx, configNamespace); err != nil {
			e.config.err = err
			return
		}
		e.config.objs = objs
		e.config.results = e.applyInOrder(ctx, objs)
	})
	if e.config.err != nil {
		t.Fatalf("config/: %v", e.config.err)
	}
	return e.config.objs, e.config.results
}

// koReferences lists the ko:// strings anywhere in an object.
func koReferences(v any) []string {
	switch v := v.(type) {
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, koReferences(x)...)
		}
		return out
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, koReferences(x)...)
		}
		return out
	case string:
		if strings.HasPrefix(v, "ko://") {
			return []string{v}
		}
	}
	return nil
}

// TestConfig applies config/ as a user does and checks what a user would look
// at: every object admitted and stored as sent, what Knative made of it, the
// pods, the ServiceAccounts' access and their IRSA annotations.
func TestConfig(t *testing.T) {
	e := clusterFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	objs, results := e.applyConfig(t)
	e.checkApplied(t, results)
	e.checkProject(t, ctx, configNamespace, objs)

	services := serviceDirs(t)
	t.Run("ServiceAccountsMayDoWhatTheCodeDoes", func(t *testing.T) {
		e.checkServiceAccountAccess(t, ctx, configNamespace, services)
	})
	t.Run("IRSAAnnotations", func(t *testing.T) {
		want := map[string]string{}
		for _, s := range services {
			want[s] = "arn:aws:iam::ACCOUNT_ID:role/sa-" + s
		}
		want["gateway"] = "" // calls no AWS API (config/200-serviceaccounts.yaml)
		e.checkIRSA(t, ctx, configNamespace, want)
	})
}

// applyInOrder applies each object in order, as `kubectl apply -f` does, and
// records what was stored or why it was refused. Applying goes on after a
// refusal, so one run lists every refused object.
func (e *clusterEnv) applyInOrder(ctx context.Context, objs []object) []applied {
	out := make([]applied, 0, len(objs))
	for _, o := range objs {
		sent := o.obj.DeepCopy()
		e.applier.warnings.take()
		stored, err := e.applier.apply(ctx, o.obj)
		out = append(out, applied{object: object{source: o.source, obj: sent}, stored: stored, err: err, warnings: e.applier.warnings.take()})
	}
	return out
}

// checkApplied fails for every object the API server or a webhook refused, and
// for every field sent that is not stored as sent.
func (e *clusterEnv) checkApplied(t *testing.T, results []applied) {
	t.Helper()
	t.Run("Admitted", func(t *testing.T) {
		for _, r := range results {
			if r.err != nil {
				t.Errorf("%s refused: %v", r.object, r.err)
			}
			for _, w := range r.warnings {
				t.Logf("%s: the API server warns: %s", r.object, w)
			}
		}
	})
	t.Run("NothingPruned", func(t *testing.T) {
		for _, r := range results {
			if r.err != nil {
				continue
			}
			if lost := lostFields(r.obj.Object, r.stored.Object); len(lost) > 0 {
				t.Errorf("%s: stored differs from what was sent:\n  %s", r.object, strings.Join(lost, "\n  "))
			}
		}
	})
}

// checkProject runs the checks of what Knative and Kubernetes made of the
// project's objects in ns.
func (e *clusterEnv) checkProject(t *testing.T, ctx context.Context, ns string, objs []object) {
	t.Helper()
	var states map[string]servingState
	t.Run("KnativeServices", func(t *testing.T) {
		states = e.checkServing(t, ctx, ns, namesOf(objs, "serving.knative.dev", "Service"))
		e.checkDomainMappings(t, ctx, ns, namesOf(objs, "serving.knative.dev", "DomainMapping"))
	})
	t.Run("Eventing", func(t *testing.T) {
		e.checkEventing(t, ctx, ns, objs, states)
	})
	t.Run("Pods", func(t *testing.T) {
		e.checkPods(t, ctx, ns)
	})
}

func (e *clusterEnv) createNamespace(ctx context.Context, name string) error {
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// keySecrets are the Secrets the operator creates once before the first install
// (hack/deploy.sh when they are missing, or by hand as docs/deploy.md shows); neither
// config/ nor the chart makes a key.
var keySecrets = []string{"todo-api-page-token", "unsubscribe-key", "gateway-peer-key"}

// createKeys makes namespace ns and the key Secrets in it, as hack/deploy.sh does.
func (e *clusterEnv) createKeys(ctx context.Context, ns string) error {
	if err := e.createNamespace(ctx, ns); err != nil {
		return err
	}
	for _, s := range keySecrets {
		if err := e.createKeySecret(ctx, ns, s); err != nil {
			return err
		}
	}
	return nil
}

// createKeySecret makes a Secret with 32 random bytes in base64 under key, as
// `kubectl create secret generic <name> --from-literal=key=...` does in
// docs/deploy.md.
func (e *clusterEnv) createKeySecret(ctx context.Context, ns, name string) error {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	_, err := e.kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string][]byte{"key": []byte(base64.StdEncoding.EncodeToString(b))},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("secret %s/%s: %w", ns, name, err)
	}
	return nil
}

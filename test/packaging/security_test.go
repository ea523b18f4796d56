package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// podSpecOf returns the pod spec of a workload, or nil for other kinds.
func podSpecOf(m manifest) *corev1.PodSpec {
	switch obj := m.obj.(type) {
	case *servingv1.Service:
		return &obj.Spec.Template.Spec.PodSpec
	case *appsv1.Deployment:
		return &obj.Spec.Template.Spec
	case *sourcesv1.ContainerSource:
		return &obj.Spec.Template.Spec
	case *corev1.Pod:
		return &obj.Spec
	}
	return nil
}

// TestContainersHardened checks every container of config/ and the chart: non-root,
// read-only root filesystem, no privilege escalation, all capabilities dropped, the
// runtime's default seccomp profile, and resource requests and limits.
func TestContainersHardened(t *testing.T) {
	sources := allSources(t)
	var checked int
	for _, source := range sortedKeys(sources) {
		for _, m := range sources[source] {
			spec := podSpecOf(m)
			if spec == nil {
				continue
			}
			pod := spec.SecurityContext
			if pod == nil {
				pod = &corev1.PodSecurityContext{}
			}
			for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
				checked++
				t.Run(source+"/"+m.id()+"/"+c.Name, func(t *testing.T) {
					sc := c.SecurityContext
					if sc == nil {
						t.Fatal("no securityContext")
					}
					if !isTrue(sc.RunAsNonRoot) && !(sc.RunAsNonRoot == nil && isTrue(pod.RunAsNonRoot)) {
						t.Error("runAsNonRoot is not true")
					}
					if uid := sc.RunAsUser; uid != nil && *uid == 0 {
						t.Error("runAsUser is 0")
					}
					if !isTrue(sc.ReadOnlyRootFilesystem) {
						t.Error("readOnlyRootFilesystem is not true")
					}
					if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
						t.Error("allowPrivilegeEscalation is not false")
					}
					if isTrue(sc.Privileged) {
						t.Error("privileged")
					}
					if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
						t.Error("capabilities do not drop ALL")
					} else if len(sc.Capabilities.Add) > 0 {
						t.Errorf("capabilities add %v", sc.Capabilities.Add)
					}
					seccomp := sc.SeccompProfile
					if seccomp == nil {
						seccomp = pod.SeccompProfile
					}
					if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
						t.Errorf("seccompProfile is %v, want RuntimeDefault", seccomp)
					}
					for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						if _, ok := c.Resources.Requests[r]; !ok {
							t.Errorf("no %s request", r)
						}
					}
					if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
						t.Error("no memory limit")
					}
				})
			}
		}
	}
	if checked == 0 {
		t.Fatal("no containers found")
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

var (
	// awsKeyID matches AWS access key ids (long-term and temporary).
	awsKeyID = regexp.MustCompile(`\b(AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b`)
	// secretAssignment matches a secret-looking setting given a literal value.
	secretAssignment = regexp.MustCompile(`(?i)(aws_secret_access_key|aws_session_token|aws_access_key_id|secretAccessKey|accessKeyId|password|page_token_key)\s*[:=]\s*["']?[^\s"'{}]`)
	// secretName matches environment and ConfigMap keys that must never hold a literal.
	secretName = regexp.MustCompile(`(?i)(secret|password|passwd|private_key|access_key|session_token|page_token_key|api_key)`)
	// secretReference matches keys that name a Secrets Manager secret (its SecretId: a
	// name or ARN, which IAM guards) rather than hold its value.
	secretReference = regexp.MustCompile(`^[A-Z0-9_]+_SECRET_ID$`)
)

// TestNoSecretsInSources checks that no credentials are written down: no AWS keys
// and no secret-looking assignments in config/ or values.yaml, no Secret with data in
// config/ or the default chart, and no secret-looking variable with a literal value.
func TestNoSecretsInSources(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "config", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, chartPath, "values.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if awsKeyID.MatchString(line) {
				t.Errorf("%s:%d: an AWS access key id", f, i+1)
			}
			code, _, _ := strings.Cut(line, "#") // comments may show commands with $(...)
			if secretAssignment.MatchString(code) {
				t.Errorf("%s:%d: a secret given a literal value: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}

	r, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	for source, ms := range map[string][]manifest{"config": configManifests(t), "chart-default": r.manifests} {
		for _, m := range ms {
			switch obj := m.obj.(type) {
			case *corev1.Secret:
				if len(obj.Data)+len(obj.StringData) > 0 {
					t.Errorf("%s: %s holds secret data", source, m.id())
				}
			case *corev1.ConfigMap:
				for k := range obj.Data {
					if secretName.MatchString(k) && !secretReference.MatchString(k) {
						t.Errorf("%s: %s has key %s, which belongs in a Secret", source, m.id(), k)
					}
				}
			}
			for _, c := range containersOf(m) {
				for _, e := range c.Env {
					if secretName.MatchString(e.Name) && e.ValueFrom == nil {
						t.Errorf("%s: %s container %s sets %s to a literal; use secretKeyRef", source, m.id(), c.Name, e.Name)
					}
				}
			}
		}
	}
}

// reservedEnv are the variables Knative sets; a manifest must not.
var reservedEnv = []string{"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION", "K_SINK", "K_CE_OVERRIDES"}

// TestRuntimeContract checks the settings the Knative runtime contract depends on:
// no reserved variable is set, through env or a ConfigMap, and a Service's
// timeoutSeconds (also its pods' termination grace period) leaves room for
// DRAIN_DELAY + SHUTDOWN_TIMEOUT.
func TestRuntimeContract(t *testing.T) {
	sources := allSources(t)
	for _, source := range sortedKeys(sources) {
		ms := sources[source]
		configMaps := map[string]map[string]string{}
		for _, m := range ms {
			if cm, ok := m.obj.(*corev1.ConfigMap); ok {
				configMaps[cm.Name] = cm.Data
				for k := range cm.Data {
					if slices.Contains(reservedEnv, k) {
						t.Errorf("%s: %s sets %s, which Knative reserves", source, m.id(), k)
					}
				}
			}
		}
		for _, m := range ms {
			svc, ok := m.obj.(*servingv1.Service)
			if !ok {
				continue
			}
			t.Run(source+"/"+m.id(), func(t *testing.T) {
				c := svc.Spec.Template.Spec.Containers[0]
				env := map[string]string{}
				for _, from := range c.EnvFrom {
					if from.ConfigMapRef == nil {
						continue
					}
					data, ok := configMaps[from.ConfigMapRef.Name]
					if !ok && !isTrue(from.ConfigMapRef.Optional) {
						t.Errorf("envFrom ConfigMap %s is not part of the same manifests", from.ConfigMapRef.Name)
					}
					for k, v := range data {
						env[k] = v
					}
				}
				for _, e := range c.Env {
					if slices.Contains(reservedEnv, e.Name) {
						t.Errorf("sets %s, which Knative reserves", e.Name)
					}
					env[e.Name] = e.Value
				}
				if svc.Spec.Template.Spec.TimeoutSeconds == nil {
					t.Fatal("no timeoutSeconds")
				}
				timeout := time.Duration(*svc.Spec.Template.Spec.TimeoutSeconds) * time.Second
				drain := parseDuration(t, env["DRAIN_DELAY"], 3*time.Second)
				shutdown := parseDuration(t, env["SHUTDOWN_TIMEOUT"], 20*time.Second)
				if drain+shutdown >= timeout {
					t.Errorf("DRAIN_DELAY %v + SHUTDOWN_TIMEOUT %v do not fit in timeoutSeconds %v", drain, shutdown, timeout)
				}
			})
		}
	}
}

// parseDuration parses s, or returns def (internal/server's default) when empty.
func parseDuration(t *testing.T, s string, def time.Duration) time.Duration {
	t.Helper()
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Errorf("duration %q: %v", s, err)
	}
	return d
}

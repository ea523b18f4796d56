package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// workloadKinds are the kinds that run a service: a Knative Service for HTTP services
// and consumers, a Deployment or ContainerSource for the event sources.
var workloadKinds = []string{"Service", "Deployment", "ContainerSource"}

// serviceDirs lists the directories under services/.
func serviceDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "services"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no services under services/")
	}
	return names
}

// deployedServices maps each services/<name> that a workload in ms runs (through a
// ko:// image) to that workload's name and ServiceAccount.
func deployedServices(t *testing.T, ms []manifest) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	prefix := "ko://" + modulePath + "/services/"
	for _, m := range ms {
		if m.gvk.Group == "" || !slices.Contains(workloadKinds, m.gvk.Kind) {
			continue // core v1 Service is not a workload
		}
		spec := podSpecOf(m)
		if spec == nil {
			continue
		}
		for _, c := range spec.Containers {
			svc, ok := strings.CutPrefix(c.Image, prefix)
			if !ok {
				continue
			}
			if _, dup := out[svc]; dup {
				t.Errorf("%s is deployed twice (again by %s)", svc, m.id())
			}
			out[svc] = [2]string{m.obj.GetName(), spec.ServiceAccountName}
		}
	}
	return out
}

// TestServicesInSync checks services/ against config/ and the chart, both ways: every
// service directory has a workload in config/ and in the chart (with default values),
// named after the directory and running as its own ServiceAccount, and every workload
// runs a service that exists. Adding a service without its manifests fails here.
func TestServicesInSync(t *testing.T) {
	dirs := serviceDirs(t)
	r, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	for source, ms := range map[string][]manifest{"config": configManifests(t), "chart": r.manifests} {
		t.Run(source, func(t *testing.T) {
			deployed := deployedServices(t, ms)
			var got []string
			for svc, w := range deployed {
				got = append(got, svc)
				if w[0] != svc {
					t.Errorf("services/%s runs as workload %q; name it %q", svc, w[0], svc)
				}
				if w[1] != svc {
					t.Errorf("services/%s runs as ServiceAccount %q; give it its own, %q", svc, w[1], svc)
				}
				if len(find[*corev1.ServiceAccount](ms, "ServiceAccount", svc)) != 1 {
					t.Errorf("no ServiceAccount %q for services/%s", svc, svc)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(dirs, got); diff != "" {
				t.Errorf("services/ and %s's workloads differ (-services/ +%s):\n%s", source, source, diff)
			}
		})
	}

	// The chart's values need a block per service, keyed by its camelCase name.
	data, err := os.ReadFile(filepath.Join(repoRoot(t), chartPath, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		block, ok := values[camel(dir)].(map[string]any)
		if !ok {
			t.Errorf("values.yaml has no %s block for services/%s", camel(dir), dir)
			continue
		}
		if block["enabled"] != true {
			t.Errorf("values.yaml %s.enabled is %v, want true by default", camel(dir), block["enabled"])
		}
	}
}

// camel turns a service directory name into its values key: todo-api -> todoApi.
func camel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func TestCamel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"todo-api", "todoApi"},
		{"dynamodb-source", "dynamodbSource"},
		{"gateway", "gateway"},
		{"welcome-mailer", "welcomeMailer"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := camel(tc.in); got != tc.want {
				t.Errorf("camel(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// envTag finds the variables a config struct reads: `env:"NAME` in struct tags.
var envTag = regexp.MustCompile("env:\"([A-Z][A-Z0-9_]*)")

// sharedConfigDirs hold config structs several services embed (server, auth, sender).
var sharedConfigDirs = []string{"internal/server", "internal/auth", "internal/cloudevent"}

// readEnvNames returns the env variable names declared in the Go files under dirs.
func readEnvNames(t *testing.T, root string, dirs ...string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envTag.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// TestConfigMapsNameRealVariables keeps each service's ConfigMap (config/ and the
// chart with the flipped values) in step with its config struct: every key must be a
// variable the service reads (an env tag in services/<name> or a shared config
// package), or, for gateway, a ${VAR} its route table expands. A renamed variable
// fails here instead of being silently ignored in a cluster.
func TestConfigMapsNameRealVariables(t *testing.T) {
	root := repoRoot(t)
	shared := readEnvNames(t, root, sharedConfigDirs...)
	r, err := renderChart(t, flippedValues)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := os.ReadFile(filepath.Join(root, "services", "gateway", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for source, ms := range map[string][]manifest{"config": configManifests(t), "chart-flipped": r.manifests} {
		for _, svc := range serviceDirs(t) {
			t.Run(source+"/"+svc, func(t *testing.T) {
				cms := find[*corev1.ConfigMap](ms, "ConfigMap", "config-"+svc)
				if len(cms) != 1 {
					t.Skipf("no ConfigMap config-%s here", svc)
				}
				own := readEnvNames(t, root, filepath.Join("services", svc))
				for k := range cms[0].Data {
					if own[k] || shared[k] || (svc == "gateway" && strings.Contains(string(routes), "${"+k+"}")) {
						continue
					}
					t.Errorf("config-%s sets %s, which services/%s does not read", svc, k, svc)
				}
			})
		}
	}
}

// TestBlogAPIViewerAddressNeedsOriginSecret: wherever blog-api is deployed believing
// CLIENT_ADDRESS_HEADER (CloudFront-Viewer-Address by default), it is also told the
// origin secret that proves a request came through the distribution; blog-api refuses
// to start otherwise, and without the check it would believe any direct caller.
func TestBlogAPIViewerAddressNeedsOriginSecret(t *testing.T) {
	sources := allSources(t)
	for _, source := range sortedKeys(sources) {
		for _, cm := range find[*corev1.ConfigMap](sources[source], "ConfigMap", "config-blog-api") {
			header := cm.Data["CLIENT_ADDRESS_HEADER"]
			if header != "none" && cm.Data["ORIGIN_VERIFY_SECRET_ID"] == "" {
				t.Errorf("%s: config-blog-api believes %s without ORIGIN_VERIFY_SECRET_ID", source, header)
			}
		}
	}
	if _, err := renderChart(t, defaultValues+"\nblog:\n  originSecret: \"\"\n"); err == nil || !strings.Contains(err.Error(), "blog.originSecret is empty") {
		t.Errorf("the chart with no origin secret rendered (err %v); want it refused, naming blog.originSecret", err)
	}
	r, err := renderChart(t, defaultValues+"\nblog:\n  originSecret: \"\"\nblogApi:\n  env:\n    CLIENT_ADDRESS_HEADER: none\n")
	if err != nil {
		t.Fatalf("the chart with no origin secret and no client address header: %v", err)
	}
	got := one[*corev1.ConfigMap](t, r.manifests, "ConfigMap", "config-blog-api").Data
	if got["ORIGIN_VERIFY_SECRET_ID"] != "" || got["CLIENT_ADDRESS_HEADER"] != "none" {
		t.Errorf("config-blog-api = %v, want no origin secret and CLIENT_ADDRESS_HEADER none", got)
	}
}

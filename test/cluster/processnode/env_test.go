package processnode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"POD_IP": "10.0.0.7", "NAME": "web"}
	tests := map[string]string{
		"--node-ip=$(POD_IP)":   "--node-ip=10.0.0.7",
		"$(NAME)-$(POD_IP)":     "web-10.0.0.7",
		"$(UNKNOWN) stays":      "$(UNKNOWN) stays",
		"$$(POD_IP) is escaped": "$(POD_IP) is escaped",
		"no references":         "no references",
		"trailing $":            "trailing $",
		"$(unterminated":        "$(unterminated",
		"$HOME is not a ref":    "$HOME is not a ref",
	}
	for in, want := range tests {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResourceValue(t *testing.T) {
	c := corev1.Container{Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}}
	tests := []struct {
		ref  corev1.ResourceFieldSelector
		want string
	}{
		{corev1.ResourceFieldSelector{Resource: "limits.cpu"}, "2"},
		{corev1.ResourceFieldSelector{Resource: "limits.memory"}, "134217728"},
		{corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, "128"},
		{corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}, "100"},
	}
	for _, tt := range tests {
		got, err := resourceValue(c, &tt.ref)
		if err != nil || got != tt.want {
			t.Errorf("resourceValue(%s / %s) = %q, %v; want %q", tt.ref.Resource, tt.ref.Divisor.String(), got, err, tt.want)
		}
	}
}

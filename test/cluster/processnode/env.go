package processnode

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// environment builds a container's environment as the kubelet does: envFrom,
// then env in order with $(VAR) references expanded, fieldRef and
// resourceFieldRef resolved from the pod, configMapKeyRef and secretKeyRef read
// from the API; plus the API server's address for in-cluster configuration.
func (p *pod) environment(ctx context.Context, c corev1.Container) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	set("HOSTNAME", p.obj.Name)
	set("HOME", p.dir+"/home")
	set("KUBERNETES_SERVICE_HOST", p.n.cfg.Gateway.String())
	set("KUBERNETES_SERVICE_PORT", strconv.Itoa(p.n.cfg.APIServerPort))
	set("KUBERNETES_SERVICE_PORT_HTTPS", strconv.Itoa(p.n.cfg.APIServerPort))
	// The node's trust store: system roots as on any node (Go reads this file
	// on Linux when set); the cluster CA comes from the service account mount.
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		set("SSL_CERT_FILE", f)
	}
	ns := p.obj.Namespace
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := p.n.cfg.Client.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom configMap %s: %w", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := p.n.cfg.Client.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		v, skip, err := p.value(ctx, c, e, vars)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env, nil
}

func (p *pod) value(ctx context.Context, c corev1.Container, e corev1.EnvVar, vars map[string]string) (string, bool, error) {
	if e.ValueFrom == nil {
		return expand(e.Value, vars), false, nil
	}
	ns := p.obj.Namespace
	switch vf := e.ValueFrom; {
	case vf.FieldRef != nil:
		v, err := p.field(vf.FieldRef.FieldPath)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		v, err := resourceValue(c, vf.ResourceFieldRef)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		cm, err := p.n.cfg.Client.CoreV1().ConfigMaps(ns).Get(ctx, vf.ConfigMapKeyRef.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[vf.ConfigMapKeyRef.Key]; ok {
				return v, false, nil
			}
			err = fmt.Errorf("configMap %s has no key %s", vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)
		}
		return "", optional(vf.ConfigMapKeyRef.Optional), ignoreIf(optional(vf.ConfigMapKeyRef.Optional), err)
	case vf.SecretKeyRef != nil:
		s, err := p.n.cfg.Client.CoreV1().Secrets(ns).Get(ctx, vf.SecretKeyRef.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[vf.SecretKeyRef.Key]; ok {
				return string(v), false, nil
			}
			err = fmt.Errorf("secret %s has no key %s", vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
		}
		return "", optional(vf.SecretKeyRef.Optional), ignoreIf(optional(vf.SecretKeyRef.Optional), err)
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

func (p *pod) field(path string) (string, error) {
	o := p.obj
	switch path {
	case "metadata.name":
		return o.Name, nil
	case "metadata.namespace":
		return o.Namespace, nil
	case "metadata.uid":
		return string(o.UID), nil
	case "spec.nodeName":
		return o.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return o.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return p.addr.String(), nil
	case "status.hostIP", "status.hostIPs":
		return p.n.cfg.Gateway.String(), nil
	}
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok {
			key := strings.TrimSuffix(rest, "']")
			if prefix == "metadata.labels" {
				return o.Labels[key], nil
			}
			return o.Annotations[key], nil
		}
	}
	return "", fmt.Errorf("fieldRef %s is not supported", path)
}

func resourceValue(c corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var q = c.Resources.Limits
	name, ok := strings.CutPrefix(ref.Resource, "limits.")
	if !ok {
		name, ok = strings.CutPrefix(ref.Resource, "requests.")
		q = c.Resources.Requests
	}
	if !ok {
		return "", fmt.Errorf("resourceFieldRef %s is not supported", ref.Resource)
	}
	v, has := q[corev1.ResourceName(name)]
	if !has {
		// The kubelet gives the node's allocatable when no limit is set.
		if name == "cpu" {
			return "2", nil
		}
		return "0", nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		if name == "cpu" {
			// Whole cores, rounded up, as the kubelet reports limits.cpu.
			return strconv.FormatInt((v.MilliValue()+999)/1000, 10), nil
		}
		return strconv.FormatInt(v.Value(), 10), nil
	}
	return strconv.FormatInt((v.MilliValue()+divisor.MilliValue()-1)/divisor.MilliValue(), 10), nil
}

// expand replaces $(NAME) with the value of an earlier variable, keeps unknown
// references as written and turns $$ into $, as Kubernetes does.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func expandAll(args []string, env []string) []string {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expand(a, vars)
	}
	return out
}

func optional(b *bool) bool { return b != nil && *b }

func ignoreIf(ignore bool, err error) error {
	if ignore {
		return nil
	}
	return err
}

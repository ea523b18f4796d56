package processnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeUserAgent is what the kubelet sends; Knative's components tell kubelet
// probes from other requests by it.
const probeUserAgent = "kube-probe/1.37"

// probe runs a container's startup, readiness and liveness probes against the
// pod's address, as the kubelet does: the container is ready once its readiness
// probe passes (at once when it has none), and restarted when its liveness probe
// fails failureThreshold times in a row.
func (p *pod) probe(ctx context.Context, c *container) {
	if c.binary == "" {
		return
	}
	client := &http.Client{
		Transport: &http.Transport{
			// The kubelet does not verify probe certificates.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var readyOK, readyFail, liveFail int32
	var startedAt time.Time
	startupDone := c.spec.StartupProbe == nil
	lastRun := map[string]time.Time{}
	due := func(kind string, pr *corev1.Probe) bool {
		if pr == nil {
			return false
		}
		if time.Since(startedAt) < time.Duration(pr.InitialDelaySeconds)*time.Second {
			return false
		}
		period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
		if time.Since(lastRun[kind]) < period {
			return false
		}
		lastRun[kind] = time.Now()
		return true
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var seen *exec.Cmd
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.terminating:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		running, cmd := c.running, c.cmd
		p.mu.Unlock()
		if !running {
			continue
		}
		if seen != cmd {
			// A new process: probes start over.
			seen = cmd
			startedAt = time.Now()
			readyOK, readyFail, liveFail = 0, 0, 0
			startupDone = c.spec.StartupProbe == nil
			clear(lastRun)
		}
		if !startupDone {
			if due("startup", c.spec.StartupProbe) && p.check(ctx, client, c, c.spec.StartupProbe) == nil {
				startupDone = true
			}
			continue
		}
		ready := c.spec.ReadinessProbe == nil
		if pr := c.spec.ReadinessProbe; pr != nil {
			p.mu.Lock()
			ready = c.ready
			p.mu.Unlock()
			if due("readiness", pr) {
				if err := p.check(ctx, client, c, pr); err == nil {
					readyOK, readyFail = readyOK+1, 0
					if readyOK >= max(pr.SuccessThreshold, 1) {
						ready = true
					}
				} else {
					readyOK, readyFail = 0, readyFail+1
					if readyFail >= max(pr.FailureThreshold, 1) {
						ready = false
					}
				}
			}
		}
		p.mu.Lock()
		changed := c.ready != ready && c.cmd == cmd
		if changed {
			c.ready = ready
		}
		p.mu.Unlock()
		if changed {
			p.changed()
		}
		if pr := c.spec.LivenessProbe; pr != nil && due("liveness", pr) {
			if err := p.check(ctx, client, c, pr); err == nil {
				liveFail = 0
			} else if liveFail++; liveFail >= max(pr.FailureThreshold, 1) {
				p.n.cfg.Log.Warn("liveness probe failed; restarting container", "pod", p.key(), "container", c.spec.Name, "err", err)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				liveFail = 0
			}
		}
	}
}

// check runs one probe.
func (p *pod) check(ctx context.Context, client *http.Client, c *container, pr *corev1.Probe) error {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		port, err := resolvePort(pr.HTTPGet.Port, c.spec)
		if err != nil {
			return err
		}
		scheme := "http"
		if pr.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		host := p.addr.String()
		if pr.HTTPGet.Host != "" {
			host = pr.HTTPGet.Host
		}
		url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + pr.HTTPGet.Path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", probeUserAgent)
		for _, h := range pr.HTTPGet.HTTPHeaders {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	case pr.TCPSocket != nil:
		port, err := resolvePort(pr.TCPSocket.Port, c.spec)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.addr.String(), strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("the process node runs httpGet and tcpSocket probes only")
}

func resolvePort(port intstr.IntOrString, c corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

package processnode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// pod is one pod running on the node: a network namespace and a process per
// container.
type pod struct {
	n     *Node
	obj   *corev1.Pod
	addr  netip.Addr
	netns string
	veth  string
	dir   string

	mu          sync.Mutex
	containers  []*container
	startTime   metav1.Time
	fatal       string // why the pod cannot run at all
	terminating chan struct{}
	termOnce    sync.Once
	grace       time.Duration
	done        chan struct{}
	dirty       chan struct{}
}

// container is one container's process and what the node knows about it.
type container struct {
	spec     corev1.Container
	binary   string
	env      []string
	args     []string
	logFile  string
	cmd      *exec.Cmd
	exited   chan struct{}
	running  bool
	started  metav1.Time
	ready    bool
	restarts int32
	waiting  *corev1.ContainerStateWaiting
	last     *corev1.ContainerStateTerminated
}

func newPod(n *Node, obj *corev1.Pod, addr netip.Addr, netns string) *pod {
	return &pod{
		n: n, obj: obj, addr: addr, netns: netns,
		veth:        "vp" + strings.TrimPrefix(netns[strings.LastIndex(netns, "-"):], "-"),
		dir:         filepath.Join(n.cfg.Dir, obj.Namespace+"_"+obj.Name),
		startTime:   metav1.Now(),
		terminating: make(chan struct{}),
		done:        make(chan struct{}),
		dirty:       make(chan struct{}, 1),
		grace:       30 * time.Second,
	}
}

func (p *pod) key() string { return p.obj.Namespace + "/" + p.obj.Name }

func (p *pod) changed() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// run sets the pod up, runs its containers and reports its status until it is
// terminated, then tears it down.
func (p *pod) run(ctx context.Context) {
	defer close(p.done)
	defer p.n.released(p)
	log := p.n.cfg.Log.With("pod", p.key(), "ip", p.addr)
	if err := p.setup(ctx); err != nil {
		log.Error("pod setup", "err", err)
		p.fatal = err.Error()
	} else {
		log.Info("pod started", "netns", p.netns)
		for _, c := range p.containers {
			go p.supervise(ctx, c)
			go p.probe(ctx, c)
		}
	}
	p.changed()
	// Status goes out on every change, and every 30 s besides (as a kubelet's
	// status sync), in case a write was lost.
	statusTick := time.NewTicker(30 * time.Second)
	defer statusTick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.stop(5 * time.Second)
			return
		case <-p.terminating:
			p.stop(p.grace)
			p.finish(ctx)
			log.Info("pod stopped")
			return
		case <-p.dirty:
		case <-statusTick.C:
		}
		if err := p.report(ctx); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
			log.Warn("pod status", "err", err)
		}
	}
}

// terminate starts the pod's shutdown with the grace period the API gave it.
func (p *pod) terminate(obj *corev1.Pod) {
	p.termOnce.Do(func() {
		if obj.DeletionGracePeriodSeconds != nil {
			p.grace = time.Duration(*obj.DeletionGracePeriodSeconds) * time.Second
		}
		close(p.terminating)
	})
}

// setup makes the pod's network namespace, its files and its containers.
func (p *pod) setup(ctx context.Context) error {
	if err := mkdir(filepath.Join(p.dir, "serviceaccount")); err != nil {
		return err
	}
	if err := p.network(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if err := p.writeFiles(ctx); err != nil {
		return err
	}
	go p.refreshToken(ctx)
	for _, spec := range p.obj.Spec.Containers {
		c := &container{spec: spec, logFile: filepath.Join(p.dir, spec.Name+".log")}
		p.containers = append(p.containers, c)
		bin, ok := p.n.cfg.Binary(spec.Image)
		if !ok {
			c.waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: fmt.Sprintf("the process node has no binary for image %s", spec.Image)}
			continue
		}
		if len(spec.Command) > 0 {
			c.waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: "the process node runs an image's own entrypoint only; this container sets command"}
			continue
		}
		env, err := p.environment(ctx, spec)
		if err != nil {
			c.waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
			continue
		}
		c.binary, c.env = bin, env
		c.args = expandAll(spec.Args, env)
		if msg := p.unsupportedMount(spec); msg != "" {
			c.waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: msg}
			c.binary = ""
		}
	}
	return nil
}

// unsupportedMount says why a container's volume mounts cannot be given, or "".
// The one volume the process node mounts is the service account's (the
// projected token, CA and namespace the API server's ServiceAccount admission
// adds to every pod) at its usual path.
func (p *pod) unsupportedMount(c corev1.Container) string {
	for _, m := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range p.obj.Spec.Volumes {
			if p.obj.Spec.Volumes[i].Name == m.Name {
				vol = &p.obj.Spec.Volumes[i]
			}
		}
		if vol != nil && vol.Projected != nil && m.MountPath == serviceAccountPath && projectsToken(vol.Projected) {
			continue
		}
		return fmt.Sprintf("the process node mounts only the service account token at %s, not volume %s at %s", serviceAccountPath, m.Name, m.MountPath)
	}
	return ""
}

const serviceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

func projectsToken(v *corev1.ProjectedVolumeSource) bool {
	for _, s := range v.Sources {
		if s.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

// network creates the namespace with the pod's address, a veth into the bridge
// and a default route through the gateway.
func (p *pod) network() error {
	bits := strconv.Itoa(p.n.cfg.Pods.Bits())
	steps := [][]string{
		{"netns", "add", p.netns},
		{"link", "add", p.veth, "type", "veth", "peer", "name", "eth0", "netns", p.netns},
		{"link", "set", p.veth, "master", p.n.cfg.Bridge},
		{"link", "set", p.veth, "up"},
		{"-n", p.netns, "link", "set", "lo", "up"},
		{"-n", p.netns, "addr", "add", p.addr.String() + "/" + bits, "dev", "eth0"},
		{"-n", p.netns, "link", "set", "eth0", "up"},
		{"-n", p.netns, "route", "add", "default", "via", p.n.cfg.Gateway.String()},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

func (p *pod) writeFiles(ctx context.Context) error {
	sa := filepath.Join(p.dir, "serviceaccount")
	if err := os.WriteFile(filepath.Join(sa, "ca.crt"), p.n.cfg.CA, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sa, "namespace"), []byte(p.obj.Namespace), 0o644); err != nil {
		return err
	}
	if err := p.writeToken(ctx); err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	d := p.n.cfg.ClusterDomain
	resolv := fmt.Sprintf("nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n", p.n.cfg.Gateway, p.obj.Namespace, d, d, d)
	if err := os.WriteFile(filepath.Join(p.dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return err
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n%s\t%s\n", p.addr, p.obj.Name)
	if err := os.WriteFile(filepath.Join(p.dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	return mkdir(filepath.Join(p.dir, "home"))
}

// writeToken asks the API server for a token of the pod's service account,
// bound to the pod, as the kubelet does for a projected token volume.
func (p *pod) writeToken(ctx context.Context) error {
	if p.obj.Spec.AutomountServiceAccountToken != nil && !*p.obj.Spec.AutomountServiceAccountToken {
		return nil
	}
	sa := p.obj.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := p.n.cfg.Client.CoreV1().ServiceAccounts(p.obj.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.obj.Name, UID: p.obj.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	// Write and rename, so a reader never sees half a token.
	path := filepath.Join(p.dir, "serviceaccount", "token")
	if err := os.WriteFile(path+".tmp", []byte(tr.Status.Token), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func (p *pod) refreshToken(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.terminating:
			return
		case <-time.After(40 * time.Minute):
		}
		if err := p.writeToken(ctx); err != nil && ctx.Err() == nil {
			p.n.cfg.Log.Warn("refresh token", "pod", p.key(), "err", err)
		}
	}
}

// mountScript runs in the pod's network namespace (ip netns exec gives it a
// private mount namespace too): it puts the service account files where
// client-go's in-cluster configuration reads them, and the pod's resolv.conf and
// hosts, then execs the container's binary. $1..$3 are the directories and files.
const mountScript = `set -e
mount -t tmpfs -o mode=0755,size=16m tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
mount --bind "$1" /run/secrets/kubernetes.io/serviceaccount
mount --bind "$2" /etc/resolv.conf
mount --bind "$3" /etc/hosts
shift 3
exec "$@"
`

// supervise runs a container and restarts it when it exits (restartPolicy
// Always), with the kubelet's doubling back-off up to 30 s.
func (p *pod) supervise(ctx context.Context, c *container) {
	if c.binary == "" {
		return
	}
	backoff := time.Second
	for {
		err := p.startContainer(c)
		if err != nil {
			p.mu.Lock()
			c.waiting = &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
			p.mu.Unlock()
		} else {
			p.changed()
			select {
			case <-c.exited:
			case <-p.terminating:
				return
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-p.terminating:
			return
		case <-ctx.Done():
			return
		default:
		}
		p.mu.Lock()
		c.restarts++
		c.waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off %s restarting failed container", backoff)}
		p.mu.Unlock()
		p.changed()
		p.n.cfg.Log.Warn("container exited; restarting", "pod", p.key(), "container", c.spec.Name, "log", c.logFile)
		select {
		case <-time.After(backoff):
		case <-p.terminating:
			return
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (p *pod) startContainer(c *container) error {
	f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := append([]string{"netns", "exec", p.netns, "/bin/sh", "-c", mountScript, "sh",
		filepath.Join(p.dir, "serviceaccount"), filepath.Join(p.dir, "resolv.conf"), filepath.Join(p.dir, "hosts"),
		c.binary}, c.args...)
	cmd := exec.Command("ip", args...)
	cmd.Env = c.env
	cmd.Dir = filepath.Join(p.dir, "home")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	exited := make(chan struct{})
	p.mu.Lock()
	c.cmd, c.exited, c.running, c.ready, c.waiting = cmd, exited, true, false, nil
	c.started = metav1.Now()
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		code := int32(0)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = int32(ee.ExitCode())
		}
		p.mu.Lock()
		c.running, c.ready = false, false
		c.last = &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: c.started, FinishedAt: metav1.Now(), Reason: "Error"}
		if code == 0 {
			c.last.Reason = "Completed"
		}
		p.mu.Unlock()
		close(exited)
		p.changed()
	}()
	return nil
}

// stop sends SIGTERM to every container, then SIGKILL after grace, and removes
// the network namespace.
func (p *pod) stop(grace time.Duration) {
	p.termOnce.Do(func() { close(p.terminating) })
	p.mu.Lock()
	var waits []chan struct{}
	var pgids []int
	for _, c := range p.containers {
		if c.running && c.cmd != nil {
			pgids = append(pgids, c.cmd.Process.Pid)
			waits = append(waits, c.exited)
		}
	}
	p.mu.Unlock()
	for _, pg := range pgids {
		_ = syscall.Kill(-pg, syscall.SIGTERM)
	}
	deadline := time.After(grace)
	for i, w := range waits {
		select {
		case <-w:
		case <-deadline:
			for _, pg := range pgids[i:] {
				_ = syscall.Kill(-pg, syscall.SIGKILL)
			}
			<-w
		}
	}
	// Deleting the namespace deletes its end of the veth, and so both ends.
	_ = exec.Command("ip", "netns", "delete", p.netns).Run()
}

// finish removes the pod object once its processes are gone, as the kubelet
// does after a graceful termination.
func (p *pod) finish(ctx context.Context) {
	err := p.n.cfg.Client.CoreV1().Pods(p.obj.Namespace).Delete(ctx, p.obj.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &p.obj.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		p.n.cfg.Log.Warn("delete pod", "pod", p.key(), "err", err)
	}
}

// report writes the pod's status to the API server.
func (p *pod) report(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := p.n.cfg.Client.CoreV1().Pods(p.obj.Namespace).Get(ctx, p.obj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != p.obj.UID {
			return apierrors.NewNotFound(corev1.Resource("pods"), p.obj.Name)
		}
		cur.Status = p.status(cur.Status)
		_, err = p.n.cfg.Client.CoreV1().Pods(p.obj.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

func (p *pod) status(prev corev1.PodStatus) corev1.PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := corev1.PodStatus{
		Phase:     corev1.PodPending,
		HostIP:    p.n.cfg.Gateway.String(),
		HostIPs:   []corev1.HostIP{{IP: p.n.cfg.Gateway.String()}},
		StartTime: &p.startTime,
		QOSClass:  prev.QOSClass,
	}
	if p.fatal != "" {
		st.Reason, st.Message = "ProcessNodeError", p.fatal
		st.Conditions = conditions(prev.Conditions, false, false)
		return st
	}
	st.PodIP = p.addr.String()
	st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	allReady, allRunning := len(p.containers) > 0, len(p.containers) > 0
	for _, c := range p.containers {
		cs := corev1.ContainerStatus{
			Name:                 c.spec.Name,
			Image:                c.spec.Image,
			ImageID:              "processnode://" + c.binary,
			RestartCount:         c.restarts,
			Ready:                c.ready,
			Started:              ptr.To(c.running),
			LastTerminationState: corev1.ContainerState{Terminated: c.last},
		}
		switch {
		case c.running:
			cs.ContainerID = fmt.Sprintf("processnode://%d", c.cmd.Process.Pid)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.started}
		case c.waiting != nil:
			cs.State.Waiting = c.waiting
		default:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && c.ready
		allRunning = allRunning && c.running
	}
	if allRunning {
		st.Phase = corev1.PodRunning
	}
	st.Conditions = conditions(prev.Conditions, true, allReady)
	return st
}

// conditions keeps each condition's transition time when its status stays.
func conditions(prev []corev1.PodCondition, initialized, ready bool) []corev1.PodCondition {
	want := []struct {
		t  corev1.PodConditionType
		ok bool
	}{
		{corev1.PodScheduled, true},
		{corev1.PodReadyToStartContainers, initialized},
		{corev1.PodInitialized, initialized},
		{corev1.ContainersReady, ready},
		{corev1.PodReady, ready},
	}
	now := metav1.Now()
	out := make([]corev1.PodCondition, 0, len(want))
	for _, w := range want {
		s := corev1.ConditionFalse
		if w.ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: w.t, Status: s, LastTransitionTime: now}
		for _, pc := range prev {
			if pc.Type == w.t && pc.Status == s {
				c.LastTransitionTime = pc.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

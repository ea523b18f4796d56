// Package controlplane runs a real Kubernetes control plane as local processes:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from the
// upstream sources (test/cluster/tools), with a CA, serving and client
// certificates and a service-account key pair made here. It also starts kwok, the
// fake kubelet of sigs.k8s.io/kwok, for nodes whose pods only need to look alive.
//
// Nothing here mocks the API server: clients talk HTTPS to kube-apiserver, which
// stores in etcd, authorises with RBAC and calls admission webhooks.
package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Config says what the control plane runs and where.
type Config struct {
	// Dir holds certificates, kubeconfigs, logs and etcd's data (tmpfs is best:
	// etcd's fsyncs are most of a cold start on a loaded disk).
	Dir string
	// BinDir holds kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
	BinDir string
	// Etcd is the etcd binary (built by hack/test-cluster.sh from tools/etcd).
	Etcd string
	// Address is the API server's address: pods on the process node reach it there.
	Address net.IP
	// ServiceCIDR is the Services' cluster IP range.
	ServiceCIDR string
	// ExtraAdmissionPlugins are enabled besides the API server's defaults.
	ExtraAdmissionPlugins string
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	Config
	CA *CA
	// Server is the API server's URL.
	Server string
	// Admin is a cluster-admin client configuration (group system:masters).
	Admin *rest.Config
	// AdminKubeconfig is the same as a kubeconfig file, for tools.
	AdminKubeconfig string

	procs []*Process
}

const apiserverPort = 6443

// Start starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// and waits until the API server is ready. On error it stops what it started.
func Start(ctx context.Context, cfg Config) (_ *ControlPlane, err error) {
	cp := &ControlPlane{Config: cfg, Server: "https://" + net.JoinHostPort(cfg.Address.String(), strconv.Itoa(apiserverPort))}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()
	for _, d := range []string{cp.pkiDir(), cp.LogDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := cp.makePKI(); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if err := cp.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := cp.startAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := cp.startControllers(); err != nil {
		return nil, err
	}
	return cp, nil
}

// LogDir holds one log file per process.
func (cp *ControlPlane) LogDir() string { return filepath.Join(cp.Dir, "logs") }

func (cp *ControlPlane) pkiDir() string { return filepath.Join(cp.Dir, "pki") }

func (cp *ControlPlane) path(name string) string { return filepath.Join(cp.pkiDir(), name) }

func (cp *ControlPlane) makePKI() error {
	ca, err := NewCA("serverless-architect test cluster CA")
	if err != nil {
		return err
	}
	cp.CA = ca
	if err := os.WriteFile(cp.path("ca.crt"), ca.CertPEM, 0o600); err != nil {
		return err
	}
	_, svcNet, err := net.ParseCIDR(cp.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("service CIDR %q: %w", cp.ServiceCIDR, err)
	}
	// The first address of the service range is the kubernetes Service's.
	kubernetesIP := append(net.IP(nil), svcNet.IP.To4()...)
	kubernetesIP[3]++
	serving, err := ca.Serving("kube-apiserver",
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		[]net.IP{cp.Address, kubernetesIP, net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	if _, _, err := serving.Write(cp.pkiDir(), "apiserver"); err != nil {
		return err
	}
	if _, _, err := serviceAccountKey(cp.pkiDir()); err != nil {
		return err
	}
	admin, err := cp.Kubeconfig("admin", "admin", "system:masters")
	if err != nil {
		return err
	}
	cp.AdminKubeconfig = admin
	cp.Admin, err = clientcmd.BuildConfigFromFlags("", admin)
	return err
}

// Kubeconfig writes a kubeconfig file named name for a client certificate of
// user and groups, and returns its path.
func (cp *ControlPlane) Kubeconfig(name, user string, groups ...string) (string, error) {
	kp, err := cp.CA.Client(user, groups...)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: cp.Server, CertificateAuthorityData: cp.CA.CertPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user}
	cfg.CurrentContext = "local"
	path := cp.path(name + ".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// TokenKubeconfig writes a kubeconfig that authenticates with a bearer token.
func (cp *ControlPlane) TokenKubeconfig(path, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: cp.Server, CertificateAuthorityData: cp.CA.CertPEM}
	cfg.AuthInfos["token"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "token"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

func (cp *ControlPlane) start(name string, path string, args ...string) (*Process, error) {
	p, err := StartProcess(name, cp.LogDir(), nil, path, args...)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

func (cp *ControlPlane) startEtcd(ctx context.Context) error {
	data := filepath.Join(cp.Dir, "etcd")
	client, peer := "http://127.0.0.1:2379", "http://127.0.0.1:2380"
	p, err := cp.start("etcd", cp.Etcd,
		"--name=cluster",
		"--data-dir="+data,
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=cluster="+peer,
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	err = waitHTTP(ctx, p, http.DefaultClient, client+"/health", 60*time.Second)
	if err != nil {
		return fmt.Errorf("etcd: %w\n%s", err, p.Tail(20))
	}
	return nil
}

func (cp *ControlPlane) startAPIServer(ctx context.Context) error {
	plugins := "NodeRestriction"
	if cp.ExtraAdmissionPlugins != "" {
		plugins += "," + cp.ExtraAdmissionPlugins
	}
	p, err := cp.start("kube-apiserver", filepath.Join(cp.BinDir, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address="+cp.Address.String(),
		"--advertise-address="+cp.Address.String(),
		"--secure-port="+strconv.Itoa(apiserverPort),
		"--service-cluster-ip-range="+cp.ServiceCIDR,
		"--client-ca-file="+cp.path("ca.crt"),
		"--tls-cert-file="+cp.path("apiserver.crt"),
		"--tls-private-key-file="+cp.path("apiserver.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+cp.path("sa.pub"),
		"--service-account-signing-key-file="+cp.path("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins="+plugins,
		// Webhooks are called at their Services' endpoints, not at a cluster IP:
		// there is no kube-proxy.
		"--enable-aggregator-routing=true",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	rt, err := rest.TransportFor(cp.Admin)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, &http.Client{Transport: rt, Timeout: 5 * time.Second}, cp.Server+"/readyz", 3*time.Minute); err != nil {
		return fmt.Errorf("kube-apiserver: %w\n%s", err, p.Tail(30))
	}
	return nil
}

func (cp *ControlPlane) startControllers() error {
	kcm, err := cp.Kubeconfig("kube-controller-manager", "system:kube-controller-manager")
	if err != nil {
		return err
	}
	if _, err := cp.start("kube-controller-manager", filepath.Join(cp.BinDir, "kube-controller-manager"),
		"--kubeconfig="+kcm,
		"--authentication-kubeconfig="+kcm,
		"--authorization-kubeconfig="+kcm,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+cp.path("sa.key"),
		"--root-ca-file="+cp.path("ca.crt"),
		"--controllers=*",
		"--v=1",
		// Why a node went NotReady (and its pods with it) is logged at 2.
		"--vmodule=node_lifecycle_controller=2",
	); err != nil {
		return err
	}
	sched, err := cp.Kubeconfig("kube-scheduler", "system:kube-scheduler")
	if err != nil {
		return err
	}
	_, err = cp.start("kube-scheduler", filepath.Join(cp.BinDir, "kube-scheduler"),
		"--kubeconfig="+sched,
		"--authentication-kubeconfig="+sched,
		"--authorization-kubeconfig="+sched,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--v=1",
	)
	return err
}

// StartKwok runs the kwok binary for the nodes annotated
// kwok.x-k8s.io/node=fake, giving their pods addresses from podCIDR. Its Stage
// objects must be applied too.
func (cp *ControlPlane) StartKwok(bin, podCIDR string) (*Process, error) {
	kubeconfig, err := cp.Kubeconfig("kwok", "kwok", "system:masters")
	if err != nil {
		return nil, err
	}
	// kwok's client-go asks for watch-list streams; the API server serves them
	// with etcd's watch progress requests (etcd 3.5.13 and later: tools/etcd).
	p, err := StartProcess("kwok", cp.LogDir(), nil, bin,
		"--kubeconfig="+kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr="+podCIDR,
		"--node-ip="+cp.Address.String(),
		"--node-port=10247",
		"--server-address=127.0.0.1:10247",
		"--enable-crds=Stage",
		"--node-lease-duration-seconds=40",
	)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// Processes are the processes started so far, for diagnostics.
func (cp *ControlPlane) Processes() []*Process { return cp.procs }

// Stop stops every process, the last started first.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		p := cp.procs[i]
		p.Stop(10 * time.Second)
	}
	cp.procs = nil
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func waitHTTP(ctx context.Context, p *Process, c *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-p.Exited():
			return fmt.Errorf("%w: %v", ErrExited, p.Err())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, errors.Join(ctx.Err(), last))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// CAPool is a certificate pool holding the cluster CA.
func (cp *ControlPlane) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(cp.CA.Cert)
	return pool
}

// TLSConfig trusts the cluster CA.
func (cp *ControlPlane) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: cp.CAPool(), MinVersion: tls.VersionTLS12}
}

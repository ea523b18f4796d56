// Package devstack runs the project's local stack, what `make dev` (`sa dev`) starts:
// moto_server emulating AWS, the AWS resources provisioned in it, a development CA and
// certificate, and every HTTP service built from source and run as a child process
// speaking HTTPS on localhost. It writes .dev/stack.json so tools find everything, and
// on cancellation stops every process it started, in order.
//
// A second run reuses what exists: the CA and certificates, the page-token key, a
// moto_server that is already running, and the provisioned resources. A moto_server the
// stack starts keeps its state in <Dir>/moto-state.pickle across runs (persist.go).
//
// Each process's output is appended to <Dir>/logs/<name>.log and, except moto's, shown
// on the terminal human-readable (logs.go). Once the stack is up, a process that dies
// is restarted with backoff and the rest keeps running (supervise.go); <Dir>/status.json
// records each one's pid, restarts and last error for `sa status` (status.go).
//
// With Options.Regions the blog runs in several regions of the one moto (regions.go):
// each further region provisioned like the first and running its own MyBlog services,
// the global tables kept in step by a local replicator (internal/globaltable).
package devstack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/globaltable"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Options configure Run. Zero fields take the defaults listed.
type Options struct {
	// Dir holds the stack's files: tls/, bin/, page-token.key, stack.json (".dev").
	Dir string
	// SourceDir is the module root the services are built from (".").
	SourceDir string
	// Region is the AWS region ("us-east-1").
	Region string
	// MotoEndpoint, when set, is a running moto_server to use.
	MotoEndpoint string
	// MotoPort is where a moto_server is looked for, or started, on 127.0.0.1 (4566).
	MotoPort int
	// MotoCommand is the moto_server executable, looked up on PATH ("moto_server").
	MotoCommand string
	// MotoPython is the Python that runs a moto_server which keeps its state in
	// <Dir>/moto-state.pickle (persist.go), looked up on PATH ("python3"). When it
	// cannot import moto, MotoCommand runs instead and the state is lost on stop.
	MotoPython string
	// Fresh moves the saved state of moto aside before starting one, so the stack
	// starts empty.
	Fresh bool
	// APIPort is the HTTPS port of the to-do API (8443).
	APIPort int
	// EdgePort is the HTTPS port of the blog edge (8444).
	EdgePort int
	// AppPort is the HTTPS port of the MyTodoList app's edge (8445).
	AppPort int
	// PortBase is the first loopback port of the internal services (DefaultPortBase,
	// 8081); they use the ports from there up to PortBase+15, and the gateway's
	// replicas 3 each after that (GatewayReplicaPortBase).
	PortBase int
	// GatewayReplicas is how many gateway processes serve the to-do API (1). With
	// more, each has its own port and the others as peers, and a round-robin
	// balancer in this process listens on APIPort (replicas.go).
	GatewayReplicas int
	// Prefix is put before every AWS resource name ("").
	Prefix string
	// Regions, when it names more than one region, runs MyBlog in each (regions.go):
	// the first is Region, where the whole stack runs; each further one gets its own
	// RegionalServices, and a replicator keeps the global tables' replicas in step.
	Regions []string
	// RegionPortBase is the first loopback port of the further regions (PortBase+200):
	// the i-th further region takes RegionPortBlock ports from
	// RegionPortBase+RegionPortBlock*(i-1), its edge the last of them.
	RegionPortBase int
	// Services are the services to run (Services()).
	Services []Service
	// Stdout receives the stack's own messages and every child's prefixed output
	// (os.Stdout).
	Stdout io.Writer
	// LogFormat is how the services' lines are shown on Stdout: LogText (the default),
	// human-readable, or LogJSON, as they are. Either way each process's output is
	// also appended, as it is, to <Dir>/logs/<name>.log; moto's goes there only.
	LogFormat string
	// Colour colours the text format's prefixes and levels (for a terminal without
	// NO_COLOR).
	Colour bool
	// StopTimeout is how long a child may take to stop after SIGTERM before it is
	// killed (10s).
	StopTimeout time.Duration
	// ReadyTimeout bounds the wait for a service's /readyz (60s).
	ReadyTimeout time.Duration
	// Watch rebuilds and restarts the services a saved .go file is part of, and
	// publishes web/ again when it changes (watch.go).
	Watch bool
	// WatchDebounce is how long the watcher waits after a change for the next before
	// it rebuilds: a burst of saves closer together than this is one rebuild (50ms).
	WatchDebounce time.Duration
	// Debug builds the services for a debugger (`dlv attach PID`): with the symbol
	// table and DWARF that ko.yaml's -s -w strip, and without optimisation or inlining
	// (debugFlags). Builds and links are slower; the binaries are not the images'.
	Debug bool
	// ScaleToZero stops each service whose Knative Service has min-scale 0 after Idle
	// without a request and starts it on the next (scaletozero.go).
	ScaleToZero bool
	// Idle is how long a service that scales to zero runs without a request (60s, as
	// the manifests' scale-to-zero-pod-retention-period).
	Idle time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.Dir, ".dev")
	def(&o.SourceDir, ".")
	def(&o.Region, "us-east-1")
	def(&o.MotoCommand, "moto_server")
	def(&o.MotoPython, "python3")
	if o.MotoPort == 0 {
		o.MotoPort = 4566
	}
	if o.APIPort == 0 {
		o.APIPort = 8443
	}
	if o.EdgePort == 0 {
		o.EdgePort = 8444
	}
	if o.AppPort == 0 {
		o.AppPort = 8445
	}
	if o.PortBase == 0 {
		o.PortBase = DefaultPortBase
	}
	if o.RegionPortBase == 0 {
		o.RegionPortBase = o.PortBase + 200
	}
	if o.GatewayReplicas == 0 {
		o.GatewayReplicas = 1
	}
	if o.Services == nil {
		o.Services = Services()
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.LogFormat == "" {
		o.LogFormat = LogText
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.WatchDebounce == 0 {
		o.WatchDebounce = defaultWatchDebounce
	}
	if o.Idle == 0 {
		o.Idle = 60 * time.Second
	}
	return o
}

// Run starts the local stack and keeps it running until ctx ends (nil error) or a
// child dies unexpectedly (an error naming it, with its exit status and last lines).
// Either way every process it started is stopped and stack.json removed before it
// returns.
func Run(ctx context.Context, o Options) (err error) {
	o = o.withDefaults()
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("stack directory: %w", err)
	}
	o.Dir = dir
	if o.LogFormat != LogText && o.LogFormat != LogJSON {
		return fmt.Errorf("--log-format must be %s or %s, not %q", LogText, LogJSON, o.LogFormat)
	}
	s := &stackRun{o: o, con: &console{w: o.Stdout}, died: make(chan struct{}), closed: make(chan struct{}), width: o.nameWidth()}
	defer func() {
		s.shutdown()
		// Stopped by the operator, possibly mid-start (a build killed, a wait cut
		// short): that is a clean stop, not a failure.
		if ctx.Err() != nil && !errors.Is(err, errDied) {
			err = nil
		}
	}()
	st, err := s.up(ctx)
	if err != nil {
		return err
	}
	if o.Watch {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		if err := s.startWatch(wctx, st); err != nil {
			return err
		}
	}
	s.summary(st)
	select {
	case <-ctx.Done():
		s.con.Printf("stopping the local stack (Ctrl-C again to force)")
		return nil
	case <-s.died:
		return s.deathError()
	}
}

// stackRun is one run of the stack.
type stackRun struct {
	o     Options
	con   *console
	width int // of the processes' names on the terminal

	mu          sync.Mutex
	cognito     *http.Server // the Cognito stand-in (cognito.go)
	children    []*child     // in start order
	startedMoto *child       // nil when moto was already running
	stackFile   string       // set once this run wrote stack.json
	dead        *child       // the first child that died unexpectedly
	died        chan struct{}
	// replicator keeps the further regions' replicas in step (regions.go), until
	// stopReplicator is called.
	replicator     *globaltable.Replicator
	stopReplicator context.CancelFunc
	balancer       *http.Server // in front of the gateway's replicas, when there are several
	activators     []*activator // in front of the services that scale to zero
	traces         *http.Server // the trace receiver (traces.go)
	tracesURL      string       // its OTLP endpoint, which every service is given
	metricsOnce    sync.Once
	devMetrics     *devMetrics // sa dev's own series (metrics.go), served beside the traces

	// Supervision (supervise.go): running is set once the stack is up, from when a dying
	// service is restarted; closing once shutdown began, when closed is closed too.
	running bool
	closing bool
	closed  chan struct{}
	st      *stack.Stack
	// persistent is set when the moto this run started keeps its state (persist.go).
	persistent bool
	// cognitoURL is the Cognito stand-in's URL, which provisioning names in the app's CSP.
	cognitoURL string
	status     map[string]*supervised
}

// deathError is the error of a run stopped by a child's death.
func (s *stackRun) deathError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Errorf("%w: %w", errDied, s.dead.obituary())
}

// up brings the stack up and writes stack.json.
func (s *stackRun) up(ctx context.Context) (*stack.Stack, error) {
	o := s.o
	if err := o.checkRegions(); err != nil {
		return nil, err
	}
	if o.GatewayReplicas < 1 || o.GatewayReplicas > MaxGatewayReplicas {
		return nil, fmt.Errorf("--gateway-replicas must be between 1 and %d, got %d", MaxGatewayReplicas, o.GatewayReplicas)
	}
	if o.GatewayReplicas > 1 {
		if err := o.replicaPortsFree(); err != nil {
			return nil, err
		}
	}
	for _, svc := range o.Services {
		if err := portFree(svc.Port(o)); err != nil {
			return nil, fmt.Errorf("%s cannot listen: %w (is another `sa dev` running? see %s); stop it or choose another port",
				svc.Name, err, filepath.Join(o.Dir, "stack.json"))
		}
	}
	ep, err := s.moto(ctx)
	if err != nil {
		return nil, err
	}
	s.con.Printf("provisioning AWS resources in moto (%s)", o.Region)
	shift := o.PortBase - DefaultPortBase
	cognitoLn, cognitoURL, err := listenCognito(o)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cognitoURL = cognitoURL
	s.mu.Unlock()
	res, err := s.provision(ctx, ep, cognitoURL)
	if err != nil {
		_ = cognitoLn.Close()
		return nil, err
	}
	if _, err := s.startCognito(cognitoLn, ep, res); err != nil {
		return nil, err
	}
	distribution, err := WriteDistribution(o.Dir, res)
	if err != nil {
		return nil, err
	}
	appDistribution, err := s.writeAppDistribution(res)
	if err != nil {
		return nil, err
	}
	if err := s.deploySite(ctx, o.Region, ep, res); err != nil {
		return nil, err
	}
	certs, err := devtls.Ensure(filepath.Join(o.Dir, "tls"))
	if err != nil {
		return nil, err
	}
	key, err := PageTokenKey(filepath.Join(o.Dir, "page-token.key"))
	if err != nil {
		return nil, err
	}
	if s.tracesURL, err = s.startTraces(); err != nil {
		return nil, err
	}
	if _, err := s.buildServices(ctx, o.Services); err != nil {
		return nil, err
	}
	bins := make(map[string]string, len(o.Services))
	for _, svc := range o.Services {
		bins[svc.Name] = s.binPath(svc.Name)
	}
	client, err := httpsClient(certs.CACert)
	if err != nil {
		return nil, err
	}
	st := &stack.Stack{
		Region:          o.Region,
		AWSEndpoint:     ep,
		CognitoEndpoint: cognitoURL,
		CAFile:          certs.CACert,
		Services:        map[string]stack.Service{},
		Resources:       res,
		MetricsURL:      s.tracesURL + MetricsPath,
	}
	if port, err := strconv.Atoi(ep[strings.LastIndex(ep, ":")+1:]); err == nil {
		moto := stack.Service{URL: ep, Port: port}
		if s.startedMoto != nil {
			moto.PID = s.startedMoto.PID()
		}
		st.Services["moto"] = moto
	}
	if err := s.deployApp(ctx, st); err != nil {
		return nil, err
	}
	scales, err := s.scaledServices()
	if err != nil {
		return nil, err
	}
	for _, svc := range o.Services {
		in := Inputs{Region: o.Region, AWSEndpoint: ep, Port: svc.Port(o), PortShift: shift, EdgePort: o.EdgePort, TLS: certs, PageTokenKey: key,
			DistributionFile: distribution, AppDistributionFile: appDistribution, Resources: res, PoolFile: s.poolFile(), TracesEndpoint: s.tracesURL}
		if svc.API && o.GatewayReplicas > 1 {
			balancer, reps, err := s.startGatewayReplicas(svc, bins[svc.Name], in)
			if err != nil {
				return nil, err
			}
			st.Services[svc.Name], st.GatewayReplicas, st.APIURL = balancer, reps, balancer.URL
			continue
		}
		envAt := func(port int) []string {
			in := in
			in.Port = port
			env := append(s.inheritedEnv(), CommonEnv(in)...)
			if svc.Env != nil {
				env = append(env, svc.Env(in)...)
			}
			return env
		}
		var c *child
		if scales[svc.Name] {
			c, err = s.startScaled(svc.Name, bins[svc.Name], in.Port, envAt, certs)
		} else {
			c, err = s.start(svc.Name, bins[svc.Name], nil, envAt(in.Port), o.SourceDir)
		}
		if err != nil {
			return nil, err
		}
		u := "https://localhost:" + strconv.Itoa(in.Port)
		s.noteURL(svc.Name, u)
		st.Services[svc.Name] = stack.Service{URL: u, Port: in.Port, PID: c.PID()}
		if svc.API {
			st.APIURL = u
		}
		if svc.Blog {
			st.BlogURL = u
		}
		if svc.App {
			st.AppURL = u
		}
	}
	for i, r := range st.GatewayReplicas {
		if err := s.waitReady(ctx, client, fmt.Sprintf("gateway replica %d", i+1), r.URL); err != nil {
			return nil, err
		}
	}
	for _, svc := range o.Services {
		if err := s.waitReady(ctx, client, svc.Name, st.Services[svc.Name].URL); err != nil {
			return nil, err
		}
	}
	if len(o.Regions) > 1 {
		rctx, stop := context.WithCancel(ctx)
		s.mu.Lock()
		s.stopReplicator = stop
		s.mu.Unlock()
		if err := s.upRegions(rctx, st, ep, certs, key, bins, client); err != nil {
			return nil, err
		}
	}
	// stack.json tells tools and tests the stack is up: from the moment it exists, a
	// process that dies is restarted, not taken for a failed start that stops the stack.
	path := filepath.Join(o.Dir, "stack.json")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running, s.st, s.stackFile = true, st, path
	if err := stack.Write(path, st); err != nil {
		return nil, err
	}
	return st, nil
}

// provision creates (or finds) the stack's resources in moto at ep, in the first region.
func (s *stackRun) provision(ctx context.Context, ep, cognitoURL string) (stack.Resources, error) {
	o := s.o
	// The blog's local origin is where the admin page runs: the media bucket's CORS rule
	// must let it PUT photos to their presigned URLs, as it lets the CloudFront domain.
	blog := BlogOrigin(o.PortBase - DefaultPortBase)
	blog.Regions = o.Regions
	for _, svc := range o.Services {
		if svc.Blog {
			blog.SiteOrigins = append(blog.SiteOrigins, "https://localhost:"+strconv.Itoa(svc.Port(o)))
		}
	}
	res, err := provision.Run(ctx, motoConfig(o.Region, ep), provision.Options{Prefix: o.Prefix, Log: prefixed(s.con, "  "), Blog: blog,
		App: AppOrigin(o, cognitoURL), Sender: provision.SenderOptions{Email: LocalSender}})
	if err != nil {
		return stack.Resources{}, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return stack.Resources{}, err
	}
	// The services verify tokens of the pool this file names, and follow it when a
	// restarted moto gets a new one (internal/auth, COGNITO_POOL_FILE).
	if err := auth.WritePoolFile(s.poolFile(), auth.PoolFile{Issuer: res.Issuer, JWKSURL: res.JWKSURL, ClientIDs: []string{res.UserPoolClientID}}); err != nil {
		return stack.Resources{}, err
	}
	return res, nil
}

// PoolFileName is the user pool file in the stack's directory: the issuer, JWKS URL
// and app client of the pool the services trust (auth.PoolFile).
const PoolFileName = "cognito-pool.json"

// poolFile is the path of the stack's user pool file.
func (s *stackRun) poolFile() string { return filepath.Join(s.o.Dir, PoolFileName) }

// motoConfig is the SDK configuration of the provisioning clients: moto's endpoint and
// dummy credentials, built without reading the operator's environment, which is left
// alone (and whose AWS_PROFILE or AWS_ENDPOINT_URL_* must not leak in).
func motoConfig(region, ep string) aws.Config {
	return aws.Config{
		Region:           region,
		BaseEndpoint:     aws.String(ep),
		Credentials:      aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("test", "test", "")),
		RetryMaxAttempts: 3,
	}
}

// inheritedEnv is the operator's environment without any AWS_ variable: children get
// their AWS settings from the stack only, never from the operator's real account.
func (s *stackRun) inheritedEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
}

// start starts a child and tracks it for shutdown. Its output is appended to its log
// file and shown on the terminal, except moto's, which goes to the file only.
func (s *stackRun) start(name, bin string, args, env []string, dir string) (*child, error) {
	file, err := openLog(s.o.Dir, name)
	if err != nil {
		return nil, err
	}
	out := output{
		con:    s.con,
		format: lineFormat{name: name, width: s.width, json: s.o.LogFormat == LogJSON, colour: s.o.Colour},
		quiet:  name == "moto",
		file:   file,
	}
	c, err := startChild(out, bin, args, env, dir, func(c *child) {
		file.Close()
		s.onExit(c)
	})
	if err != nil {
		file.Close()
		return nil, err
	}
	c.spec = spec{name: name, bin: bin, dir: dir, args: args, env: env}
	s.mu.Lock()
	if s.closing {
		// A restart that lost the race with shutdown.
		s.mu.Unlock()
		c.stop(s.o.StopTimeout)
		return nil, fmt.Errorf("start %s: the stack is stopping", name)
	}
	s.children = append(s.children, c)
	s.supervisedLocked(name).started = time.Now()
	s.writeStatusLocked()
	s.mu.Unlock()
	return c, nil
}

// binPath is where the binary of the service name is built.
func (s *stackRun) binPath(name string) string { return filepath.Join(s.o.Dir, "bin", name) }

// waitReady waits for GET <url>/readyz to answer 200.
func (s *stackRun) waitReady(ctx context.Context, client *http.Client, name, url string) error {
	ready := func() bool { return answersReady(ctx, client, url) }
	if err := s.waitFor(ctx, s.o.ReadyTimeout, ready); err != nil {
		if errors.Is(err, errDied) {
			return err
		}
		return fmt.Errorf("%s is not ready at %s/readyz: %w", name, url, err)
	}
	s.con.Printf("%s is ready at %s", name, url)
	return nil
}

// shutdown stops the services (all at once), then moto if this run started it, and
// removes stack.json if this run wrote it.
func (s *stackRun) shutdown() {
	s.stopBalancer()
	s.stopActivators()
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.closed)
	}
	children := slices.Clone(s.children)
	stackFile := s.stackFile
	moto := s.startedMoto
	s.mu.Unlock()
	for _, f := range []string{stackFile, filepath.Join(s.o.Dir, StatusFile)} {
		if f == "" {
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.con.Printf("could not remove %s: %v", f, err)
		}
	}
	var services []*child
	for _, c := range children {
		if c != moto {
			services = append(services, c)
		}
	}
	var wg sync.WaitGroup
	for _, c := range services {
		wg.Go(func() { s.stop(c) })
	}
	wg.Wait()
	s.mu.Lock()
	stopReplicator, rep := s.stopReplicator, s.replicator
	s.mu.Unlock()
	if stopReplicator != nil {
		stopReplicator()
	}
	if rep != nil {
		rep.Wait()
		s.con.Printf("stopped the replicator")
	}
	s.stopCognito()
	s.stopTraces() // after the services, whose last spans it takes
	if moto != nil && !moto.exited() {
		s.stop(moto)
		if s.persistent {
			s.stateNote(moto)
		}
	}
}

func (s *stackRun) stop(c *child) {
	if c.exited() {
		return
	}
	c.stop(s.o.StopTimeout)
	s.con.Printf("stopped %s", c.name)
}

// summary tells the operator what runs where and how to use it.
func (s *stackRun) summary(st *stack.Stack) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe local stack is up.\n")
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		svc := st.Services[n]
		note := fmt.Sprintf("pid %d", svc.PID)
		if svc.PID == 0 {
			note = "already running, left alone on exit"
		}
		fmt.Fprintf(&b, "  %-16s %-28s %s\n", n, svc.URL, note)
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(".", p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	fmt.Fprintf(&b, "  %-16s %s\n", "to-do API", st.APIURL)
	for i, r := range st.GatewayReplicas {
		fmt.Fprintf(&b, "  %-16s %-28s pid %d (the API port sends requests to each in turn)\n", fmt.Sprintf("gateway %d", i+1), r.URL, r.PID)
	}
	if st.BlogURL != "" {
		fmt.Fprintf(&b, "  %-16s %s (open it in a browser that trusts the CA below)\n", "blog", st.BlogURL)
	}
	if st.AppURL != "" {
		fmt.Fprintf(&b, "  %-16s %s (MyTodoList: open it in a browser that trusts the CA below; sign up there)\n", "app", st.AppURL)
	}
	for _, r := range st.Regions[min(1, len(st.Regions)):] {
		fmt.Fprintf(&b, "  %-16s %s (region %s: its own blog-api, edge, sources, consumers; %s)\n", "blog@"+r.Region, r.BlogURL, r.Region, regionServices(r))
	}
	if len(st.Regions) > 1 {
		fmt.Fprintf(&b, "  %-16s posts and subscribers replicated between %s (lines \"replicator |\" report the lag)\n", "global tables", regionList(st.Regions))
	}
	fmt.Fprintf(&b, "  %-16s %s, app client %s, table %s\n", "user pool", st.Resources.UserPoolID, st.Resources.UserPoolClientID, st.Resources.TodosTable)
	fmt.Fprintf(&b, "  %-16s %s (trust it: curl --cacert %s %s/readyz)\n", "CA", rel(st.CAFile), rel(st.CAFile), st.APIURL)
	fmt.Fprintf(&b, "  %-16s %s (every URL and id; the client CLI reads it)\n", "stack file", rel(filepath.Join(s.o.Dir, "stack.json")))
	fmt.Fprintf(&b, "Try it (the client CLI finds the stack through the stack file):\n")
	fmt.Fprintf(&b, "  go run ./cmd/todo signup --email you@example.com   (password: 8+ characters with upper, lower, digit, symbol)\n")
	fmt.Fprintf(&b, "  go run ./cmd/todo confirm --email you@example.com --code 123456   (moto accepts any code)\n")
	fmt.Fprintf(&b, "  go run ./cmd/todo login --email you@example.com\n")
	fmt.Fprintf(&b, "  go run ./cmd/todo add 'buy milk' && go run ./cmd/todo ls\n")
	fmt.Fprintf(&b, "  go run ./cmd/todo --help\n")
	fmt.Fprintf(&b, "Ctrl-C stops everything.")
	s.con.Printf("%s", b.String())
}

// PageTokenKey returns the base64 key of 32 random bytes stored at path, creating the
// file (mode 0600) the first time.
func PageTokenKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(raw) != 32 {
			return "", fmt.Errorf("page-token key %s is not 32 bytes of base64; delete it to make a new one", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read page-token key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("make page-token key: %w", err)
	}
	k := base64.StdEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("write page-token key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write page-token key: %w", err)
	}
	_, werr := f.WriteString(k + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", fmt.Errorf("write page-token key %s: %w", path, err)
	}
	return k, nil
}

// HTTPSClient is an HTTP client that trusts only the stack's CA in caFile, with a
// timeout of 2s: what tools use to reach the stack's services.
func HTTPSClient(caFile string) (*http.Client, error) { return httpsClient(caFile) }

// httpsClient trusts only the CA in caFile.
func httpsClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA: %s holds no certificate", caFile)
	}
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}, nil
}

// portFree reports an error when something already listens on 127.0.0.1:port.
func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is in use", port)
	}
	return l.Close()
}

// prefixed returns a writer that writes each line to con with a prefix.
func prefixed(con *console, prefix string) io.Writer {
	return &prefixer{con: con, format: lineFormat{literal: prefix, json: true}, tail: &tail{}}
}

// nameWidth is the length of the longest process name the stack can start.
func (o Options) nameWidth() int {
	w := len("moto")
	for _, svc := range o.Services {
		w = max(w, len(svc.Name))
		if svc.API && o.GatewayReplicas > 1 {
			w = max(w, len(fmt.Sprintf("%s-%d", svc.Name, o.GatewayReplicas)))
		}
		for _, r := range o.Regions[min(1, len(o.Regions)):] {
			w = max(w, len(regionalName(svc.Name, r)))
		}
	}
	return w
}

// Local returns an internal service's port for this stack: its constant, moved by
// PortBase.
func (o Options) Local(port int) int { return port - DefaultPortBase + o.PortBase }

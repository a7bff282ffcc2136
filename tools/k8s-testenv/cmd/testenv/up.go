package main

// `testenv up`: embedded etcd (or kine over SQLite, `--datastore kine`) plus
// kube-apiserver, kube-controller-manager and kube-scheduler as separate child
// processes, supervised until SIGTERM/SIGINT.
// SIGUSR1 restarts only kube-apiserver (same port, same certificates); SIGUSR2
// does the same with SIGKILL instead of SIGTERM.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	etcdversion "go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/embed"
)

// defaultControllers are the kube-controller-manager controllers a cluster that
// runs workloads needs, and no more (a 2-core machine runs several clusters):
// the node lifecycle and taint eviction that picokubelet's nodes are judged by;
// the workload controllers behind `kubectl rollout status` (deployment,
// replicaset, statefulset, daemonset, replicationcontroller), Jobs and CronJobs
// (job, cronjob, ttl-after-finished); `kubectl drain` (eviction is served by the
// API server, but a PodDisruptionBudget only allows evictions once the
// disruption controller has written its status); namespaces, service accounts
// and their tokens, the garbage collector and pod GC; CSR signing for node
// certificates; EndpointSlices for Services with selectors; the token cleaner,
// as k3s adds it, for the bootstrap tokens the API server accepts. Left out on
// purpose: ttl-controller (it annotates every Node), resourcequota (periodic
// full resyncs), HPA (no node serves pod metrics yet), the volume controllers and node-ipam.
var defaultControllers = strings.Join([]string{
	"node-lifecycle-controller", "taint-eviction-controller",
	"deployment-controller", "replicaset-controller", "statefulset-controller", "daemonset-controller",
	"replicationcontroller-controller",
	"job-controller", "cronjob-controller", "ttl-after-finished-controller",
	"disruption-controller",
	"namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"garbage-collector-controller", "pod-garbage-collector-controller",
	"certificatesigningrequest-signing-controller", "certificatesigningrequest-approving-controller",
	"certificatesigningrequest-cleaner-controller", "clusterrole-aggregation-controller",
	"endpointslice-controller", "token-cleaner-controller",
}, ",")

type upOptions struct {
	dir                    string
	binDir                 string
	datastore              string // "etcd" (embedded) or "kine"
	kineBin                string
	metricsServerBin       string // empty: no metrics-server (metrics.go)
	registryBin            string // empty: no registry (registry.go)
	apiserverPort          int
	nodeMonitorPeriod      string
	nodeMonitorGracePeriod string
	nodeStartupGracePeriod string
	clusterSigningDuration string
	controllers            string
	readyTimeout           time.Duration
	apiserverVerbosity     int
	stopTimeout            time.Duration
	restartGrace           time.Duration
	extraAPIServerArgs     stringList
	extraControllerMgrArgs stringList
	profile                string     // profile.go
	manifests              stringList // manifests.go
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type portSet struct {
	APIServer         int `json:"apiserver"`
	EtcdClient        int `json:"etcdClient"`
	EtcdPeer          int `json:"etcdPeer"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	MetricsServer     int `json:"metricsServer,omitempty"`
	Registry          int `json:"registry,omitempty"`
}

// clusterInfo is written to <dir>/cluster.json once everything is ready.
type clusterInfo struct {
	Ready             bool              `json:"ready"`
	Version           string            `json:"version"`
	Server            string            `json:"server"`
	CAFile            string            `json:"caFile"`
	CAPEM             string            `json:"caPEM"`
	AdminToken        string            `json:"adminToken"`
	AdminKubeconfig   string            `json:"adminKubeconfig"`
	Kubectl           string            `json:"kubectl"`
	NodeTokens        map[string]string `json:"nodeTokens"`
	Ports             portSet           `json:"ports"`
	Pids              map[string]int    `json:"pids"`
	Dir               string            `json:"dir"`
	BinDir            string            `json:"binDir"`
	LogDir            string            `json:"logDir"`
	Datastore         string            `json:"datastore"`
	DatastoreDir      string            `json:"datastoreDir"`
	EtcdDir           string            `json:"etcdDir,omitempty"`
	EtcdServer        string            `json:"etcdServer"`
	StartedAt         string            `json:"startedAt"`
	ReadyAfterSeconds float64           `json:"readyAfterSeconds"`
	APIServerRestarts int               `json:"apiserverRestarts"`
	NodeMonitor       map[string]string `json:"nodeMonitor"`
	Controllers       []string          `json:"controllers"`
	Addons            addonsInfo        `json:"addons"`
	KubeletClient     kubeletClientInfo `json:"kubeletClient"`
	Profile           string            `json:"profile"`
}

type child struct {
	name    string
	bin     string
	args    []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool // stop requested: an exit is expected
}

func (c *child) start() error {
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "\n===== %s testenv: starting %s %s\n", time.Now().Format(time.RFC3339), c.bin, strings.Join(c.args, " "))
	cmd := exec.Command(c.bin, c.args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Stdin = nil
	// Own process group (so a stop reaches everything it spawned) and die with us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.done, c.stopped = cmd, done, false
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		c.mu.Lock()
		expected := c.stopped
		c.mu.Unlock()
		if !expected {
			logf("%s (pid %d) exited unexpectedly: %v (see %s)", c.name, cmd.Process.Pid, err, c.logPath)
		}
		close(done)
	}()
	logf("started %s (pid %d), log %s", c.name, cmd.Process.Pid, c.logPath)
	return nil
}

func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

func (c *child) running() bool {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the child's process group and waits for it.
func (c *child) kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.stopped = true
	c.mu.Unlock()
	if cmd == nil || done == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	logf("killed %s (pid %d)", c.name, cmd.Process.Pid)
}

// stop sends SIGTERM to the child's process group, waits up to timeout, then SIGKILLs it.
func (c *child) stop(timeout time.Duration) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.stopped = true
	c.mu.Unlock()
	if cmd == nil || done == nil {
		return
	}
	pid := cmd.Process.Pid
	select {
	case <-done:
		return
	default:
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
		logf("stopped %s (pid %d)", c.name, pid)
	case <-time.After(timeout):
		logf("%s (pid %d) did not stop within %s, killing", c.name, pid, timeout)
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	// Anything left in the group (there should be nothing) goes too.
	syscall.Kill(-pid, syscall.SIGKILL)
}

func portFree(p int) bool {
	if p <= 0 || p > 65535 {
		return false
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort(taken map[int]bool) (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !taken[p] {
			taken[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free port found")
}

// choosePorts keeps the ports of the previous run when they are still free.
func choosePorts(dir string, apiserverPort int) (portSet, error) {
	path := filepath.Join(dir, "ports.json")
	var prev portSet
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &prev)
	}
	taken := map[int]bool{}
	pick := func(name string, old int, fixed int) (int, error) {
		if fixed > 0 {
			if !portFree(fixed) || taken[fixed] {
				return 0, fmt.Errorf("%s port %d is not free", name, fixed)
			}
			taken[fixed] = true
			return fixed, nil
		}
		if old > 0 && !taken[old] && portFree(old) {
			taken[old] = true
			return old, nil
		}
		p, err := freePort(taken)
		if err == nil && old > 0 {
			logf("%s port %d is busy, using %d", name, old, p)
		}
		return p, err
	}
	var ps portSet
	var err error
	if ps.APIServer, err = pick("kube-apiserver", prev.APIServer, apiserverPort); err != nil {
		return ps, err
	}
	if ps.EtcdClient, err = pick("etcd client", prev.EtcdClient, 0); err != nil {
		return ps, err
	}
	if ps.EtcdPeer, err = pick("etcd peer", prev.EtcdPeer, 0); err != nil {
		return ps, err
	}
	if ps.ControllerManager, err = pick("kube-controller-manager", prev.ControllerManager, 0); err != nil {
		return ps, err
	}
	if ps.Scheduler, err = pick("kube-scheduler", prev.Scheduler, 0); err != nil {
		return ps, err
	}
	if ps.MetricsServer, err = pick("metrics-server", prev.MetricsServer, 0); err != nil {
		return ps, err
	}
	if ps.Registry, err = pick("registry", prev.Registry, 0); err != nil {
		return ps, err
	}
	data, _ := json.MarshalIndent(ps, "", "  ")
	return ps, writeFileAtomic(path, append(data, '\n'), 0o644)
}

func startEtcd(dir string, ps portSet, logDir string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "testenv"
	cfg.Dir = filepath.Join(dir, "etcd")
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", ps.EtcdClient))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", ps.EtcdPeer))
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true // test cluster: speed over durability
	// "warn" logs a "request stats" line for every request; keep only errors.
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(logDir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("embedded etcd did not become ready within 60s")
	}
	return e, nil
}

// kineEmulatedEtcdVersion is what kine answers to the etcd Status call: the etcd
// that the pinned Kubernetes pins and the etcd datastore runs (3.6.8 for v1.36.3,
// 3.5.14 for v1.31.14), so the API server enables the same storage features
// (watch progress requests, ...) on both datastores.
var kineEmulatedEtcdVersion = etcdversion.Version

// kineSQLiteParams are kine's own defaults for its SQLite DSN (pkg/drivers/sqlite);
// they have to be spelled out because the DSN names our own file.
const kineSQLiteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

func (e *env) kineArgs() []string {
	return []string{
		fmt.Sprintf("--listen-address=127.0.0.1:%d", e.ports.EtcdClient),
		"--endpoint=sqlite://" + filepath.Join(e.dir, "kine", "state.db") + "?" + kineSQLiteParams,
		// Its default is ":8080" on every interface; nothing here reads kine's metrics.
		"--metrics-bind-address=0",
		// The API server (>= 1.34) relies on periodic progress notifications for
		// consistent reads from its watch cache, and manages compaction itself: it
		// watches the compact revision key, so kine must not compact on its own
		// (kine pull request 513).
		"--watch-progress-notify-interval=5s",
		"--compact-interval=0",
		"--emulated-etcd-version=" + kineEmulatedEtcdVersion,
	}
}

// startKine runs kine as a child and waits until it accepts connections.
func (e *env) startKine() error {
	if err := os.MkdirAll(filepath.Join(e.dir, "kine"), 0o700); err != nil {
		return err
	}
	e.kine = &child{name: "kine", bin: e.opts.kineBin, args: e.kineArgs(), logPath: filepath.Join(e.logDir, "kine.log")}
	if err := e.kine.start(); err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", e.ports.EtcdClient)
	return waitFor("kine on "+addr, e.opts.readyTimeout, childAlive(e.kine), func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

type env struct {
	opts      upOptions
	dir       string
	logDir    string
	pki       pkiPaths
	ports     portSet
	admin     string
	adminKC   string
	kubectl   string
	caPEM     []byte
	tlsClient *http.Client // verifies the cluster CA
	insecure  *http.Client // for the KCM/scheduler self-signed endpoints

	apiserver, kcm, scheduler *child
	metricsServer, registry   *child // add-ons (addons.go)
	stopApprover              func()
	etcd                      *embed.Etcd // datastore etcd
	kine                      *child      // datastore kine
	info                      clusterInfo
	started                   time.Time
}

func (e *env) server() string { return fmt.Sprintf("https://127.0.0.1:%d", e.ports.APIServer) }

// get does an authenticated GET and returns status code and (truncated) body.
func (e *env) get(c *http.Client, u string, bearer bool) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if bearer {
		req.Header.Set("Authorization", "Bearer "+e.admin)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), nil
}

// waitFor polls check every 250 ms and prints a progress line every 3 s.
func waitFor(what string, timeout time.Duration, alive func() error, check func() (bool, string)) error {
	start := time.Now()
	lastPrint := start
	detail := ""
	for {
		ok, d := check()
		if ok {
			logf("%s: ok after %.1fs", what, time.Since(start).Seconds())
			return nil
		}
		detail = d
		if alive != nil {
			if err := alive(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("%s: not ready after %s: %s", what, timeout, detail)
		}
		if time.Since(lastPrint) >= 3*time.Second {
			lastPrint = time.Now()
			logf("waiting for %s (%.0fs): %s", what, time.Since(start).Seconds(), detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func childAlive(c *child) func() error {
	return func() error {
		if !c.running() {
			return fmt.Errorf("%s exited; see %s", c.name, c.logPath)
		}
		return nil
	}
}

// failingChecks extracts the "[-]..." lines of a verbose readyz answer.
func failingChecks(body string) string {
	var bad []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			bad = append(bad, strings.Fields(strings.TrimPrefix(l, "[-]"))[0])
		}
	}
	if len(bad) == 0 {
		return strings.TrimSpace(body)
	}
	return "failing: " + strings.Join(bad, ", ")
}

func (e *env) waitAPIServer() error {
	return waitFor("kube-apiserver /readyz", e.opts.readyTimeout, childAlive(e.apiserver), func() (bool, string) {
		code, body, err := e.get(e.tlsClient, e.server()+"/readyz?verbose", true)
		if err != nil {
			return false, err.Error()
		}
		if code == 200 {
			return true, ""
		}
		return false, fmt.Sprintf("HTTP %d %s", code, failingChecks(body))
	})
}

func (e *env) healthz(c *child, port int) error {
	return waitFor(c.name+" /healthz", e.opts.readyTimeout, childAlive(c), func() (bool, string) {
		code, body, err := e.get(e.insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), false)
		if err != nil {
			return false, err.Error()
		}
		return code == 200, fmt.Sprintf("HTTP %d %s", code, strings.TrimSpace(body))
	})
}

func (e *env) apiserverArgs() []string {
	p := e.pki
	args := []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", e.ports.EtcdClient),
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", e.ports.APIServer),
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(p.dir, "apiserver-certdir"),
		"--tls-cert-file=" + p.apiCrt,
		"--tls-private-key-file=" + p.apiKey,
		"--client-ca-file=" + p.caCrt,
		"--token-auth-file=" + p.tokens,
		"--enable-bootstrap-token-auth=true",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-signing-key-file=" + p.saKey,
		"--service-account-key-file=" + p.saPub,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		"--profiling=false",
		fmt.Sprintf("--v=%d", e.opts.apiserverVerbosity),
	}
	args = append(args, aggregationArgs(p)...)
	args = append(args, kubeletClientArgs(p)...)
	args = append(args, e.profileAPIServerArgs()...)
	return append(args, e.opts.extraAPIServerArgs...)
}

func (e *env) controllerManagerArgs() []string {
	p := e.pki
	args := []string{
		"--kubeconfig=" + e.adminKC,
		"--authentication-kubeconfig=" + e.adminKC,
		"--authorization-kubeconfig=" + e.adminKC,
		// Only /healthz is served to us, which needs no request-header
		// (front-proxy) authentication: skip reading it from the cluster.
		"--authentication-skip-lookup=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", e.ports.ControllerManager),
		"--controllers=" + e.opts.controllers,
		"--node-monitor-period=" + e.opts.nodeMonitorPeriod,
		"--node-monitor-grace-period=" + e.opts.nodeMonitorGracePeriod,
		"--node-startup-grace-period=" + e.opts.nodeStartupGracePeriod,
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + p.caCrt,
		"--cluster-signing-cert-file=" + p.caCrt,
		"--cluster-signing-key-file=" + p.caKey,
		"--cluster-signing-duration=" + e.opts.clusterSigningDuration,
		"--use-service-account-credentials=false",
		"--profiling=false",
	}
	return append(args, e.opts.extraControllerMgrArgs...)
}

func (e *env) schedulerArgs() []string {
	return []string{
		"--kubeconfig=" + e.adminKC,
		"--authentication-kubeconfig=" + e.adminKC,
		"--authorization-kubeconfig=" + e.adminKC,
		// Only /healthz is served to us, which needs no request-header
		// (front-proxy) authentication: skip reading it from the cluster.
		"--authentication-skip-lookup=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", e.ports.Scheduler),
		"--profiling=false",
	}
}

func (e *env) writePids() {
	e.info.Pids = map[string]int{"testenv": os.Getpid()}
	for _, c := range []*child{e.kine, e.apiserver, e.kcm, e.scheduler, e.metricsServer, e.registry} {
		if c != nil && c.pid() > 0 {
			e.info.Pids[c.name] = c.pid()
		}
	}
	data, _ := json.MarshalIndent(e.info.Pids, "", "  ")
	if err := writeFileAtomic(filepath.Join(e.dir, "pids.json"), append(data, '\n'), 0o644); err != nil {
		logf("writing pids.json: %v", err)
	}
}

func (e *env) writeClusterJSON() error {
	e.writePids()
	data, err := json.MarshalIndent(e.info, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(e.dir, "cluster.json"), append(data, '\n'), 0o600)
}

// writeKubectlWrapper writes <dir>/bin/kubectl, which runs the cached kubectl
// against this cluster unless KUBECONFIG is already set.
func (e *env) writeKubectlWrapper() error {
	binDir := filepath.Join(e.dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	script := fmt.Sprintf("#!/bin/sh\n# Generated by testenv up: the cached kubectl %s, admin of the local cluster by default.\n"+
		"if [ -z \"${KUBECONFIG:-}\" ]; then KUBECONFIG=%s; fi\nexport KUBECONFIG\nexec %s \"$@\"\n",
		k8sVersion, shellQuote(e.adminKC), shellQuote(filepath.Join(e.opts.binDir, "kubectl")))
	e.kubectl = filepath.Join(binDir, "kubectl")
	return writeFileAtomic(e.kubectl, []byte(script), 0o755)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// restartAPIServer stops kube-apiserver and starts it again with the same flags.
// kube-apiserver waits for open watches (KCM, scheduler, tests) for up to a
// minute before it exits on SIGTERM, so the grace period here is short; with
// kill set it gets SIGKILL at once, like a crash.
func (e *env) restartAPIServer(kill bool) error {
	grace := e.opts.restartGrace
	how := fmt.Sprintf("SIGTERM, SIGKILL after %s", grace)
	if kill {
		grace = 0
		how = "SIGKILL"
	}
	logf("restart-apiserver: stopping kube-apiserver (pid %d, %s)", e.apiserver.pid(), how)
	e.info.Ready = false
	e.writeClusterJSON()
	if kill {
		e.apiserver.kill()
	} else {
		e.apiserver.stop(grace)
	}
	if !portFree(e.ports.APIServer) {
		// The old socket can linger for a moment.
		waitFor("port "+fmt.Sprint(e.ports.APIServer)+" to be free", 15*time.Second, nil, func() (bool, string) {
			return portFree(e.ports.APIServer), "still in use"
		})
	}
	if err := e.apiserver.start(); err != nil {
		return err
	}
	e.writePids()
	if err := e.waitAPIServer(); err != nil {
		return err
	}
	e.info.APIServerRestarts++
	e.info.Ready = true
	if err := e.writeClusterJSON(); err != nil {
		return err
	}
	logf("restart-apiserver: READY (pid %d)", e.apiserver.pid())
	return nil
}

func (e *env) shutdown() {
	logf("shutting down")
	os.Remove(filepath.Join(e.dir, "cluster.json"))
	e.stopAddons()
	for _, c := range []*child{e.scheduler, e.kcm, e.apiserver, e.kine} {
		if c != nil {
			c.stop(e.opts.stopTimeout)
		}
	}
	if e.etcd != nil {
		done := make(chan struct{})
		go func() { e.etcd.Close(); close(done) }()
		select {
		case <-done:
			logf("stopped embedded etcd")
		case <-time.After(e.opts.stopTimeout):
			logf("embedded etcd did not close within %s", e.opts.stopTimeout)
		}
	}
	os.Remove(filepath.Join(e.dir, "pids.json"))
	logf("stopped")
}

func cmdUp(args []string) int {
	var o upOptions
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", ".cluster", "cluster state directory")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory with kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (default: next to testenv)")
	fs.StringVar(&o.datastore, "datastore", "etcd", "etcd (embedded) or kine (SQLite, a child process; needs --kine-bin)")
	fs.StringVar(&o.kineBin, "kine-bin", "", "the kine binary for --datastore kine")
	fs.StringVar(&o.metricsServerBin, "metrics-server-bin", "", "the metrics-server binary (default: none is started)")
	fs.StringVar(&o.registryBin, "registry-bin", "", "the registry binary, CNCF distribution (default: none is started)")
	fs.IntVar(&o.apiserverPort, "apiserver-port", 0, "kube-apiserver port (default: previous port of this dir, else a free one)")
	fs.StringVar(&o.nodeMonitorPeriod, "node-monitor-period", "1s", "kube-controller-manager --node-monitor-period")
	fs.StringVar(&o.nodeMonitorGracePeriod, "node-monitor-grace-period", "20s", "kube-controller-manager --node-monitor-grace-period")
	fs.StringVar(&o.nodeStartupGracePeriod, "node-startup-grace-period", "30s", "kube-controller-manager --node-startup-grace-period")
	fs.StringVar(&o.controllers, "controllers", defaultControllers, "kube-controller-manager --controllers")
	// KCM's own default (8760h); short values make certificate rotation testable (a CSR's
	// expirationSeconds can only shorten it).
	fs.StringVar(&o.clusterSigningDuration, "cluster-signing-duration", "8760h", "kube-controller-manager --cluster-signing-duration (the longest certificate csrsigning issues)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 120*time.Second, "how long to wait for each component")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 10*time.Second, "SIGTERM grace per component before SIGKILL")
	fs.DurationVar(&o.restartGrace, "restart-grace", 3*time.Second, "SIGTERM grace for kube-apiserver on restart-apiserver (SIGUSR1)")
	fs.IntVar(&o.apiserverVerbosity, "apiserver-v", 1, "kube-apiserver --v")
	fs.Var(&o.extraAPIServerArgs, "apiserver-arg", "extra kube-apiserver flag (repeatable)")
	fs.Var(&o.extraControllerMgrArgs, "controller-manager-arg", "extra kube-controller-manager flag (repeatable)")
	fs.StringVar(&o.profile, "profile", defaultProfile, "API server and controller flavour: "+profileNames()+" (profile.go)")
	fs.Var(&o.manifests, "manifest", "a file to `kubectl apply` once the API server is ready (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := applyProfile(&o, fs); err != nil {
		logf("%v", err)
		return 2
	}
	switch o.datastore {
	case "etcd":
	case "kine":
		if o.kineBin == "" || !fileExists(o.kineBin) {
			logf("--datastore kine needs --kine-bin pointing at the kine binary (got %q)", o.kineBin)
			return 2
		}
	default:
		logf("--datastore is etcd or kine, not %q", o.datastore)
		return 2
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if o.binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			logf("%v", err)
			return 1
		}
		o.binDir = filepath.Dir(exe)
	}
	if o.binDir, err = filepath.Abs(o.binDir); err != nil {
		logf("%v", err)
		return 1
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		if !fileExists(filepath.Join(o.binDir, b)) {
			logf("missing binary %s in %s", b, o.binDir)
			return 1
		}
	}
	e := &env{opts: o, dir: dir, logDir: filepath.Join(dir, "logs"), pki: newPKIPaths(dir), started: time.Now()}
	if err := os.MkdirAll(e.logDir, 0o755); err != nil {
		logf("%v", err)
		return 1
	}

	// One testenv per directory.
	lock, err := os.OpenFile(filepath.Join(dir, "testenv.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		logf("another testenv is already running for %s", dir)
		return 4
	}
	defer lock.Close()
	os.Remove(filepath.Join(dir, "cluster.json"))
	if err := writeFileAtomic(filepath.Join(dir, "testenv.pid"), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	defer os.Remove(filepath.Join(dir, "testenv.pid"))

	// Signals are caught from the start, so a `down` during start-up is honoured.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	stopRequested := func() bool {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGINT {
					return true
				}
			default:
				return false
			}
		}
	}

	fail := func(err error) int {
		logf("ERROR: %v", err)
		e.shutdown()
		return 1
	}
	if err := ensurePKI(e.pki); err != nil {
		return fail(err)
	}
	if err := ensureFrontProxyPKI(e.pki); err != nil {
		return fail(err)
	}
	if err := ensureKubeletClientPKI(e.pki); err != nil {
		return fail(err)
	}
	if e.admin, err = adminToken(e.pki); err != nil {
		return fail(err)
	}
	if e.caPEM, err = os.ReadFile(e.pki.caCrt); err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.caPEM)
	e.tlsClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	e.insecure = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if e.ports, err = choosePorts(dir, o.apiserverPort); err != nil {
		return fail(err)
	}
	logf("ports: apiserver %d, etcd %d/%d, controller-manager %d, scheduler %d",
		e.ports.APIServer, e.ports.EtcdClient, e.ports.EtcdPeer, e.ports.ControllerManager, e.ports.Scheduler)

	e.adminKC = filepath.Join(dir, "admin.kubeconfig")
	if err := writeFileAtomic(e.adminKC, kubeconfigYAML(kubeconfigUser{
		name: "admin", token: e.admin, caFile: e.pki.caCrt, server: e.server(),
	}), 0o600); err != nil {
		return fail(err)
	}
	if err := e.writeKubectlWrapper(); err != nil {
		return fail(err)
	}

	// etcdErr stays nil (never ready in the select below) with kine.
	var etcdErr <-chan error
	if o.datastore == "kine" {
		logf("starting kine (SQLite %s)", filepath.Join(dir, "kine", "state.db"))
		if err := e.startKine(); err != nil {
			return fail(err)
		}
		logf("kine ready on 127.0.0.1:%d", e.ports.EtcdClient)
	} else {
		logf("starting embedded etcd (data %s)", filepath.Join(dir, "etcd"))
		if e.etcd, err = startEtcd(dir, e.ports, e.logDir); err != nil {
			return fail(err)
		}
		etcdErr = e.etcd.Err()
		logf("embedded etcd ready on 127.0.0.1:%d", e.ports.EtcdClient)
	}

	e.apiserver = &child{name: "kube-apiserver", bin: filepath.Join(o.binDir, "kube-apiserver"), logPath: filepath.Join(e.logDir, "kube-apiserver.log")}
	e.apiserver.args = e.apiserverArgs()
	e.kcm = &child{name: "kube-controller-manager", bin: filepath.Join(o.binDir, "kube-controller-manager"), logPath: filepath.Join(e.logDir, "kube-controller-manager.log")}
	e.kcm.args = e.controllerManagerArgs()
	e.scheduler = &child{name: "kube-scheduler", bin: filepath.Join(o.binDir, "kube-scheduler"), logPath: filepath.Join(e.logDir, "kube-scheduler.log")}
	e.scheduler.args = e.schedulerArgs()

	tokens, err := readTokens(e.pki)
	if err != nil {
		return fail(err)
	}
	nodeTokens := map[string]string{}
	for _, t := range tokens {
		if n, ok := strings.CutPrefix(t.user, "system:node:"); ok {
			nodeTokens[n] = t.token
		}
	}
	e.info = clusterInfo{
		Version: k8sVersion, Server: e.server(), CAFile: e.pki.caCrt, CAPEM: string(e.caPEM),
		AdminToken: e.admin, AdminKubeconfig: e.adminKC, Kubectl: e.kubectl, NodeTokens: nodeTokens,
		Ports: e.ports, Dir: dir, BinDir: o.binDir, LogDir: e.logDir, Datastore: o.datastore,
		DatastoreDir: filepath.Join(dir, o.datastore),
		EtcdServer:   fmt.Sprintf("http://127.0.0.1:%d", e.ports.EtcdClient),
		StartedAt:    e.started.UTC().Format(time.RFC3339),
		NodeMonitor: map[string]string{"period": o.nodeMonitorPeriod, "gracePeriod": o.nodeMonitorGracePeriod,
			"startupGracePeriod": o.nodeStartupGracePeriod},
		Controllers: strings.Split(o.controllers, ","),
		Profile:     o.profile,
		KubeletClient: kubeletClientInfo{User: kubeletClientUser, CertFile: e.pki.kubeletClient().crt,
			KeyFile: e.pki.kubeletClient().key, ClusterRole: kubeletClientRole},
	}
	if o.datastore == "etcd" {
		e.info.EtcdDir = filepath.Join(dir, "etcd")
	}

	if err := e.apiserver.start(); err != nil {
		return fail(err)
	}
	e.writePids()
	if stopRequested() {
		e.shutdown()
		return 0
	}
	if err := e.waitAPIServer(); err != nil {
		return fail(err)
	}
	if err := e.applyManifests(); err != nil {
		return fail(err)
	}
	if err := e.applyKubeletClientRBAC(); err != nil {
		return fail(err)
	}
	if err := e.kcm.start(); err != nil {
		return fail(err)
	}
	if err := e.scheduler.start(); err != nil {
		return fail(err)
	}
	e.writePids()
	if err := e.healthz(e.kcm, e.ports.ControllerManager); err != nil {
		return fail(err)
	}
	if err := e.healthz(e.scheduler, e.ports.Scheduler); err != nil {
		return fail(err)
	}
	if err := waitFor("namespace kube-node-lease", o.readyTimeout, childAlive(e.apiserver), func() (bool, string) {
		code, _, err := e.get(e.tlsClient, e.server()+"/api/v1/namespaces/kube-node-lease", true)
		if err != nil {
			return false, err.Error()
		}
		return code == 200, fmt.Sprintf("HTTP %d", code)
	}); err != nil {
		return fail(err)
	}
	if err := e.startAddons(); err != nil {
		return fail(err)
	}
	if stopRequested() {
		e.shutdown()
		return 0
	}
	e.info.Ready = true
	e.info.ReadyAfterSeconds = float64(time.Since(e.started).Milliseconds()) / 1000
	if err := e.writeClusterJSON(); err != nil {
		return fail(err)
	}
	logf("READY %s in %.1fs (kubeconfig %s)", e.server(), e.info.ReadyAfterSeconds, e.adminKC)

	// Supervise: restart KCM/scheduler if they die (bounded), serve SIGUSR1.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	restarts := map[string]int{}
	for {
		select {
		case s := <-sigs:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT:
				e.shutdown()
				return 0
			case syscall.SIGUSR1, syscall.SIGUSR2:
				if err := e.restartAPIServer(s == syscall.SIGUSR2); err != nil {
					logf("restart-apiserver failed: %v", err)
				}
			}
		case <-tick.C:
			if e.kine != nil && !e.kine.running() {
				// Like a failed embedded etcd: the API server cannot work without it.
				logf("kine exited; see %s", e.kine.logPath)
				e.shutdown()
				return 1
			}
			for _, c := range []*child{e.kcm, e.scheduler, e.metricsServer, e.registry} {
				if c == nil || c.running() {
					continue
				}
				if restarts[c.name] >= 5 {
					continue
				}
				restarts[c.name]++
				logf("restarting %s (attempt %d)", c.name, restarts[c.name])
				if err := c.start(); err != nil {
					logf("%v", err)
				}
				e.writeClusterJSON()
			}
		case err := <-etcdErr:
			logf("embedded etcd failed: %v", err)
			e.shutdown()
			return 1
		}
	}
}

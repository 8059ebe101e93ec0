package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// hold all listeners until every port is known, so that the kernel hands out distinct ones
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// waitHealthy polls check until it succeeds, the process exits or ctx ends.
func waitHealthy(ctx context.Context, p *process, what string, check func(context.Context) error) error {
	var last error
	for {
		if err := p.exited(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

var insecureClient = &http.Client{Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // health probes of local components
}}

// controlPlane is etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
type controlPlane struct {
	etcd, apiserver, controllerManager, scheduler *process
	server                                        string // https://127.0.0.1:PORT
}

func (e *Env) startEtcd(ctx context.Context) (string, error) {
	ports, err := freePorts(2)
	if err != nil {
		return "", err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	p, err := e.run.startProcess("etcd", exec.Command(filepath.Join(e.BinDir, "etcd"),
		"--name=testenv", "--data-dir="+filepath.Join(e.RunDir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=testenv="+peer, "--log-level=warn",
		"--unsafe-no-fsync", // a test cluster does not survive a crash anyway
	))
	if err != nil {
		return "", err
	}
	e.cp.etcd = p
	return client, waitHealthy(ctx, p, "etcd", httpOK(http.DefaultClient, client+"/health"))
}

func (e *Env) startAPIServer(ctx context.Context, etcd string, pki *pki) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.cp.server = "https://127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--etcd-servers=" + etcd}
	if e.realNode {
		// a real node's Hostname (localhost) is where its kubelet listens; its InternalIP is the
		// machine's address, where it does not
		args = append(args, "--kubelet-preferred-address-types=Hostname")
	}
	p, err := e.run.startProcess("kube-apiserver", exec.Command(filepath.Join(e.BinDir, "kube-apiserver"), append(args,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--tls-cert-file="+pki.serverCert, "--tls-private-key-file="+pki.serverKey,
		"--client-ca-file="+pki.caCert,
		"--service-account-key-file="+pki.saPub, "--service-account-signing-key-file="+pki.saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true", // builder pods run privileged, as buildx's do
		"--kubelet-client-certificate="+pki.adminCert, "--kubelet-client-key="+pki.adminKey,
		"--cert-dir="+filepath.Join(e.RunDir, "apiserver-certs"),
	)...))
	if err != nil {
		return err
	}
	e.cp.apiserver = p
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return waitHealthy(ctx, p, "kube-apiserver", httpOK(client, e.cp.server+"/readyz"))
}

func (e *Env) startControllers(ctx context.Context, pki *pki) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	kc := e.Kubeconfig
	kcm, err := e.run.startProcess("kube-controller-manager", exec.Command(filepath.Join(e.BinDir, "kube-controller-manager"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]), "--leader-elect=false",
		"--service-account-private-key-file="+pki.saKey, "--root-ca-file="+pki.caCert,
		"--cluster-signing-cert-file="+pki.caCert, "--cluster-signing-key-file="+pki.caKey,
		"--cert-dir="+filepath.Join(e.RunDir, "kcm-certs"),
	))
	if err != nil {
		return err
	}
	e.cp.controllerManager = kcm
	sched, err := e.run.startProcess("kube-scheduler", exec.Command(filepath.Join(e.BinDir, "kube-scheduler"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[1]), "--leader-elect=false",
		"--cert-dir="+filepath.Join(e.RunDir, "scheduler-certs"),
	))
	if err != nil {
		return err
	}
	e.cp.scheduler = sched
	if err := waitHealthy(ctx, kcm, "kube-controller-manager",
		httpOK(insecureClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0]))); err != nil {
		return err
	}
	return waitHealthy(ctx, sched, "kube-scheduler",
		httpOK(insecureClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[1])))
}

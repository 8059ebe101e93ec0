package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// countingProxy is a plain-HTTP reverse proxy on 127.0.0.1 in front of the test apiserver that
// counts every request it forwards; its kubeconfig has no credentials (the proxy adds them).
type countingProxy struct {
	kubeconfig string
	n          atomic.Int64
	mu         sync.Mutex
	last       []string // the requests since the last reset, for failure messages
}

func startCountingProxy(t *testing.T) *countingProxy {
	t.Helper()
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rest.TransportFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = tr
	p := &countingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		p.mu.Lock()
		p.last = append(p.last, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: srv.URL}
	cfg.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "nobody"}
	cfg.CurrentContext = "proxy"
	p.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

// take returns the number of requests since the last take, and what they were.
func (p *countingProxy) take() (int64, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.last
	p.last = nil
	return p.n.Swap(0), last
}

// TestBadInputSendsNothing runs `bkctl plan` and `bkctl apply` on every bad input through a
// proxy that counts requests: each exits 1 with a positioned error, and not one request reaches
// the apiserver. A valid file through the same proxy does send requests and applies, which
// proves the counter counts.
func TestBadInputSendsNothing(t *testing.T) {
	lazy.Require(t)
	proxy := startCountingProxy(t)
	kc := "--kubeconfig=" + proxy.kubeconfig
	cases := badCases(t, t.TempDir())
	tried, requests := 0, int64(0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, verb := range []string{"plan", "apply"} {
				code, stdout, stderr := runBounded(t, verb, "-f", c.path, kc)
				tried++
				n, reqs := proxy.take()
				requests += n
				if code != 1 || n != 0 {
					t.Errorf("%s -f %s: exit %d with %d requests to the apiserver %v; want exit 1 and none\nstdout:\n%s\nstderr:\n%s", verb, c.path, code, n, reqs, stdout, stderr)
				}
				first, _, _ := strings.Cut(stderr, "\n")
				if !regexp.MustCompile(`^(Error: )?` + regexp.QuoteMeta(c.errFile) + `:\d+:\d+: `).MatchString(first) {
					t.Errorf("%s -f %s: first stderr line %q is not at %s:line:col", verb, c.path, first, c.errFile)
				}
			}
		})
	}
	t.Logf("%d bad inputs, %d runs of plan and apply, %d requests to the apiserver", len(cases), tried, requests)

	t.Run("control: a valid file does reach the apiserver", func(t *testing.T) {
		file := writeBuilders(t, env.Namespace(t), cliNode)
		code, stdout, stderr := runBounded(t, "plan", "-f", file, kc)
		n, _ := proxy.take()
		if code != 0 || n == 0 {
			t.Fatalf("plan of a valid file: exit %d with %d requests; want exit 0 and requests\nstdout:\n%s\nstderr:\n%s", code, n, stdout, stderr)
		}
		code, stdout, stderr = runBounded(t, "apply", "-f", file, kc)
		m, _ := proxy.take()
		if code != 0 || m == 0 || !strings.Contains(stderr, ": ready after") {
			t.Fatalf("apply of a valid file: exit %d with %d requests; want exit 0, requests and a ready builder\nstdout:\n%s\nstderr:\n%s", code, m, stdout, stderr)
		}
		t.Logf("valid file: plan sent %d requests, apply %d", n, m)
	})
}

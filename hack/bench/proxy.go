package bench

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
)

// Proxy is a reverse proxy in front of the API server, on 127.0.0.1 without TLS or
// authentication (it adds its own credentials), that counts the requests of its clients.
type Proxy struct {
	URL string
	// Kubeconfig points kubectl or bkctl at the proxy.
	Kubeconfig string

	srv    *http.Server
	counts Counts
	mu     sync.Mutex
	last   time.Time // the last write (a mutating request that is no dry-run)
}

// Counts are the requests through the proxy by kind.
type Counts struct {
	All, Reads, Watches, Writes, DryRuns, Throttled atomic.Int64
}

// Snapshot is Counts at one moment.
type Snapshot struct{ All, Reads, Watches, Writes, DryRuns, Throttled int64 }

// Sub returns s - o.
func (s Snapshot) Sub(o Snapshot) Snapshot {
	return Snapshot{s.All - o.All, s.Reads - o.Reads, s.Watches - o.Watches, s.Writes - o.Writes, s.DryRuns - o.DryRuns, s.Throttled - o.Throttled}
}

// StartProxy starts a proxy to the API server of cfg, writing its kubeconfig into dir.
func StartProxy(cfg *rest.Config, dir string) (*Proxy, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1 // watches stream
	rp.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusTooManyRequests {
			p.counts.Throttled.Add(1)
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(l) }()
	p.Kubeconfig = filepath.Join(dir, "proxy.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: %q}}]
users: [{name: proxy, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]
current-context: proxy
`, p.URL)
	if err := os.WriteFile(p.Kubeconfig, []byte(kc), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Proxy) count(r *http.Request) {
	c := &p.counts
	c.All.Add(1)
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && q.Get("watch") == "true":
		c.Watches.Add(1)
	case r.Method == http.MethodGet:
		c.Reads.Add(1)
	case strings.Contains(r.URL.RawQuery, "dryRun="):
		c.DryRuns.Add(1)
	default:
		c.Writes.Add(1)
		p.mu.Lock()
		p.last = time.Now()
		p.mu.Unlock()
	}
}

// Snapshot returns the counts so far.
func (p *Proxy) Snapshot() Snapshot {
	c := &p.counts
	return Snapshot{c.All.Load(), c.Reads.Load(), c.Watches.Load(), c.Writes.Load(), c.DryRuns.Load(), c.Throttled.Load()}
}

// LastWrite returns when the last write went through.
func (p *Proxy) LastWrite() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
)

// startRegistry runs Debian's docker-registry (distribution v2) over plain HTTP on 127.0.0.1.
func (e *Env) startRegistry(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.Registry = fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
health:
  storagedriver:
    enabled: false
`, filepath.Join(e.RunDir, "registry"), e.Registry)
	path := filepath.Join(e.RunDir, "registry.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	p, err := e.run.startProcess("registry", exec.Command("/usr/bin/docker-registry", "serve", path))
	if err != nil {
		return err
	}
	e.registry = p
	return waitHealthy(ctx, p, "registry", httpOK(http.DefaultClient, "http://"+e.Registry+"/v2/"))
}

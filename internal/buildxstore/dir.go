package buildxstore

import (
	"errors"
	"path/filepath"
)

// Dir returns buildx's config dir as buildx resolves it (util/confutil): $BUILDX_CONFIG, else
// $DOCKER_CONFIG/buildx, else $HOME/.docker/buildx. getenv is os.Getenv outside tests.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv("BUILDX_CONFIG"); d != "" {
		return d, nil
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "buildx"), nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".docker", "buildx"), nil
	}
	return "", errors.New("find buildx config dir: none of BUILDX_CONFIG, DOCKER_CONFIG, HOME is set")
}

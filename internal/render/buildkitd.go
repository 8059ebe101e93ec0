package render

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/bkctl/bkctl/internal/spec"
)

const (
	entitlementFlag = "--allow-insecure-entitlement"
	// DefaultEntitlementArg is the flag buildx create adds when nothing grants an entitlement.
	DefaultEntitlementArg  = entitlementFlag + "=network.host"
	networkHostEntitlement = "network.host"
	rootlessArg            = "--oci-worker-no-process-sandbox"
)

// buildkitdArgs returns the container's args as buildx create computes them: the flags, then
// --allow-insecure-entitlement=network.host unless the flags allow any entitlement or the
// buildkitd.toml lists network.host in insecure-entitlements (a container's network is isolated,
// so buildx grants host networking by default), then the rootless flag.
func buildkitdArgs(b spec.Buildkitd, rootless bool) ([]string, error) {
	args, err := BuildkitdFlags(b)
	if err != nil {
		return nil, err
	}
	if rootless {
		args = append(args, rootlessArg)
	}
	return args, nil
}

// BuildkitdFlags returns the daemon flags as buildx create stores them: the node's flags, then
// DefaultEntitlementArg unless the flags grant an entitlement or the buildkitd.toml lists
// network.host in insecure-entitlements.
func BuildkitdFlags(b spec.Buildkitd) ([]string, error) {
	flags := slices.Clone(b.Flags)
	inConfig, err := configAllowsNetworkHost(b.Config)
	if err != nil {
		return nil, err
	}
	if !hasEntitlementFlag(b.Flags) && !inConfig {
		flags = append(flags, DefaultEntitlementArg)
	}
	return flags, nil
}

// hasEntitlementFlag reports whether flags contain --allow-insecure-entitlement, in either the
// "--flag=value" or "--flag value" form, before a "--" terminator. buildx parses with pflag,
// which stops at the first flag it does not know (any other buildkitd flag) and then misses a
// later entitlement; bkctl looks at every flag.
func hasEntitlementFlag(flags []string) bool {
	for _, f := range flags {
		if f == "--" {
			return false
		}
		if f == entitlementFlag || strings.HasPrefix(f, entitlementFlag+"=") {
			return true
		}
	}
	return false
}

// configAllowsNetworkHost reports whether the buildkitd.toml config lists network.host in
// insecure-entitlements.
func configAllowsNetworkHost(config string) (bool, error) {
	if config == "" {
		return false, nil
	}
	var cfg struct {
		Entitlements []string `toml:"insecure-entitlements"`
	}
	if err := toml.Unmarshal([]byte(config), &cfg); err != nil {
		return false, fmt.Errorf("parse buildkitd config: %w", err)
	}
	return slices.Contains(cfg.Entitlements, networkHostEntitlement), nil
}

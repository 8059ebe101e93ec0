package buildxstore

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/bkctl/bkctl/internal/spec"
)

// The driver-opts of buildx v0.38.2's kubernetes driver (driver/kubernetes/factory.go).
const (
	optImage          = "image"
	optNamespace      = "namespace"
	optReplicas       = "replicas"
	optPVCStorage     = "persistent-volume-claim.requests.storage"
	optRootless       = "rootless"
	optSchedulerName  = "schedulername"
	optServiceAccount = "serviceaccount"
	optNodeSelector   = "nodeselector"
	optAnnotations    = "annotations"
	optLabels         = "labels"
	optTolerations    = "tolerations"
	optLoadbalance    = "loadbalance"
	optQemuInstall    = "qemu.install"
	optQemuImage      = "qemu.image"
	optRootMemory     = "buildkit-root-volume-memory"
	optDefaultLoad    = "default-load"
	optTimeout        = "timeout"
	optEnvPrefix      = "env."
	optRequestsPrefix = "requests."
	optLimitsPrefix   = "limits."
)

// resourceNames are the resources buildx has requests.* and limits.* driver-opts for.
var resourceNames = []string{"cpu", "memory", "ephemeral-storage"}

// The toleration fields buildx's tolerations driver-opt knows, in the order bkctl writes them.
const (
	tolKey     = "key"
	tolOp      = "operator"
	tolValue   = "value"
	tolEffect  = "effect"
	tolSeconds = "tolerationSeconds"
)

// formatMap writes a map the way buildx's splitMultiValues reads it: k=v pairs joined by ",",
// sorted by key. buildx splits on every "," and "=" and trims '"' from both ends, so a key or
// value holding one of them cannot be written.
func formatMap(opt string, m map[string]string) (string, error) {
	keys := slices.Sorted(maps.Keys(m))
	pairs := make([]string, 0, len(keys))
	for i, k := range keys {
		v := m[k]
		if strings.ContainsAny(k, ",=") || strings.ContainsAny(v, ",=") || k == "" {
			return "", fmt.Errorf("driver-opt %s cannot hold %q: %q (buildx splits it on \",\" and \"=\")", opt, k, v)
		}
		if (i == 0 && strings.HasPrefix(k, `"`)) || (i == len(keys)-1 && strings.HasSuffix(v, `"`)) {
			return "", fmt.Errorf("driver-opt %s cannot hold %q: %q (buildx trims '\"' from its ends)", opt, k, v)
		}
		pairs = append(pairs, k+"="+v)
	}
	return strings.Join(pairs, ","), nil
}

// parseMap reads a map driver-opt as buildx's splitMultiValues does.
func parseMap(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(strings.Trim(v, `"`), ",") {
		kv := strings.Split(item, "=")
		if len(kv) != 2 {
			return nil, fmt.Errorf("invalid key-value pair %q (want k=v,k2=v2)", item)
		}
		out[kv[0]] = kv[1]
	}
	return out, nil
}

// formatTolerations writes tolerations in buildx's syntax:
// key=K,operator=Op,value=V,effect=E,tolerationSeconds=N;… with empty fields left out.
func formatTolerations(ts []spec.Toleration) (string, error) {
	items := make([]string, 0, len(ts))
	for i, t := range ts {
		var fields []string
		for _, f := range []struct{ name, v string }{
			{tolKey, t.Key}, {tolOp, t.Operator}, {tolValue, t.Value}, {tolEffect, t.Effect},
		} {
			if f.v == "" {
				continue
			}
			if strings.ContainsAny(f.v, ",;=") {
				return "", fmt.Errorf("driver-opt %s cannot hold toleration %d's %s %q (buildx splits on \",\", \";\" and \"=\")", optTolerations, i, f.name, f.v)
			}
			fields = append(fields, f.name+"="+f.v)
		}
		if t.TolerationSeconds != nil {
			fields = append(fields, tolSeconds+"="+strconv.FormatInt(*t.TolerationSeconds, 10))
		}
		if len(fields) == 0 {
			return "", fmt.Errorf("driver-opt %s cannot hold toleration %d: it has no field set", optTolerations, i)
		}
		items = append(items, strings.Join(fields, ","))
	}
	return strings.Join(items, ";"), nil
}

// parseTolerations reads buildx's tolerations syntax as its factory does: ";" separates
// tolerations, "," fields, "=" name and value. Like buildx it skips a field without exactly one
// "="; unlike buildx it refuses an empty toleration, which the API server would reject.
func parseTolerations(v string) ([]spec.Toleration, error) {
	var out []spec.Toleration
	for i, item := range strings.Split(v, ";") {
		var t spec.Toleration
		set := false
		for _, field := range strings.Split(item, ",") {
			kv := strings.Split(field, "=")
			if len(kv) != 2 {
				continue
			}
			set = true
			switch kv[0] {
			case tolKey:
				t.Key = kv[1]
			case tolOp:
				t.Operator = kv[1]
			case tolValue:
				t.Value = kv[1]
			case tolEffect:
				t.Effect = kv[1]
			case tolSeconds:
				// buildx parses with strconv.Atoi: an int, then widened to int64.
				n, err := strconv.Atoi(kv[1])
				if err != nil {
					return nil, fmt.Errorf("toleration %d: invalid tolerationSeconds %q", i, kv[1])
				}
				s := int64(n)
				t.TolerationSeconds = &s
			default:
				return nil, fmt.Errorf("toleration %d: unknown field %q (want key, operator, value, effect, tolerationSeconds)", i, kv[0])
			}
		}
		if !set {
			return nil, fmt.Errorf("toleration %d is empty (%q)", i, item)
		}
		out = append(out, t)
	}
	return out, nil
}

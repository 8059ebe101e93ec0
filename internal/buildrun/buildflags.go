package buildrun

import (
	"fmt"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/cmd/buildctl/build"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
)

// SourceDateEpochEnv names the variable that buildx passes to the build as a build arg of the
// same name, for reproducible timestamps.
const SourceDateEpochEnv = "SOURCE_DATE_EPOCH"

// BuildFlags are the flags of `docker buildx build` that are given as text and parsed here, so
// that every front end (bkctl run, bake) parses them the same way.
type BuildFlags struct {
	Attest        []string
	Provenance    string
	SBOM          string
	Annotation    []string
	Allow         []string
	Network       string
	AddHost       []string
	Pull          bool
	NoCacheFilter []string
	ShmSize       string
	Ulimit        []string
	CgroupParent  string
	Call          string
	Check         bool
	Secret        []string
	SSH           []string
	Resource      []string // --resource KEY=VALUE (LegacyResources.Entries for --memory, …)
}

// Apply parses f into o. lookup reads the environment (BUILDX_NO_DEFAULT_ATTESTATIONS,
// SOURCE_DATE_EPOCH). It fails on what buildx fails on, e.g. --no-cache with --no-cache-filter.
func (f BuildFlags) Apply(o *Options, lookup func(string) (string, bool)) error {
	var err error
	call := f.Call
	if f.Check {
		call = "check"
	}
	if o.CallFunc, err = ParseCallFunc(call); err != nil {
		return err
	}
	if o.Attests, err = ParseAttests(f.Attest, f.Provenance, f.SBOM, lookup); err != nil {
		return err
	}
	if o.Annotations, err = ParseAnnotations(f.Annotation); err != nil {
		return err
	}
	if o.Allow, err = ParseAllow(f.Allow); err != nil {
		return err
	}
	if err := ParseNetwork(f.Network); err != nil {
		return err
	}
	o.NetworkMode = f.Network
	if o.ExtraHosts, err = ParseExtraHosts(f.AddHost); err != nil {
		return err
	}
	if o.ShmSize, err = ParseShmSize(f.ShmSize); err != nil {
		return err
	}
	if o.Ulimits, err = ParseUlimits(f.Ulimit); err != nil {
		return err
	}
	if o.Resources, err = ParseResources(f.Resource); err != nil {
		return err
	}
	if o.NoCache && len(f.NoCacheFilter) > 0 {
		return fmt.Errorf("--no-cache and --no-cache-filter cannot be used together")
	}
	o.NoCacheFilter, o.Pull, o.CgroupParent = f.NoCacheFilter, f.Pull, f.CgroupParent
	if _, ok := o.BuildArgs[SourceDateEpochEnv]; !ok {
		if v, ok := lookup(SourceDateEpochEnv); ok && v != "" {
			if o.BuildArgs == nil {
				o.BuildArgs = map[string]string{}
			}
			o.BuildArgs[SourceDateEpochEnv] = v
		}
	}
	return f.session(o)
}

// session attaches the secrets and SSH agents the build may mount.
func (f BuildFlags) session(o *Options) error {
	if len(f.Secret) > 0 {
		a, err := build.ParseSecret(f.Secret)
		if err != nil {
			return fmt.Errorf("--secret: %w", err)
		}
		o.Session = append(o.Session, a)
	}
	if len(f.SSH) > 0 {
		confs, err := build.ParseSSH(f.SSH)
		if err != nil {
			return fmt.Errorf("--ssh: %w", err)
		}
		a, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return fmt.Errorf("--ssh: %w", err)
		}
		o.Session = append(o.Session, session.Attachable(a))
	}
	return nil
}

// ImageID returns the image ID of a build's response as buildx writes it to --iidfile and prints
// it with -q: the image config's digest where the exporter gave one, else the image's digest.
func ImageID(resp map[string]string) string {
	if v, ok := resp["containerimage.config.digest"]; ok {
		return v
	}
	return resp["containerimage.digest"]
}

// CheckIIDFile refuses --iidfile with outputs that have no image ID (local, tar), as buildx.
func CheckIIDFile(outs []Output) error {
	for _, o := range outs {
		if o.Type == client.ExporterLocal || o.Type == client.ExporterTar {
			return fmt.Errorf("--iidfile: the %s output has no image ID (hint: use type=image, registry or oci)", o.Type)
		}
	}
	return nil
}

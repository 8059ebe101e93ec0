package buildrun

import (
	"io"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"

	"github.com/bkctl/bkctl/internal/podexec"
)

// Builder is a builder as a build sees it: its nodes in the order of the builders file.
type Builder struct {
	Name  string
	Nodes []Node
}

// Node is one node of a builder.
type Node struct {
	Name string
	// Platforms are the platforms the node builds natively (its platforms field).
	Platforms []string
	// Loadbalance chooses among the node's daemons: sticky (default) or random.
	Loadbalance string
	Transport   podexec.Transport
}

// Options are the inputs of a build, named after the flags of docker buildx build.
type Options struct {
	// ContextDir is the build context: a directory, a git or https URL that the daemon fetches,
	// or "-" for Stdin (a tar archive, or a Dockerfile with an empty context).
	ContextDir string
	// Dockerfile is the Dockerfile's path; "" is Dockerfile in the context, "-" reads Stdin.
	Dockerfile string
	// Stdin is read for a context or Dockerfile "-".
	Stdin io.Reader
	// Platforms are the target platforms; none builds for the first node's default platform.
	Platforms []string
	BuildArgs map[string]string
	Labels    map[string]string
	Target    string
	// Tags name the image of image outputs.
	Tags    []string
	Outputs []Output
	// CacheFrom and CacheTo are the cache imports and exports.
	CacheFrom []client.CacheOptionsEntry
	CacheTo   []client.CacheOptionsEntry
	NoCache   bool
	// NoCacheFilter names the stages built without cache.
	NoCacheFilter []string
	// Attests are the frontend's attest:TYPE attributes (ParseAttests).
	Attests map[string]string
	// Annotations go to every image and OCI output (ParseAnnotations).
	Annotations map[exptypes.AnnotationKey]string
	// Allow are the entitlements the build asks for (ParseAllow).
	Allow []string
	// NetworkMode is the network of RUN: default, host or none.
	NetworkMode string
	// ExtraHosts is the add-hosts attribute (ParseExtraHosts).
	ExtraHosts string
	// Pull resolves every image from its registry again.
	Pull bool
	// ShmSize is /dev/shm of RUN in bytes; 0 keeps the default.
	ShmSize int64
	// Ulimits is the ulimit attribute (ParseUlimits).
	Ulimits string
	// Resources are the cgroup limits of RUN (ParseResources).
	Resources Resources
	// CgroupParent is the parent cgroup of RUN.
	CgroupParent string
	// CallFunc evaluates the build by a frontend subrequest instead of building it; its result
	// is Result.Call.
	CallFunc *CallFunc
	// NamedContexts map a context name to a directory, oci-layout://PATH[:TAG]@DIGEST,
	// docker-image://REF or a URL.
	NamedContexts map[string]string
	// Session holds the attachables that serve secrets and SSH agents to the build; they stay
	// on this side of the session and are never written anywhere. Registry auth from the docker
	// config is always attached.
	Session []session.Attachable
	// DockerConfigDir is the directory of the docker config.json whose credentials the daemons
	// use to pull and push; "" is the docker CLI's default ($DOCKER_CONFIG as first read by this
	// process, else ~/.docker).
	DockerConfigDir string
	// StickyKey keys the pod choice of sticky nodes; "" is the absolute context path, as buildx.
	StickyKey string
	// Pinned names, by node, the daemon to build on (bake's Spread); one that is not ready or
	// failed falls back to the node's loadbalance.
	Pinned map[string]string
	// pool shares the connections to daemons among a bake's builds.
	pool *connPool
	// Progress receives the build progress in ProgressMode (auto, plain, tty, rawjson, quiet).
	Progress     io.Writer
	ProgressMode string
	// Stdout receives tar and oci outputs with dest "-".
	Stdout io.Writer
	// Attempts is how often a build is tried on a node when the connection to its pod fails.
	Attempts int
	// Backoff is the first wait before another attempt; it doubles with each one.
	Backoff time.Duration
}

// DefaultOptions returns options with the retry policy Build uses and progress discarded.
func DefaultOptions() Options {
	return Options{
		ContextDir:   ".",
		ProgressMode: "quiet",
		Progress:     io.Discard,
		Stdout:       io.Discard,
		Attempts:     4,
		Backoff:      500 * time.Millisecond,
	}
}

// Result is what a build produced.
type Result struct {
	// ExporterResponse is the response of the build as a whole: for a build merged from several
	// nodes, containerimage.digest and containerimage.descriptor are those of the pushed index.
	ExporterResponse map[string]string
	// Builds are the solves, one per node that took part, in node order.
	Builds []NodeBuild
	// Call is the result metadata of a CallFunc (result.json, result.txt, result.statuscode, …).
	Call map[string]string
}

// NodeBuild is the part of a build that one node did.
type NodeBuild struct {
	Node string
	// Daemon is the daemon (pod) that did the work, after any retries.
	Daemon    string
	Platforms []string
	// Ref is the build's reference in the daemon's history.
	Ref string
	// Attempts counts the tries, 1 when the first succeeded.
	Attempts         int
	ExporterResponse map[string]string
}

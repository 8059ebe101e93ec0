package buildrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushIndex assembles the images that the nodes pushed by digest into one OCI index, pushes it
// under every name, and returns the build's exporter response for it.
func pushIndex(ctx context.Context, names []string, insecure bool, builds []NodeBuild) (map[string]string, error) {
	var nameOpts []name.Option
	if insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	first, err := name.ParseReference(names[0], nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("parse image name %q: %w", names[0], err)
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, b := range builds {
		desc, err := imageDescriptor(b.ExporterResponse)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", b.Node, err)
		}
		got, err := remote.Get(first.Context().Digest(desc.Digest.String()), ropts...)
		if err != nil {
			return nil, fmt.Errorf("node %s: read back its image: %w", b.Node, err)
		}
		if !got.MediaType.IsIndex() {
			d := got.Descriptor
			img, err := got.Image()
			if err != nil {
				return nil, err
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("node %s: read image config: %w", b.Node, err)
			}
			d.Platform = cfg.Platform()
			idx.Manifests = append(idx.Manifests, d)
			continue
		}
		child, err := v1.ParseIndexManifest(bytes.NewReader(got.Manifest))
		if err != nil {
			return nil, fmt.Errorf("node %s: parse its index: %w", b.Node, err)
		}
		idx.Manifests = append(idx.Manifests, child.Manifests...)
		for k, v := range child.Annotations { // --annotation index:…, the same on every node
			if idx.Annotations == nil {
				idx.Annotations = map[string]string{}
			}
			idx.Annotations[k] = v
		}
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	m := rawIndex(raw)
	for _, n := range names {
		ref, err := name.ParseReference(n, nameOpts...)
		if err != nil {
			return nil, fmt.Errorf("parse image name %q: %w", n, err)
		}
		if err := remote.Put(ref, m, ropts...); err != nil {
			return nil, fmt.Errorf("push index %s: %w", n, err)
		}
	}
	dgst, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	descJSON, err := json.Marshal(ocispecs.Descriptor{MediaType: string(types.OCIImageIndex), Digest: digest.Digest(dgst.String()), Size: size})
	if err != nil {
		return nil, err
	}
	return map[string]string{
		exptypes.ExporterImageDigestKey:     dgst.String(),
		exptypes.ExporterImageDescriptorKey: base64.StdEncoding.EncodeToString(descJSON),
		"image.name":                        strings.Join(names, ","),
	}, nil
}

// imageDescriptor returns the descriptor of the image an image export pushed.
func imageDescriptor(resp map[string]string) (ocispecs.Descriptor, error) {
	var d ocispecs.Descriptor
	s, ok := resp[exptypes.ExporterImageDescriptorKey]
	if !ok {
		dg, ok := resp[exptypes.ExporterImageDigestKey]
		if !ok {
			return d, fmt.Errorf("the build pushed no image")
		}
		d.Digest = digest.Digest(dg)
		return d, d.Digest.Validate()
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return d, fmt.Errorf("decode image descriptor: %w", err)
	}
	return d, json.Unmarshal(b, &d)
}

// rawIndex is an index manifest to push as it is.
type rawIndex []byte

func (r rawIndex) RawManifest() ([]byte, error)        { return r, nil }
func (r rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }

#!/usr/bin/env bash
# testbin.sh builds the pinned binaries of the real test environment (docs/testenv.md) from the tools
# modules under hack/tools/ into a cache outside the clone, and points .testenv/bin at them.
#
# Each tools module is built into its own directory keyed by a hash of its go.mod, go.sum, the Go
# version and the build recipe, so changing one pin rebuilds only that module; a fresh clone on
# the same machine (CI) finds everything already built. The set of all of them is linked into
#   ${BKCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bkctl}/testbin/<set hash>/
# and .testenv/bin is a symlink to that directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/hack/tools
cache=${BKCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bkctl}/testbin
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
unset GOOS GOARCH

kver=v1.37.2 bkver=v0.34.2 # must match hack/tools/{k8s,buildkit}/go.mod
kminor=${kver#v1.}; kminor=${kminor%%.*}
kldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kldflags+=" -X $p.gitVersion=$kver -X $p.gitMajor=1 -X $p.gitMinor=$kminor"
	kldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done

# name | files it makes | packages | ldflags | tools module under hack/tools (default: name)
# kubelet (the real-node tier) is built from the k8s tools module as an entry of its own, so that
# the control-plane binaries stay one build and one cache directory.
modules=(
	"k8s|kube-apiserver kube-controller-manager kube-scheduler kubectl|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl|$kldflags"
	"kubelet|kubelet|k8s.io/kubernetes/cmd/kubelet|$kldflags|k8s"
	"etcd|etcd|go.etcd.io/etcd/server/v3|-s -w"
	"kwok|kwok kwok-stages.yaml kwok-crd-execs.yaml|sigs.k8s.io/kwok/cmd/kwok|-s -w"
	"buildkit|buildkitd buildctl|github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl|-s -w -X github.com/moby/buildkit/version.Version=$bkver -X github.com/moby/buildkit/version.Revision=$bkver"
	"rootlesskit|rootlesskit|github.com/rootless-containers/rootlesskit/v3/cmd/rootlesskit|-s -w"
	"buildx|buildx|github.com/docker/buildx/cmd/buildx|-s -w -X github.com/docker/buildx/version.Version=v0.38.2 -X github.com/docker/buildx/version.Revision=v0.38.2"
)

goversion=$(go env GOVERSION)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

mkdir -p "$cache/modules"
exec 9>"$cache/.lock"
flock 9 # another testbin.sh (a parallel CI run) may be building the same thing

start=$(now)
tmp=
trap 'rm -rf "$tmp"' EXIT # an interrupted build leaves nothing half-made behind
set_parts=()
for m in "${modules[@]}"; do
	IFS='|' read -r name bins pkgs ldflags mod <<<"$m"
	mod=${mod:-$name}
	hash=$( { cat "$tools/$mod/go.mod" "$tools/$mod/go.sum"; echo "$goversion|$bins|$pkgs|$ldflags"; } | sha256sum | cut -c1-16)
	dir=$cache/modules/$name-$hash
	set_parts+=("$name-$hash")
	if [ -f "$dir/.complete" ]; then
		echo "testbin: $name up to date ($dir)"
		continue
	fi
	t=$(now)
	echo "testbin: building $name ($bins) ..."
	tmp=$(mktemp -d "$cache/modules/.$name.XXXXXX")
	chmod 755 "$tmp"
	out=$tmp/ # one binary per package, named after it; a single package may be named otherwise
	case $pkgs in *" "*) ;; *) out=$tmp/${bins%% *} ;; esac
	# shellcheck disable=SC2086 # pkgs is a list
	if ! (cd "$tools/$mod" && go build -trimpath -ldflags "$ldflags" -o "$out" $pkgs); then
		rm -rf "$tmp"
		echo "testbin: building $name failed" >&2
		exit 1
	fi
	if [ "$name" = kwok ]; then
		# kwok applies no stages by default and installs no CRDs: ship the module's own, version-matched
		src=$(cd "$tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
		for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
			pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
			echo "---"
			cat "$src/kustomize/stage/$f.yaml"
		done >"$tmp/kwok-stages.yaml"
		cp "$src/kustomize/crd/bases/kwok.x-k8s.io_execs.yaml" "$tmp/kwok-crd-execs.yaml"
	fi
	for b in $bins; do [ -f "$tmp/$b" ] || { echo "testbin: $name did not produce $b" >&2; exit 1; }; done
	touch "$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "testbin: built $name in $(since "$t")"
done

sethash=$(printf '%s\n' "${set_parts[@]}" | sha256sum | cut -c1-16)
setdir=$cache/$sethash
if [ ! -f "$setdir/.complete" ]; then
	tmp=$(mktemp -d "$cache/.set.XXXXXX")
	chmod 755 "$tmp"
	for part in "${set_parts[@]}"; do
		for f in "$cache/modules/$part"/*; do ln -s "$f" "$tmp/$(basename "$f")"; done
	done
	touch "$tmp/.complete"
	rm -rf "$setdir"
	mv "$tmp" "$setdir"
fi

mkdir -p "$root/.testenv"
ln -sfn "$setdir" "$root/.testenv/bin"
echo "testbin: .testenv/bin -> $setdir (total $(since "$start"))"

#!/usr/bin/env bash
# testdeps.sh installs the Debian packages the real test environment runs (docs/testenv.md) and fetches
# the arm64 busybox-static binary for the multi-platform base image. Idempotent and quiet when
# everything is present: apt-get update runs only when something is missing.
#
# The arm64 binary lands in ${BKCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bkctl}/testdeps/busybox.arm64
# (outside the clone, so a fresh clone on the same machine reuses it); internal/testenv reads it there.
#
# With --node it also installs what the real-node tier runs: containerd, the CNI plugins (they bring
# iptables) and uidmap (newuidmap for the rootless BuildKit image).
set -euo pipefail

# tmux, zsh and fish: the completion tests type into real shells.
pkgs=(runc busybox-static qemu-user-static binfmt-support docker-registry tmux zsh fish)
if [ "${1:-}" = --node ]; then
	pkgs+=(containerd containernetworking-plugins uidmap)
fi
cache=${BKCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bkctl}/testdeps

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "testdeps: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "testdeps: installing ${missing[*]} ..."
	apt-get update -qq
	log=$(mktemp)
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi

# arm64 busybox-static, without adding arm64 to dpkg's architectures: a private apt lists dir.
if [ ! -x "$cache/busybox.arm64" ]; then
	echo "testdeps: fetching busybox-static:arm64 ..."
	apt="$cache/apt-arm64"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$cache/dl"
	opts=(-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)
	apt-get "${opts[@]}" update -qq
	(cd "$cache/dl" && rm -f busybox-static_*_arm64.deb && apt-get "${opts[@]}" download -qq busybox-static:arm64)
	x=$(mktemp -d "$cache/.x.XXXXXX")
	dpkg-deb -x "$cache"/dl/busybox-static_*_arm64.deb "$x"
	install -m 0755 "$x/bin/busybox" "$cache/busybox.arm64.tmp"
	mv "$cache/busybox.arm64.tmp" "$cache/busybox.arm64"
	rm -rf "$x" "$apt"
fi

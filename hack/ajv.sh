#!/usr/bin/env bash
# ajv.sh installs ajv-cli (a draft-07 JSON Schema validator from npm, pinned) outside the clone,
# for the schema test that checks builders.schema.json with a second, independent validator.
# Prints the path of the ajv binary. Installs Debian's npm first when it is missing (root only).
set -euo pipefail
version=5.0.0
dir=${BKCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bkctl}/npm/ajv-cli-$version
bin=$dir/node_modules/.bin/ajv
if [ ! -x "$bin" ]; then
	if ! command -v npm >/dev/null; then
		if [ "$(id -u)" != 0 ]; then
			echo "ajv: npm is missing; run as root: apt-get install nodejs npm" >&2
			exit 1
		fi
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "ajv-cli@$version" >&2
fi
echo "$bin"

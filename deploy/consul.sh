#!/bin/sh
# Builds Consul v1.14.11 (MPL-2.0) from the Go module proxy into Agora's
# cache directory, where discovery/consul/consultest looks for it, and does
# nothing when it is already there. Consul's go.mod has replace directives,
# so `go install` is refused: the binary is built from a small separate
# module that requires it. A lock file (shared with consultest) keeps a
# parallel build from running twice.
#
#   deploy/consul.sh            build if missing, print the binary's path
set -eu

version="1.14.11"
cache="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/agora/consul-$version"
bin="$cache/consul"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH=/usr/local/go/bin:$PATH
fi

mkdir -p "$cache"
build() {
	if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "v$version"; then
		return 0
	fi
	echo "consul: building v$version into $bin (takes minutes)" >&2
	src="$(mktemp -d)"
	trap 'rm -rf "$src"' EXIT
	cat >"$src/go.mod" <<MOD
module agora.local/consulbuild

go 1.20

require github.com/hashicorp/consul v$version
MOD
	cat >"$src/tools.go" <<'GO'
//go:build tools

package consulbuild

import _ "github.com/hashicorp/consul"
GO
	(cd "$src" && GOFLAGS=-mod=mod GOWORK=off go build -o "$bin.tmp" github.com/hashicorp/consul)
	mv "$bin.tmp" "$bin"
}

if command -v flock >/dev/null 2>&1; then
	# Run the build under the lock in this same shell (fd 9).
	exec 9>"$cache/.lock"
	flock 9
	build
	flock -u 9
else
	build
fi
echo "$bin"

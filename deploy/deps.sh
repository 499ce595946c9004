#!/bin/sh
# Installs what Agora's tests need on a Debian machine, and nothing when it
# is already there. The offer core needs only Go; later components (Docker,
# ZooKeeper, Consul, HAProxy) add their packages here.
set -eu

need_go="1.26"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go $need_go or newer is required (install it to /usr/local/go)" >&2
	exit 1
fi

missing=""
for tool in sh sleep tail head; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coreutils procps
	else
		echo "deps: missing tools:$missing" >&2
		exit 1
	fi
fi
go mod download

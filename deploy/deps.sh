#!/bin/sh
# Installs what Agora's tests need on a Debian machine, and nothing when it
# is already there: Go (expected at /usr/local/go), Docker's engine and
# busybox-static (task images are built FROM scratch around it), ZooKeeper
# and HAProxy. The tests start the daemons they need themselves.
set -eu

need_go="1.26"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go $need_go or newer is required (install it to /usr/local/go)" >&2
	exit 1
fi

# Debian packages, by a file or command each provides.
pkgs=""
[ -x /usr/sbin/dockerd ] || pkgs="$pkgs docker.io"
dpkg -s busybox-static >/dev/null 2>&1 || pkgs="$pkgs busybox-static"
dpkg -s zookeeper >/dev/null 2>&1 || pkgs="$pkgs zookeeper"
command -v ps >/dev/null 2>&1 || pkgs="$pkgs procps"
command -v haproxy >/dev/null 2>&1 || pkgs="$pkgs haproxy"
if [ -n "$pkgs" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing$pkgs"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
	else
		echo "deps: missing Debian packages:$pkgs (run as root, or install them)" >&2
		exit 1
	fi
fi
go mod download
sh "$(dirname "$0")/consul.sh" >/dev/null  # Consul v1.14.11 for the discovery tests, built once into the cache

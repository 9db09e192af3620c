#!/usr/bin/env bash
# Installs the Debian 12 packages worldstate needs to build and test, when
# they are missing.  As root it runs apt-get; otherwise it prints the exact
# command to run and fails.  graphviz (dot) renders the pictures of
# ws.causal_graph in test/t/068_causal_graph.pl and make demo-cluster.
set -euo pipefail

packages=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl
	make
	gcc
	graphviz
)
# The Node.js client test (test/client) needs node and the node-postgres
# module: where node is missing, Debian's nodejs (18) and node-pg, so the
# test needs no registry.  A node that came from elsewhere is kept, and
# the test then installs pg with that node's npm.
command -v node >/dev/null 2>&1 || packages+=(nodejs node-pg)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "worldstate needs these Debian packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "== installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The Debian package would start a cluster of its own on port 5432; tests use
# throwaway clusters, so keep the package's cluster from being created.
mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ] || ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
	echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
fi
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "== packages installed"

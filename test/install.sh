#!/usr/bin/env bash
# Installs the built extension into the PostgreSQL 15 installation.  As root
# it runs `make install`; otherwise it does so only when the target
# directories are writable and says what to run when they are not.
set -euo pipefail
make_cmd=${1:-make}
pg_config=${PG_CONFIG:-$(command -v /usr/lib/postgresql/15/bin/pg_config || command -v pg_config)}
if [ "$(id -u)" -ne 0 ] && [ ! -w "$($pg_config --pkglibdir)" ]; then
	echo "cannot write $($pg_config --pkglibdir): run 'sudo $make_cmd install' first, then again." >&2
	exit 1
fi
$make_cmd --no-print-directory install >/dev/null

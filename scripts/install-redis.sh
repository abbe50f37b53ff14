#!/usr/bin/env bash
# Redis for the queue server (beamline-up): Debian's redis-server, installed if missing.
#
#   scripts/install-redis.sh        (as root; `make` runs it as part of the set-up)
#
# Installs the `redis-server` package with apt-get when no redis-server binary is on PATH
# (or in /usr/bin). The package's own service is not started: beamline-up runs a Redis of
# its own, on loopback on a free port with its data in the data root, and stops it by PID.
# Not root and no Redis: says how to install it and exits 3.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-redis.sh: redis-server is not installed; the queue server (beamline-up) needs it:" >&2
    echo "    sudo apt-get install redis-server     (or run this script as root)" >&2
    exit 3
fi
echo "installing Redis (apt-get install redis-server) ..."
# Keep the package from starting its system-wide service (port 6379): a policy-rc.d that says
# no, for the length of the install, unless one is there already.
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
fi
trap '[ "$own_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
echo "Redis: $(/usr/bin/redis-server --version)"

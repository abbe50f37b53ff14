#!/usr/bin/env bash
# A tiled server for many users: PostgreSQL (Debian's packages) behind beamline-tiled.
#
#   scripts/tiled-postgres.sh --data-root DIR [--pg-dir DIR] [--host ADDR] [--port N]
#
# 1. installs PostgreSQL from the system's packages if it is missing (apt-get install
#    postgresql, as root; no default cluster is created or started);
# 2. initialises a cluster of its own in --pg-dir (default: a new directory under /tmp),
#    listening on 127.0.0.1 only, on a free port, password authentication over TCP;
# 3. creates the databases `catalog` (tiled's catalog) and `storage` (its tabular data);
# 4. runs `beamline-tiled --catalog postgresql://... --storage postgresql://...` serving
#    --data-root on --host (default 127.0.0.1) and --port (default: a free one), leaving
#    tiled.json in the data root as usual.
# It serves until Ctrl-C or kill (SIGTERM), then stops the tiled server and PostgreSQL by
# their PIDs and removes the cluster directory if it made it. Output: one line per step;
# "ready: <uri>" once clients can connect.
#
# Environment: PYTHON (default: the project's .venv/bin/python, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$([ -x "$here/.venv/bin/python" ] && echo "$here/.venv/bin/python" || echo python3)}"
data_root="" pg_dir="" host="127.0.0.1" port=0 own_pg_dir=0

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --data-root) data_root="$2"; shift 2 ;;
        --pg-dir) pg_dir="$2"; shift 2 ;;
        --host) host="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "tiled-postgres.sh: unknown argument $1" >&2; usage 2 >&2 ;;
    esac
done
[ -n "$data_root" ] || { echo "tiled-postgres.sh: --data-root is required" >&2; exit 2; }
[ -d "$data_root" ] || { echo "tiled-postgres.sh: --data-root $data_root: no such directory" >&2; exit 2; }
data_root="$(cd "$data_root" && pwd)"

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# 1. PostgreSQL from Debian's packages.
if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tiled-postgres.sh: PostgreSQL is not installed; run as root, or: sudo apt-get install postgresql" >&2
        exit 3
    fi
    echo "installing PostgreSQL (apt-get install postgresql) ..."
    # No default cluster: this script makes its own (Debian's postgresql-common setting).
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
bin="$(pg_bindir)"
echo "PostgreSQL: $("$bin/postgres" --version)"

# PostgreSQL refuses to run as root: as root, run it as the packages' `postgres` user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

pg_pid="" tiled_pid=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$tiled_pid" ] && kill -0 "$tiled_pid" 2>/dev/null; then
        kill -TERM "$tiled_pid" 2>/dev/null || true
        wait "$tiled_pid" 2>/dev/null || true
    fi
    if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then
        kill -INT "$pg_pid" 2>/dev/null || true   # SIGINT: PostgreSQL's fast shutdown
        # Done when it removes postmaster.pid (as pg_ctl waits); the process itself may linger
        # as a zombie where PID 1 does not reap orphans (containers).
        for _ in $(seq 200); do [ -e "$pg_dir/data/postmaster.pid" ] || break; sleep 0.05; done
        [ ! -e "$pg_dir/data/postmaster.pid" ] || kill -KILL "$pg_pid" 2>/dev/null || true
    fi
    if [ "$own_pg_dir" -eq 1 ]; then rm -rf "$pg_dir"; fi
    echo "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2. A cluster of our own.
if [ -z "$pg_dir" ]; then
    pg_dir="$(mktemp -d /tmp/beamline-pg.XXXXXX)"
    own_pg_dir=1
fi
mkdir -p "$pg_dir"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$pg_dir"
chmod 700 "$pg_dir"
password="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
pg_port="$(cd "$here" && "$PYTHON" -c 'from beamline_shared.launcher import free_port; print(free_port())')"
if [ ! -e "$pg_dir/PG_VERSION" ]; then
    pwfile="$pg_dir/.pw"
    echo "$password" > "$pwfile"
    [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$pwfile"
    "${as_pg[@]}" "$bin/initdb" -D "$pg_dir/data" -U beamline --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --no-instructions >"$pg_dir/initdb.log" 2>&1 \
        || { cat "$pg_dir/initdb.log" >&2; exit 4; }
    rm -f "$pwfile"
    echo "$password" > "$pg_dir/password"
    chmod 600 "$pg_dir/password"
else
    password="$(cat "$pg_dir/password")"
fi
"${as_pg[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir" >/dev/null \
    || { cat "$pg_dir/postgres.log" >&2; exit 4; }
pg_pid="$(head -n 1 "$pg_dir/data/postmaster.pid")"
echo "PostgreSQL: PID $pg_pid, 127.0.0.1:$pg_port, cluster $pg_dir/data"

# 3. The databases.
for db in catalog storage; do
    "${as_pg[@]}" env PGPASSWORD="$password" "$bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U beamline -d postgres \
        -c "SELECT 1 FROM pg_database WHERE datname = '$db'" -t | grep -q 1 \
        || "${as_pg[@]}" env PGPASSWORD="$password" "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U beamline "$db"
done
echo "databases: catalog, storage"

# 4. beamline-tiled on them.
url="postgresql://beamline:$password@127.0.0.1:$pg_port"
(cd "$here" && exec "$PYTHON" -m beamline.tiled_server --data-root "$data_root" --host "$host" --port "$port" \
    --catalog "$url/catalog" --storage "$url/storage") &
tiled_pid=$!
for _ in $(seq 600); do
    if ! kill -0 "$tiled_pid" 2>/dev/null; then echo "tiled-postgres.sh: beamline-tiled exited" >&2; exit 5; fi
    if "$PYTHON" -c "import json,sys; sys.exit(json.load(open('$data_root/tiled.json'))['pid'] != $tiled_pid)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
echo "ready: $("$PYTHON" -c "import json; print(json.load(open('$data_root/tiled.json'))['uri'])") (PID $tiled_pid)"
wait "$tiled_pid"

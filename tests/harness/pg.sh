# Sourced by the integration suites, the demo and the bench: starts a throwaway PostgreSQL 15
# (initdb in a temp dir, a unix socket in it, a free port) and always stops it on exit.
# Exports PGHOST, PGPORT, PGUSER and PGDATABASE for libpq and psql.
#
# As root the server runs as user postgres, who may not be able to enter the checkout (a clone
# in /root or in a mktemp -d directory is private): the data directory and the socket live in
# a directory under /tmp that postgres owns, never in the checkout, and the programs run from /.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# The server's own client programs first: Debian's psql is a wrapper script that starts Perl to
# choose a cluster, which doubled the cost of every statement the suites make (rules.sh: 78 s
# against 53 s). Only the PostgreSQL 15 these machines have is ever meant.
case ":$PATH:" in *":$PG_BIN:"*) ;; *) PATH=$PG_BIN:$PATH; export PATH ;; esac

pg_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# as_pg CMD...: the server refuses to run as root, so root runs it as user postgres, from /
# (the caller's directory may be one postgres cannot enter). Paths must be absolute.
as_pg() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# pg_start [DIR]: DIR defaults to a new temp dir, removed again by pg_stop.
pg_start() {
    PG_DIR=${1:-$(mktemp -d /tmp/lethe-pg.XXXXXX)}
    case $PG_DIR in /*) ;; *) PG_DIR=$PWD/$PG_DIR ;; esac
    PG_OWN_DIR=${1:+no}
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR" && chmod 0755 "$PG_DIR"
    PGPORT=$(pg_free_port)
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-k $PG_DIR -p $PGPORT -c listen_addresses='' -c fsync=${PG_FSYNC:-off} -c max_connections=60 -c shared_buffers=${PG_SHARED_BUFFERS:-128MB}" \
        start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    export PGHOST=$PG_DIR PGPORT PGUSER=postgres PGDATABASE=postgres
    [ -z "$PG_OWN_DIR" ] && trap pg_stop EXIT
    return 0
}

pg_stop() {
    [ -n "${PG_DIR:-}" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    [ -z "${PG_OWN_DIR:-}" ] && rm -rf "$PG_DIR"
    PG_DIR=
}

# pg_restart: stop and start the same cluster on the same port (for restart tests).
pg_restart() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-k $PG_DIR -p $PGPORT -c listen_addresses='' -c fsync=${PG_FSYNC:-off} -c max_connections=60" start >/dev/null
}

# new_db NAME: a fresh database, migrated; sets PGDATABASE.
new_db() {
    psql -q -X -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null
    export PGDATABASE=$1
    "$LETHE" migrate >/dev/null
}

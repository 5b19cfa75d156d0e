#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster for the tests: Debian's server, run as the postgres user, in a
# temporary folder, listening on 127.0.0.1 only, on a free port. Prints the URL, writes it to
# $TMPDIR/fitguard-postgres.url (what tests/search/conftest.py reads when FITGUARD_TEST_POSTGRES_URL is unset) and,
# when sourced, exports FITGUARD_TEST_POSTGRES_URL. Stop it with: .ci/postgres.sh stop
set -euo pipefail

url_file="${TMPDIR:-/tmp}/fitguard-postgres.url"
dir_file="${TMPDIR:-/tmp}/fitguard-postgres.dir"

bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ "${1:-}" = "stop" ]; then
    if [ -f "$dir_file" ]; then
        data="$(cat "$dir_file")"
        su postgres -s /bin/sh -c "'$(bin_dir)/pg_ctl' -D '$data/data' -m immediate stop" >/dev/null 2>&1 || true
        rm -rf "$data" "$dir_file" "$url_file"
    fi
    exit 0
fi

if [ -z "$(bin_dir)" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
bin="$(bin_dir)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data="$(mktemp -d /tmp/fitguard-pg.XXXXXX)"
chown postgres "$data"
su postgres -s /bin/sh -c "'$bin/initdb' -D '$data/data' -A trust -U postgres --no-sync" >/dev/null
su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$data/data' -l '$data/log' -w \
    -o \"-c listen_addresses=127.0.0.1 -p $port -k '$data' -c fsync=off -c max_connections=200\" start" >/dev/null
su postgres -s /bin/sh -c "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres fitguard_test"
url="postgresql+psycopg://postgres@127.0.0.1:$port/fitguard_test"
echo "$data" > "$dir_file"
echo "$url" > "$url_file"
export FITGUARD_TEST_POSTGRES_URL="$url"
echo "$url"

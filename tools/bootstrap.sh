#!/usr/bin/env bash
# bootstrap.sh: make sure this Debian 12 machine has every package the build,
# the daemons, the tests and the benchmarks need.
# Fast no-op (one dpkg-query) when all are present. As root it installs what is
# missing (apt-get update once, then apt-get install -y); otherwise it prints
# the exact command to run and exits 1.
set -euo pipefail

PKGS=(
    build-essential pkg-config
    libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev libevent-dev
    libjansson-dev libcmocka-dev libsodium-dev
    postgresql-15 postgresql-client-15
    python3 python3-zmq python3-protobuf protobuf-compiler python3-psycopg2 python3-pytest
    python3-nacl python3-yaml
    wrk valgrind docker-compose curl libfaketime
    clang libclang-rt-14-dev
)

missing=()
# One dpkg-query for all of them; a package dpkg has never heard of prints
# nothing on stdout (its complaint goes to stderr), so compare names.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PKGS[@]}" 2>/dev/null || true)
for p in "${PKGS[@]}"; do
    if ! grep -qE "^${p} ii" <<<"$installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: run this, then try again:" >&2
    echo "sudo apt-get install -y ${missing[*]}"
    exit 1
fi

echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

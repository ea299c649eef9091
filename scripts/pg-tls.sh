#!/usr/bin/env bash
# Turns TLS on in the local PostgreSQL with a throwaway certificate authority, for the
# tests of `sslmode` and `sslrootcert`. Idempotent: when the server already presents
# this script's certificate, nothing changes.
#
#   scripts/pg-tls.sh          # set up (run as root), then print the directory
#
# The directory (ADUAN_TEST_PG_TLS_DIR, default below) holds:
#   ca.crt        the throwaway CA the server's certificate is signed by
#   other-ca.crt  an unrelated CA, which must not be trusted for this server
#   server.crt    the server's certificate: DNS name `localhost` only, so a client that
#                 checks the host name accepts `localhost` and refuses `127.0.0.1`
#
# Outside that directory it changes only the server's TLS settings, with ALTER SYSTEM
# (postgresql.auto.conf) and a reload: `ssl`, `ssl_cert_file`, `ssl_key_file`.
set -euo pipefail

DIR="${ADUAN_TEST_PG_TLS_DIR:-/var/lib/postgresql/aduan-test-tls}"
PG="${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
log() { printf '==> %s\n' "$*" >&2; }

make_ca() { # name, file stem
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$DIR/$2.key" -out "$DIR/$2.crt" -days 3650 -subj "/CN=$1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

if ! [ -s "$DIR/server.crt" ] || ! openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" >/dev/null 2>&1 \
  || ! openssl x509 -checkend 86400 -noout -in "$DIR/server.crt" >/dev/null 2>&1; then
  log "making a throwaway CA and server certificate for PostgreSQL"
  install -d -m 0755 "$DIR"
  make_ca "aduan test CA" ca
  make_ca "aduan unrelated CA" other-ca
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" -subj "/CN=localhost" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
    -CAcreateserial -out "$DIR/server.crt" -days 825 -extfile "$DIR/server.ext" 2>/dev/null
  rm -f "$DIR/server.csr" "$DIR/server.ext" "$DIR/ca.key" "$DIR/other-ca.key" "$DIR/ca.srl"
  # The server refuses a key that others can read.
  chown postgres:postgres "$DIR/server.key" "$DIR/server.crt" 2>/dev/null || true
  chmod 0600 "$DIR/server.key"
  chmod 0644 "$DIR/server.crt" "$DIR/ca.crt" "$DIR/other-ca.crt"
fi

q() { psql "$PG" -qAtc "$1"; }
if [ "$(q 'SHOW ssl')" != on ] || [ "$(q 'SHOW ssl_cert_file')" != "$DIR/server.crt" ]; then
  log "turning TLS on in PostgreSQL with the throwaway CA"
  q "ALTER SYSTEM SET ssl_cert_file = '$DIR/server.crt'"
  q "ALTER SYSTEM SET ssl_key_file = '$DIR/server.key'"
  q "ALTER SYSTEM SET ssl = on"
  q "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 1 50); do
    [ "$(q 'SHOW ssl_cert_file')" = "$DIR/server.crt" ] && break
    sleep 0.1
  done
fi
if ! psql "postgres://postgres@localhost:5432/postgres?sslmode=verify-full&sslrootcert=$DIR/ca.crt" \
  -qAtc 'SELECT 1' >/dev/null; then
  log "PostgreSQL does not present the throwaway certificate; see its log"
  exit 1
fi
echo "$DIR"

#!/usr/bin/env bash
# Runs OCI registries on loopback for the oci:// tests: Debian's docker-registry (CNCF
# distribution 2.8) over TLS with a test CA, three instances on free ports:
#   open   no authentication                         SPACKLE_TEST_REGISTRY (host:port)
#   basic  htpasswd Basic auth (user "spackle")      SPACKLE_TEST_REGISTRY_BASIC,
#                                                    SPACKLE_TEST_REGISTRY_USER/_PASSWORD
#   plain  no authentication, plain HTTP (for oci+http://)  SPACKLE_TEST_REGISTRY_HTTP
#   token  Bearer tokens from a token service the tests run on SPACKLE_TEST_REGISTRY_TOKEN_PORT,
#          signed with SPACKLE_TEST_REGISTRY_TOKEN_KEY (its certificate is the registry's
#          root bundle, SPACKLE_TEST_REGISTRY_TOKEN_CERT)   SPACKLE_TEST_REGISTRY_TOKEN
# plus SPACKLE_TEST_REGISTRY_CA_FILE (the test CA), all appended to
# $SPACKLE_TEST_SERVICES_DIR/env.
#   registry.sh start | stop
# Configs, data, keys, pids and logs live in $SPACKLE_TEST_SERVICES_DIR/registry.
set -euo pipefail
: "${SPACKLE_TEST_SERVICES_DIR:?set SPACKLE_TEST_SERVICES_DIR to a scratch directory}"
dir="$SPACKLE_TEST_SERVICES_DIR/registry"
# shellcheck source=_common.bash
. "$(cd "$(dirname "$0")" && pwd)/_common.bash"
instances=(open basic token plain)

registry_bin() {
  command -v docker-registry 2>/dev/null || { [ -x /usr/bin/docker-registry ] && echo /usr/bin/docker-registry; } || true
}

stop() {
  [ -d "$dir" ] || return 0
  local pid
  for i in "${instances[@]}"; do
    [ -f "$dir/$i.pid" ] || continue
    pid="$(cat "$dir/$i.pid")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$i.pid"
  done
}

start() {
  local bin
  bin="$(registry_bin)"
  [ -n "$bin" ] || { echo "registry.sh: docker-registry is not installed (scripts/setup installs it)" >&2; exit 1; }
  command -v htpasswd >/dev/null || { echo "registry.sh: htpasswd is missing (apache2-utils)" >&2; exit 1; }
  stop
  mkdir -p "$dir"
  if [ ! -f "$dir/server.crt" ]; then
    test_tls "$dir" "spackle registry test CA"
    # The token issuer's key and self-signed certificate (the registry's root bundle).
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=spackle token issuer" \
      -keyout "$dir/token.key" -out "$dir/token.crt" >/dev/null 2>&1
    htpasswd -Bbc "$dir/htpasswd" spackle "registry-secret" >/dev/null 2>&1
  fi
  local tokport
  tokport="$(free_port)"
  declare -A ports
  for i in "${instances[@]}"; do
    ports[$i]="$(free_port)"
    mkdir -p "$dir/$i/data"
    {
      echo "version: 0.1"
      echo "log: {level: warn}"
      echo "storage:"
      echo "  filesystem: {rootdirectory: $dir/$i/data}"
      echo "  delete: {enabled: true}"
      echo "http:"
      echo "  addr: 127.0.0.1:${ports[$i]}"
      echo "  secret: spackle-test-$i"
      [ "$i" = plain ] || echo "  tls: {certificate: $dir/server.crt, key: $dir/server.key}"
      case $i in
        basic)
          echo "auth:"
          echo "  htpasswd: {realm: spackle-basic, path: $dir/htpasswd}"
          ;;
        token)
          echo "auth:"
          echo "  token:"
          echo "    realm: http://127.0.0.1:$tokport/token"
          echo "    service: spackle-registry"
          echo "    issuer: spackle-test-issuer"
          echo "    rootcertbundle: $dir/token.crt"
          ;;
      esac
    } >"$dir/$i.yml"
    "$bin" serve "$dir/$i.yml" >"$dir/$i.log" 2>&1 &
    echo $! >"$dir/$i.pid"
  done
  for i in "${instances[@]}"; do
    local ok=0
    for _ in $(seq 1 100); do
      local scheme=https; [ "$i" = plain ] && scheme=http
      if curl -s -o /dev/null --cacert "$dir/ca.crt" "$scheme://127.0.0.1:${ports[$i]}/v2/"; then ok=1; break; fi
      sleep 0.1
    done
    [ $ok = 1 ] || { echo "registry.sh: the $i registry did not start:" >&2; cat "$dir/$i.log" >&2; stop; exit 1; }
  done
  {
    echo "export SPACKLE_TEST_REGISTRY=127.0.0.1:${ports[open]}"
    echo "export SPACKLE_TEST_REGISTRY_HTTP=127.0.0.1:${ports[plain]}"
    echo "export SPACKLE_TEST_REGISTRY_BASIC=127.0.0.1:${ports[basic]}"
    echo "export SPACKLE_TEST_REGISTRY_USER=spackle"
    echo "export SPACKLE_TEST_REGISTRY_PASSWORD=registry-secret"
    echo "export SPACKLE_TEST_REGISTRY_TOKEN=127.0.0.1:${ports[token]}"
    echo "export SPACKLE_TEST_REGISTRY_TOKEN_PORT=$tokport"
    echo "export SPACKLE_TEST_REGISTRY_TOKEN_KEY=$dir/token.key"
    echo "export SPACKLE_TEST_REGISTRY_TOKEN_CERT=$dir/token.crt"
    echo "export SPACKLE_TEST_REGISTRY_CA_FILE=$dir/ca.crt"
  } >>"$SPACKLE_TEST_SERVICES_DIR/env"
  echo "registry.sh: registries at 127.0.0.1:${ports[open]} (open), ${ports[basic]} (basic), ${ports[token]} (token), ${ports[plain]} (plain http)" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: registry.sh start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Serves the test fixtures over TLS on loopback with nginx, for the https tests.
#   nginx.sh start   creates a test CA and a server certificate (SAN localhost, 127.0.0.1),
#                    starts nginx on a free port, appends SPACKLE_TEST_HTTPS_URL,
#                    SPACKLE_TEST_CA_FILE and SPACKLE_TEST_HTTPS_SCRATCH(_URL) to
#                    $SPACKLE_TEST_SERVICES_DIR/env
#   nginx.sh stop    stops it
# Everything (config, pid, logs, keys) lives in $SPACKLE_TEST_SERVICES_DIR/nginx; the system's
# nginx configuration is not used. /scratch/ serves a directory the tests may fill.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
: "${SPACKLE_TEST_SERVICES_DIR:?set SPACKLE_TEST_SERVICES_DIR to a scratch directory}"
dir="$SPACKLE_TEST_SERVICES_DIR/nginx"
fixtures="${SPACKLE_FIXTURES:-$repo/../shared/fixtures}"
# shellcheck source=_common.bash
. "$here/_common.bash"

nginx_bin() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

stop() {
  if [ -f "$dir/nginx.pid" ]; then
    pid="$(cat "$dir/nginx.pid")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/nginx.pid"
  fi
}

start() {
  local bin
  bin="$(nginx_bin)"
  [ -n "$bin" ] || { echo "nginx.sh: nginx is not installed (scripts/setup installs nginx-light)" >&2; exit 1; }
  [ -d "$fixtures" ] || { echo "nginx.sh: no fixtures at $fixtures" >&2; exit 1; }
  fixtures="$(cd "$fixtures" && pwd)"
  stop
  mkdir -p "$dir/tmp" "$dir/logs" "$dir/scratch"
  chmod 755 "$dir" "$dir/scratch"

  # A test CA and a server certificate it signs.
  test_tls "$dir" "spackle test CA"

  local port user
  port="$(free_port)"
  user="$(id -un)"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
$([ "$(id -u)" -eq 0 ] && echo "user $user;")
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log $dir/logs/access.log;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  sendfile on;
  server {
    listen 127.0.0.1:$port ssl;
    server_name localhost;
    ssl_certificate $dir/server.crt;
    ssl_certificate_key $dir/server.key;
    location / {
      root $fixtures;
      limit_except GET HEAD { deny all; }
    }
    location /scratch/ {
      alias $dir/scratch/;
      limit_except GET HEAD { deny all; }
    }
  }
}
CONF
  "$bin" -c "$dir/nginx.conf" -p "$dir" -e "$dir/logs/error.log" -t >/dev/null 2>&1 ||
    { "$bin" -c "$dir/nginx.conf" -p "$dir" -e "$dir/logs/error.log" -t; exit 1; }
  "$bin" -c "$dir/nginx.conf" -p "$dir" -e "$dir/logs/error.log"
  for _ in $(seq 1 50); do
    if curl -sf --cacert "$dir/ca.crt" -o /dev/null "https://127.0.0.1:$port/fixtures.json" 2>/dev/null ||
      python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  {
    echo "export SPACKLE_TEST_HTTPS_URL=https://127.0.0.1:$port/"
    echo "export SPACKLE_TEST_CA_FILE=$dir/ca.crt"
    echo "export SPACKLE_TEST_HTTPS_SCRATCH=$dir/scratch"
    echo "export SPACKLE_TEST_HTTPS_SCRATCH_URL=https://127.0.0.1:$port/scratch/"
  } >>"$SPACKLE_TEST_SERVICES_DIR/env"
  echo "nginx.sh: serving $fixtures at https://127.0.0.1:$port/" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: nginx.sh start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Runs an S3 server on loopback for the s3:// tests: OpenStack Swift with its s3api middleware
# (Debian packages swift, swift-proxy, swift-account, swift-container, swift-object,
# python3-swift, memcached; scripts/setup installs them).
#   s3.sh start   builds one-device rings and configs, starts memcached, the account, container
#                 and object servers and the proxy (127.0.0.1:8090, or a free port when 8090 is
#                 taken), waits for /healthcheck, appends SPACKLE_TEST_S3_ENDPOINT,
#                 SPACKLE_TEST_S3_ACCESS_KEY, SPACKLE_TEST_S3_SECRET_KEY and
#                 SPACKLE_TEST_S3_REGION to $SPACKLE_TEST_SERVICES_DIR/env
#   s3.sh stop    stops everything start started
# Rings, configs, data, pids and logs live in $SPACKLE_TEST_SERVICES_DIR/s3. Swift always reads
# its hash settings from /etc/swift/swift.conf (the swift package installs it); when that file
# is missing, start writes one with test values (and only then).
set -euo pipefail
: "${SPACKLE_TEST_SERVICES_DIR:?set SPACKLE_TEST_SERVICES_DIR to a scratch directory}"
dir="$SPACKLE_TEST_SERVICES_DIR/s3"
# shellcheck source=_common.bash
. "$(cd "$(dirname "$0")" && pwd)/_common.bash"
services=(memcached account container object proxy)

port_free() {
  python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$1)); s.close()" 2>/dev/null
}

stop() {
  [ -d "$dir" ] || return 0
  local pids=() pid
  for s in "${services[@]}"; do
    if [ -f "$dir/$s.pid" ]; then
      pid="$(cat "$dir/$s.pid")"
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
      fi
      rm -f "$dir/$s.pid"
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
  return 0
}

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "s3.sh: $1 is not installed (scripts/setup installs swift and memcached)" >&2
    exit 1
  }
}

rings() { # account-port container-port object-port
  # One python process for the three rings (swift-ring-builder takes ~1.5 s per ring).
  /usr/bin/python3 - "$dir/etc" "$@" <<'PY'
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    b = RingBuilder(6, 1, 0)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 100, "meta": ""})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (etc, name))
PY
  for r in account container object; do
    [ -f "$dir/etc/$r.ring.gz" ] || { echo "s3.sh: could not build the $r ring" >&2; exit 1; }
  done
}

server_conf() { # name port
  cat >"$dir/etc/$1-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 0
user = $user
swift_dir = $dir/etc
devices = $dir/data
mount_check = false
log_name = $1-server
log_level = WARNING
log_address = $dir/no-syslog

[pipeline:main]
pipeline = $1-server

[app:$1-server]
use = egg:swift#$1
CONF
}

start() {
  for b in swift-proxy-server swift-account-server swift-container-server \
    swift-object-server memcached; do need "$b"; done
  stop
  rm -rf "$dir"
  mkdir -p "$dir/etc" "$dir/data/d1" "$dir/logs"
  user="$(id -un)"

  if [ ! -f /etc/swift/swift.conf ]; then
    mkdir -p /etc/swift
    printf '[swift-hash]\nswift_hash_path_suffix = spackle-test\nswift_hash_path_prefix = spackle-test\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n' \
      >/etc/swift/swift.conf
  fi

  local proxy_port="${SPACKLE_TEST_S3_PORT:-8090}"
  port_free "$proxy_port" || proxy_port="$(free_port)"
  local mc_port acct_port cont_port obj_port
  mc_port="$(free_port)"
  acct_port="$(free_port)"
  cont_port="$(free_port)"
  obj_port="$(free_port)"

  rings "$acct_port" "$cont_port" "$obj_port"
  server_conf account "$acct_port"
  server_conf container "$cont_port"
  server_conf object "$obj_port"

  cat >"$dir/etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $proxy_port
workers = 0
user = $user
swift_dir = $dir/etc
log_name = proxy-server
log_level = WARNING
log_address = $dir/no-syslog

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc_port

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
min_segment_size = 1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
min_segment_size = 1

[filter:dlo]
use = egg:swift#dlo
CONF

  memcached -d -l 127.0.0.1 -p "$mc_port" -U 0 -m 32 -u "$user" -P "$dir/memcached.pid" \
    >"$dir/logs/memcached.log" 2>&1
  for s in account container object proxy; do
    setsid nohup "swift-$s-server" "$dir/etc/$s-server.conf" --verbose >"$dir/logs/$s.log" 2>&1 </dev/null &
    echo $! >"$dir/$s.pid"
  done

  local url="http://127.0.0.1:$proxy_port"
  local ok=""
  for _ in $(seq 1 150); do
    for s in account container object proxy; do
      if ! kill -0 "$(cat "$dir/$s.pid")" 2>/dev/null; then
        echo "s3.sh: swift-$s-server exited; its log:" >&2
        cat "$dir/logs/$s.log" >&2
        stop
        exit 1
      fi
    done
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthcheck" 2>/dev/null)" = 200 ]; then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "s3.sh: the proxy did not answer $url/healthcheck" >&2
    cat "$dir/logs/proxy.log" >&2
    stop
    exit 1
  fi
  {
    echo "export SPACKLE_TEST_S3_ENDPOINT=$url"
    echo "export SPACKLE_TEST_S3_ACCESS_KEY=test:tester"
    echo "export SPACKLE_TEST_S3_SECRET_KEY=testing"
    echo "export SPACKLE_TEST_S3_REGION=us-east-1"
  } >>"$SPACKLE_TEST_SERVICES_DIR/env"
  echo "s3.sh: S3 (Swift s3api) at $url" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: s3.sh start|stop" >&2; exit 2 ;;
esac

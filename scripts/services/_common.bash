# Shell functions the service scripts share (sourced, not run: scripts/test starts *.sh only).

# A TCP port free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# test_tls DIR CA_NAME: a test CA (DIR/ca.crt, ca.key) and a server certificate it signs for
# localhost and 127.0.0.1 (DIR/server.crt, server.key), unless DIR/server.crt exists.
test_tls() {
  local d="$1" name="$2"
  [ -f "$d/server.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$name" \
    -keyout "$d/ca.key" -out "$d/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "extendedKeyUsage=serverAuth" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
    -CAcreateserial -days 30 -extfile "$d/server.ext" -out "$d/server.crt" >/dev/null 2>&1
}

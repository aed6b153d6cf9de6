#!/usr/bin/env bash
# Installs what the tests need from Debian packages when it is missing:
# redis-server, mosquitto (the external broker of the cluster-mode test),
# node and npm with chromium for the admin portal's browser tests
# (web/e2e), and postgresql when asked (`ensure-deps.sh postgresql`, as
# `make test-full` does). Then the portal's npm packages (npm ci in web/)
# when web/node_modules lacks them. `ensure-deps.sh web` installs only what
# building the portal needs (node, npm, the npm packages). Run as root (CI
# is); otherwise it says what to install.
set -eu
cd "$(dirname "$0")/.."
need=()
if [ "${1:-}" != web ]; then
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  { command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 || need+=(mosquitto)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${1:-}" = postgresql ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
npm_ci() {
  # The portal's build and browser-test packages, exactly as package-lock.json pins them.
  [ -f web/node_modules/.package-lock.json ] && [ web/node_modules/.package-lock.json -nt web/package-lock.json ] && return 0
  echo "installing the admin portal's npm packages (npm ci in web/)" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
if [ ${#need[@]} -eq 0 ]; then
  npm_ci
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${need[*]} — install the Debian package(s): sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} from Debian packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
}
# The Debian packages may start a system redis on 6379 and a mosquitto on
# 1883; the tests start their own on free ports.
[ "${1:-}" = web ] || command -v redis-server >/dev/null
npm_ci

#!/usr/bin/env bash
# Installs what the tests need from Debian packages when it is missing:
# redis-server, mosquitto (the external broker of the cluster-mode test),
# and postgresql when asked (`ensure-deps.sh postgresql`, as
# `make test-full` does). Run as root (CI is); otherwise it says what to install.
set -eu
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 || need+=(mosquitto)
if [ "${1:-}" = postgresql ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0
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
command -v redis-server >/dev/null

#!/usr/bin/env bash
# The multi-worker tests run a real redis-server; install Debian's package when it is missing.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "redis-server is missing: install Debian's redis-server package (as root: apt-get install redis-server)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The tests start their own servers on free ports; the distribution's service is not needed.
(systemctl disable --now redis-server 2>/dev/null || service redis-server stop 2>/dev/null) || true

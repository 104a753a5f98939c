#!/usr/bin/env bash
# The PostgreSQL tests run a real server; install Debian's package when it is missing.
set -euo pipefail
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is missing: install Debian's postgresql package (as root: apt-get install postgresql)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# The tests start their own servers on free ports in temp folders; the distribution's cluster is not needed.
(systemctl disable --now postgresql 2>/dev/null || service postgresql stop 2>/dev/null) || true

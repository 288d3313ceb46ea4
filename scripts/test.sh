#!/usr/bin/env bash
# Set up (if needed) and run every test, the slow ones and the PostgreSQL ones included.
# The PostgreSQL tests start their own throw-away server from Debian's postgresql package;
# as root this script installs the package when it is missing.
# Extra arguments go to pytest (e.g. -m "not slow" for a quick loop).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "note: PostgreSQL server binaries not found; the PostgreSQL tests will skip (sudo apt-get install postgresql)" >&2
  fi
fi
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"

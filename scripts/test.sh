#!/usr/bin/env bash
# Set up (if needed) and run every test, the slow ones, the PostgreSQL ones and the browser
# one included. The PostgreSQL tests start their own throw-away server from Debian's
# postgresql package; the end-to-end test drives Debian's chromium (CJK fonts for the Chinese
# pages); as root this script installs those packages when they are missing.
# Extra arguments go to pytest (e.g. -m "not slow" for a quick loop).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
compgen -G "/usr/share/fonts/opentype/noto/NotoSansCJK*" >/dev/null || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: missing Debian packages: ${missing[*]}; the PostgreSQL / browser tests will skip (sudo apt-get install ${missing[*]})" >&2
  fi
fi
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"

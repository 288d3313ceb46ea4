#!/usr/bin/env bash
# Set up (if needed) and run the Daihou app on the embedded demo store.
# The first start on an empty store generates the demo portfolio (about 20 s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"

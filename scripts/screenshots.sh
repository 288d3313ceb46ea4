#!/usr/bin/env bash
# Regenerate the screenshots in docs/screenshots/ (every page, in Chinese and English):
# runs the end-to-end browser test, which starts the app on a small generated demo store
# and drives Debian's headless Chromium (apt-get install chromium fonts-noto-cjk).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAIHOU_SCREENSHOTS=1
exec .venv/bin/python -m pytest -p no:cacheprovider -q tests/e2e/test_browser.py -k test_page_renders_cleanly "$@"

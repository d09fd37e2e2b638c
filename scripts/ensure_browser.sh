#!/usr/bin/env bash
# Make sure a headless Chromium exists for the browser test.
# Order: an existing Debian chromium, Playwright's own download, then Debian's package.
set -u
py="${1:-python3}"
if [ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_PATH:-}" ]; then exit 0; fi
if "$py" - <<'PY' 2>/dev/null; then exit 0; fi
import os, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    sys.exit(0 if os.path.exists(p.chromium.executable_path) else 1)
PY
echo "ensure_browser: trying 'playwright install chromium'" >&2
if timeout 300 "$py" -m playwright install chromium >/dev/null 2>&1; then exit 0; fi
echo "ensure_browser: falling back to Debian's chromium package" >&2
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "ensure_browser: no Chromium available; install it (apt-get install chromium) and retry" >&2; exit 1; }

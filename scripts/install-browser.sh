#!/bin/sh
# A real browser for the browser tests (test/browser-proofs.test.ts): Debian's chromium,
# driven by playwright-core. `npm run setup:browser` (and .ci/run) runs it; `npm test`
# never does (tests change nothing on the machine). Does nothing when a
# chromium is already there (or CHROMIUM_PATH names one); installs it with apt-get
# when this user can; otherwise says how, and the browser test reports itself skipped.
if [ -n "$CHROMIUM_PATH" ] && [ -x "$CHROMIUM_PATH" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "vitra: installing Debian's chromium for the browser tests (apt-get install chromium)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } ||
    echo "vitra: could not install chromium; the browser tests will be skipped"
  exit 0
fi
echo "vitra: no chromium found; install it (apt-get install chromium) or set CHROMIUM_PATH, else the browser tests are skipped"
exit 0

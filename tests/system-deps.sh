#!/usr/bin/env bash
# Debian packages the tests need beyond Python: promtool (checks the Prometheus rules)
# and Chromium with its driver (the browser test of the built-in page). Installed only
# when missing; the browser downloads of test tools do not work offline, so the
# distribution's Chromium is used.
set -euo pipefail
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

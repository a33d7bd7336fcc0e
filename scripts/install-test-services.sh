#!/usr/bin/env bash
# The services the tests run for real, from Debian's packages, installed when missing:
# PostgreSQL (tests/test_distributed.py starts a throwaway server) and Chromium (the report's
# browser test, kaleido's PNG export). `make test` runs this; it does nothing when both exist.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-test-services: need root to apt-get install ${missing[*]}" >&2
    exit 1
  }
  SUDO="sudo"
fi
echo "install-test-services: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null

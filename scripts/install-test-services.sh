#!/usr/bin/env bash
# The services the tests run for real, from Debian's packages, installed when missing:
# PostgreSQL (tests/test_distributed.py starts a throwaway server), Chromium (the report's
# browser test, kaleido's PNG export) and Slurm with munge (tests/services.py starts a
# single-node cluster for tests/execute/test_slurm.py). `make test` runs this; it does nothing
# when all exist.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || missing+=(munge)
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

#!/usr/bin/env bash
# Set up everything radsurvey needs on a fresh Debian/Ubuntu/Raspberry Pi OS machine.
#   scripts/bootstrap.sh          the runtime: a venv in .venv with radsurvey installed
#   scripts/bootstrap.sh --test   also the test tools and the real servers the tests start
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RADSURVEY_VENV:-.venv}
PYTHON=${PYTHON:-python3}
TEST_DEBS=(mosquitto victoria-metrics influxdb poppler-utils chromium systemd shellcheck nodejs faketime libfaketime strace)

want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if ((want_tests)); then
    apt_install "${TEST_DEBS[@]}"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
extras=""
((want_tests)) && extras="[test]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".${extras}"

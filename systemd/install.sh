#!/bin/sh
# Install radsurvey as a systemd service on Raspberry Pi OS (Debian bookworm) or Debian.
#
#   sudo sh systemd/install.sh [SOURCE]
#
# SOURCE is what pip installs: this repository (the default when the script is
# run from a checkout), a wheel file, or "radsurvey==X.Y" from PyPI. The script
# also ships inside the package (python -c 'import radsurvey.systemd as s;
# print(s.path("install.sh"))'); run from there it needs SOURCE. Run it again to
# upgrade: config, secrets and the journal are kept. See docs/raspberry-pi.md.
set -eu

PREFIX=/opt/radsurvey
VENV=$PREFIX/venv
CONF=/etc/radsurvey
STATE=/var/lib/radsurvey
USER_NAME=radsurvey
HERE=$(cd "$(dirname "$0")" && pwd)

say() { printf 'radsurvey install: %s\n' "$*"; }
if [ $# -ge 1 ]; then
    SOURCE=$1
elif [ -f "$HERE/../pyproject.toml" ]; then
    SOURCE=$(dirname "$HERE")
else
    say "not run from a checkout: give what to install, a wheel file or radsurvey==X.Y (sudo sh $0 SOURCE)"
    exit 2
fi
[ "$(id -u)" -eq 0 ] || { say "run as root (sudo sh $0)"; exit 1; }
command -v systemctl >/dev/null || { say "systemd is required"; exit 1; }

if ! python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    say "installing python3-venv"
    apt-get update -q && apt-get install -y -q python3 python3-venv
fi

if ! id "$USER_NAME" >/dev/null 2>&1; then
    say "creating system user $USER_NAME (member of dialout for serial meters)"
    useradd --system --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin \
        --groups dialout --comment "radsurvey monitor" "$USER_NAME"
else
    usermod -a -G dialout "$USER_NAME"
fi

say "installing into $VENV from $SOURCE"
install -d -m 0755 "$PREFIX"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q --upgrade "$SOURCE"
# Unit files and documentation come from the installed package, so a wheel or a
# PyPI release installs them just as a checkout does.
UNITS=$("$VENV/bin/python" -c 'import radsurvey.systemd as s; print(s.path("radsurvey.service").parent)')
DOCS=$PREFIX/docs
install -d -m 0755 "$DOCS"
if SHIPPED_DOCS=$("$VENV/bin/python" -c 'import radsurvey.systemd as s; print(s.docs_dir())' 2>/dev/null); then
    install -m 0644 "$SHIPPED_DOCS"/*.md "$DOCS"/
else
    say "warning: this radsurvey ships no documentation; the units' Documentation= link ($DOCS) stays empty"
fi

say "configuration in $CONF (secrets in $CONF/secrets, mode 0600)"
install -d -m 0750 -o root -g "$USER_NAME" "$CONF"
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$CONF/secrets"
if [ ! -e "$CONF/radsurvey.toml" ]; then
    EXAMPLE="$UNITS/radsurvey.toml"
    install -m 0640 -o root -g "$USER_NAME" "$EXAMPLE" "$CONF/radsurvey.toml"
    say "wrote an example $CONF/radsurvey.toml: edit it, then: systemctl restart radsurvey"
fi
for secret in mqtt-password influxdb-token; do
    if [ ! -e "$CONF/secrets/$secret" ]; then
        install -m 0600 -o "$USER_NAME" -g "$USER_NAME" /dev/null "$CONF/secrets/$secret"
    fi
    chown "$USER_NAME:$USER_NAME" "$CONF/secrets/$secret"
    chmod 0600 "$CONF/secrets/$secret"
done

say "udev rules: /dev/radsurvey/ names for known meters"
install -m 0644 "$UNITS/99-radsurvey.rules" /etc/udev/rules.d/99-radsurvey.rules
if command -v udevadm >/dev/null; then
    if ! { udevadm control --reload-rules && udevadm trigger --subsystem-match=tty; }; then
        say "warning: udev did not reload its rules; they apply after a reboot"
    fi
fi

say "systemd units"
install -m 0644 "$UNITS/radsurvey.service" /etc/systemd/system/radsurvey.service
install -m 0644 "$UNITS/radsurvey@.service" /etc/systemd/system/radsurvey@.service
systemctl daemon-reload

if "$VENV/bin/radsurvey" config check "$CONF/radsurvey.toml"; then
    systemctl enable radsurvey.service
    systemctl restart radsurvey.service
    say "running: systemctl status radsurvey; journalctl -u radsurvey -f; sudo -u radsurvey radsurvey status --config $CONF/radsurvey.toml"
else
    say "the config has problems (above): fix $CONF/radsurvey.toml, then: systemctl enable --now radsurvey"
fi
ln -sf "$VENV/bin/radsurvey" /usr/local/bin/radsurvey

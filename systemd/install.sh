#!/bin/sh
# Install radsurvey as a systemd service on Raspberry Pi OS (Debian bookworm) or Debian.
#
#   sudo sh systemd/install.sh [SOURCE]
#
# SOURCE is what pip installs: this repository (the default), a wheel file, or
# "radsurvey==X.Y" from PyPI. Run it again to upgrade: config, secrets and the
# journal are kept. See docs/raspberry-pi.md.
set -eu

PREFIX=/opt/radsurvey
VENV=$PREFIX/venv
CONF=/etc/radsurvey
STATE=/var/lib/radsurvey
USER_NAME=radsurvey
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=${1:-$(dirname "$HERE")}

say() { printf 'radsurvey install: %s\n' "$*"; }
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
UNITS=$("$VENV/bin/python" -c 'import radsurvey.systemd as s; print(s.path("radsurvey.service").parent)')
DOCS=$PREFIX/docs
install -d -m 0755 "$DOCS"
[ -d "$SOURCE/docs" ] && cp "$SOURCE"/docs/*.md "$DOCS"/ 2>/dev/null || true

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
    udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true
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

#!/bin/sh
# Remove the radsurvey service. Keeps the config (/etc/radsurvey) and the journal
# (/var/lib/radsurvey) unless --purge is given.
#
#   sudo sh systemd/uninstall.sh [--purge]
set -eu
say() { printf 'radsurvey uninstall: %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { say "run as root"; exit 1; }
PURGE=0
[ "${1:-}" = "--purge" ] && PURGE=1

for unit in $(systemctl list-units --all --plain --no-legend 'radsurvey*' 2>/dev/null | awk '{print $1}'); do
    systemctl disable --now "$unit" || true
done
systemctl disable radsurvey.service 2>/dev/null || true
rm -f /etc/systemd/system/radsurvey.service /etc/systemd/system/radsurvey@.service
systemctl daemon-reload
rm -f /etc/udev/rules.d/99-radsurvey.rules
if command -v udevadm >/dev/null; then
    udevadm control --reload-rules || true
fi
rm -f /usr/local/bin/radsurvey
rm -rf /opt/radsurvey
if [ "$PURGE" -eq 1 ]; then
    say "purging config, secrets, journal and logs"
    rm -rf /etc/radsurvey /var/lib/radsurvey /var/log/radsurvey
    userdel radsurvey 2>/dev/null || true
else
    say "kept /etc/radsurvey and /var/lib/radsurvey (the journal); remove them with --purge"
fi
say "done"

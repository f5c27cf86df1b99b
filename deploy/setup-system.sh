#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (idempotent; a fast no-op when all tools are there).
#
#   bash deploy/setup-system.sh
#
# To add a package, add one "tool:package" word to PACKAGES (tool = the command that proves it is installed).
set -euo pipefail

PACKAGES=(
    promtool:prometheus              # promtool check/test rules
    amtool:prometheus-alertmanager   # amtool check-config
    chromium:chromium                # wallboard test: headless browser (its fontconfig pulls fonts-dejavu-core)
)

missing=()
for entry in "${PACKAGES[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
(( ${#missing[@]} )) || exit 0

if (( EUID == 0 )); then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "error: deploy/setup-system.sh must install ${missing[*]}: run it as root (sudo not found)" >&2
    exit 1
fi
command -v apt-get >/dev/null 2>&1 || { echo "error: apt-get not found: install ${missing[*]} by hand" >&2; exit 1; }

# Debian's prometheus packages start their service on install: forbid that with a temporary policy-rc.d
# (honoured by invoke-rc.d, also without systemd), and leave an existing one alone.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

echo "setup-system: installing ${missing[*]}" >&2
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Belt and braces: if a service got started anyway (a policy-rc.d that allows it), stop it.
for service in prometheus prometheus-alertmanager; do
    if [[ -x /etc/init.d/$service ]]; then "${SUDO[@]}" /etc/init.d/$service stop >/dev/null 2>&1 || true; fi
done

for entry in "${PACKAGES[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 \
        || { echo "error: ${entry%%:*} still not on PATH after installing ${entry#*:}" >&2; exit 1; }
done

#!/bin/sh
# install-deps.sh: installs the Debian 12 packages sshbpp needs to build and
# test. Idempotent: checks with dpkg-query first and is silent when everything
# is present; runs `apt-get update` once, and only if something is missing.
# Needs root to install; without root it lists what is missing and exits 1.
set -eu

PACKAGES="build-essential cmake pkg-config libssl-dev zlib1g-dev libcmocka-dev
python3 python3-paramiko python3-cryptography openssh-server openssh-client
dropbear-bin tinysshd valgrind openssl"

missing=""
for pkg in $PACKAGES; do
    # One line per installed architecture; any "installed" one will do.
    if ! dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qx installed; then
        missing="$missing $pkg"
    fi
done
missing=${missing# }

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: $missing" >&2
    echo "install-deps: run as root (e.g. sudo $0) to install them" >&2
    exit 1
fi

echo "install-deps: installing: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $missing

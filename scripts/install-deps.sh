#!/bin/sh
# install-deps.sh: installs the Debian 12 packages sshbpp needs.
#
#   install-deps.sh run    what building and `make run` need
#   install-deps.sh test   that plus the test-only tools and servers
#                          (paramiko, OpenSSH's sshd, dropbear, valgrind,
#                          clang-14 + libFuzzer); the default
#
# Idempotent: checks with dpkg-query first and is silent when everything
# is present; runs `apt-get update` once, and only if something is missing.
# Needs root to install; without root it lists what is missing and exits 1.
#
# No side effects beyond the packages: while its own apt-get runs, a
# policy-rc.d that refuses every service start (exit 101) is in place, so
# the package scripts of openssh-server and the like do not start a
# listening daemon. An existing policy-rc.d is kept aside and put back
# afterwards; ours is removed on every exit path. A system sshd unit that
# this run installed is also left disabled. (POLICY_RC_D, APT_GET and
# SYSTEMCTL may name other paths, for the installer's own test.)
set -eu

RUN_PACKAGES="build-essential cmake pkg-config libssl-dev zlib1g-dev libcmocka-dev
nettle-dev python3-dev openssl"
TEST_PACKAGES="python3 python3-paramiko python3-cryptography openssh-server openssh-client
dropbear-bin tinysshd valgrind clang-14 libclang-rt-14-dev
debootstrap python3-pytest python3-mock"
# serve's "subsystem sftp" runs Debian's sftp-server (openssh-server pulls
# it in too; named here because serve needs it without sshd).
TEST_PACKAGES="$TEST_PACKAGES openssh-sftp-server"
# tshark and tcpdump: the SSHKEYLOGFILE test decrypts a loopback capture.
TEST_PACKAGES="$TEST_PACKAGES tshark tcpdump"
# make coverage (gcovr: line and branch figures from gcc's --coverage).
TEST_PACKAGES="$TEST_PACKAGES gcovr"

case "${1:-test}" in
run) PACKAGES=$RUN_PACKAGES ;;
test) PACKAGES="$RUN_PACKAGES $TEST_PACKAGES" ;;
*)
    echo "usage: $0 [run|test]" >&2
    exit 2
    ;;
esac

POLICY_RC_D=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
APT_GET=${APT_GET:-apt-get}
SYSTEMCTL=${SYSTEMCTL:-systemctl}

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

saved=""
restore_policy() {
    rm -f "$POLICY_RC_D"
    if [ -n "$saved" ]; then
        mv -f "$saved" "$POLICY_RC_D"
        saved=""
    fi
}
trap restore_policy EXIT
trap 'restore_policy; exit 1' INT TERM HUP

if [ -e "$POLICY_RC_D" ] || [ -L "$POLICY_RC_D" ]; then
    saved=$(mktemp "$POLICY_RC_D.sshbpp-saved.XXXXXX")
    mv -f "$POLICY_RC_D" "$saved"
fi
mkdir -p "$(dirname "$POLICY_RC_D")"
cat >"$POLICY_RC_D" <<'POLICY'
#!/bin/sh
# Installed by sshbpp's install-deps.sh for the duration of its apt-get:
# no service is started by package scripts (101: action forbidden).
exit 101
POLICY
chmod 755 "$POLICY_RC_D"

echo "install-deps: installing: $missing"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common (tshark's) would ask whether non-root users may capture;
# answer no (no setuid dumpcap) before it is installed.
case " $missing " in
*" tshark "*)
    echo "wireshark-common wireshark-common/install-setuid boolean false" |
        "${DEBCONF_SET_SELECTIONS:-debconf-set-selections}"
    ;;
esac
"$APT_GET" update
# shellcheck disable=SC2086 # word splitting of the package list is intended
"$APT_GET" install -y --no-install-recommends $missing

# Enabled units would start at the next boot: leave the ones this run
# brought in disabled (the tests start their own sshd on a free port).
case " $missing " in
*" openssh-server "*)
    if command -v "$SYSTEMCTL" >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        "$SYSTEMCTL" disable --quiet ssh.service ssh.socket 2>/dev/null || true
    fi
    ;;
esac
# tinysshd's package enables a socket unit on port 22; the tests run it
# inetd-style on a free port themselves.
case " $missing " in
*" tinysshd "*)
    if command -v "$SYSTEMCTL" >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        "$SYSTEMCTL" disable --now --quiet tinysshd.socket 2>/dev/null || true
    fi
    ;;
esac

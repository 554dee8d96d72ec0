#!/bin/sh
# trixie-root.sh: a cached Debian 13 (trixie) root for tests that need
# OpenSSL 3.5 and OpenSSH 10, and a runner for commands inside it.
#
#   scripts/trixie-root.sh [build]        build the root unless it is complete
#   scripts/trixie-root.sh path           print the root's directory
#   scripts/trixie-root.sh run -- CMD...  build if needed, then run CMD inside
#
# The root lives outside the checkout, in $SSHBPP_TRIXIE_ROOT (default
# /var/cache/sshbpp/trixie). It is complete when its stamp file names the
# current package list; otherwise it is built again from scratch, with
# debootstrap, from the mirror apt already uses on this machine
# ($SSHBPP_TRIXIE_MIRROR overrides it). A policy-rc.d in the root keeps
# package scripts from starting services.
#
# `run` works in a private mount namespace (unshare -m): /proc, /dev, /dev/pts
# and the source tree (the checkout this script belongs to, or
# $SSHBPP_TRIXIE_SRC) are mounted inside the root at the same paths and vanish
# when the command exits, however it exits, so concurrent runs do not step on
# each other and nothing is left mounted. The command runs as root with the
# current directory unchanged when it lies in the source tree, else at the
# tree's top. Its exit status is passed through.
#
# Needs root. Every failure is loud and non-zero: a test that depends on this
# root fails when it cannot be had; it never skips.
set -eu

ROOT=${SSHBPP_TRIXIE_ROOT:-/var/cache/sshbpp/trixie}
SUITE=trixie
HERE=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SSHBPP_TRIXIE_SRC:-$HERE}

# Packages inside the root: the build and test dependencies of sshbpp and its
# Python binding. Changing this list (or STAMP_VERSION) rebuilds the root.
PACKAGES="gcc make cmake pkg-config libssl-dev openssl zlib1g-dev
libcmocka-dev openssh-server openssh-client python3 python3-dev
python3-paramiko python3-pytest python3-mock python3-cryptography nettle-dev
procps ca-certificates"
STAMP_VERSION=1

die() {
    echo "trixie-root: error: $*" >&2
    exit 1
}

stamp_text() {
    printf 'sshbpp trixie root v%s\n' "$STAMP_VERSION"
    printf '%s\n' $PACKAGES | sort
}

is_complete() {
    [ -f "$ROOT/.sshbpp-stamp" ] || return 1
    [ "$(cat "$ROOT/.sshbpp-stamp")" = "$(stamp_text)" ] || return 1
    [ -x "$ROOT/usr/sbin/sshd" ] && [ -x "$ROOT/usr/bin/cmake" ] &&
        [ -f "$ROOT/usr/include/openssl/evp.h" ]
}

# The first non-security mirror in apt's own configuration (deb822 .sources
# files first, then one-line sources.list).
find_mirror() {
    if [ -n "${SSHBPP_TRIXIE_MIRROR:-}" ]; then
        echo "$SSHBPP_TRIXIE_MIRROR"
        return
    fi
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'tolower($1) == "uris:" {
                 for (i = 2; i <= NF; i++)
                     if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit }
             }' "$f"
    done | head -n 1 | grep . && return
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                 for (i = 2; i <= NF; i++) {
                     if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; continue }
                     if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit }
                 }
             }' "$f"
    done | head -n 1 | grep . && return
    return 1
}

build_root() {
    [ "$(id -u)" -eq 0 ] || die "building the root needs root"
    command -v debootstrap >/dev/null 2>&1 ||
        die "debootstrap not found (scripts/install-deps.sh installs it)"
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) not found"
    mirror=$(find_mirror) || die "no Debian mirror found in apt's sources"
    tmp="$ROOT.build.$$"
    parent=$(dirname "$ROOT")
    mkdir -p "$parent"
    # Leftovers of an earlier, interrupted build; nothing is mounted in them
    # because every mount below lives in a namespace that is gone.
    rm -rf "$ROOT".build.*
    echo "trixie-root: building $ROOT from $mirror (this takes a few minutes)" >&2
    log="$parent/trixie-build.log"
    # minbase first; the rest through apt inside the root once policy-rc.d is
    # in place, so that no package script starts sshd.
    if ! debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -rf "$tmp"
        die "debootstrap $SUITE from $mirror failed (log: $log)"
    fi
    printf '#!/bin/sh\n# sshbpp: no service starts inside this root\nexit 101\n' \
        >"$tmp/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/usr/sbin/policy-rc.d"
    # The mirror may be a snapshot whose Release files have expired.
    printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
        >"$tmp/etc/apt/apt.conf.d/90sshbpp"
    cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
    # shellcheck disable=SC2086 # the package list is split on purpose
    if ! unshare -m --propagation private sh -eu -c '
            root=$1; shift
            mount -t proc proc "$root/proc"
            mount --rbind /dev "$root/dev"
            export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
            chroot "$root" apt-get update
            chroot "$root" apt-get install -y "$@"
            chroot "$root" apt-get clean' sh "$tmp" $PACKAGES >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -rf "$tmp"
        die "installing packages into the root failed (log: $log)"
    fi
    stamp_text >"$tmp/.sshbpp-stamp"
    rm -rf "$ROOT"
    mv "$tmp" "$ROOT"
    is_complete || die "root at $ROOT is incomplete after building"
    echo "trixie-root: ready at $ROOT" >&2
}

# Builds under an exclusive lock, so that two tests (or two engineers) that
# both find the root missing build it once.
ensure_root() {
    is_complete && return 0
    mkdir -p "$(dirname "$ROOT")"
    lock="$ROOT.lock"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$lock"
        flock 9
    fi
    is_complete || build_root
}

run_in_root() {
    [ "$(id -u)" -eq 0 ] || die "running in the root needs root"
    [ $# -gt 0 ] || die "run: no command given"
    ensure_root
    case $PWD in
        "$SRC" | "$SRC"/*) cwd=$PWD ;;
        *) cwd=$SRC ;;
    esac
    exec unshare -m --propagation private sh -eu -c '
        root=$1 src=$2 cwd=$3; shift 3
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mkdir -p "$root/dev/pts"
        mountpoint -q "$root/dev/pts" ||
            mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
        mount -t tmpfs tmpfs "$root/tmp"
        mkdir -p "$root$src"
        mount --bind "$src" "$root$src"
        cd /
        exec chroot "$root" /usr/bin/env -i \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LC_ALL=C.UTF-8 TERM="${TERM:-dumb}" \
            SSHBPP_IN_TRIXIE_ROOT=1 \
            /bin/sh -c "cd \"\$1\" && shift && exec \"\$@\"" sh "$cwd" "$@"' \
        sh "$ROOT" "$SRC" "$cwd" "$@"
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case $cmd in
    build) ensure_root; echo "$ROOT" ;;
    path) echo "$ROOT" ;;
    run)
        [ "${1:-}" = "--" ] && shift
        run_in_root "$@"
        ;;
    -h | --help | help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (build, path, run -- CMD...)" ;;
esac

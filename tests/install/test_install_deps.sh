#!/bin/bash
# test_install_deps.sh: scripts/install-deps.sh installs without starting
# services: during its apt-get a policy-rc.d denies every start (101); an
# existing policy-rc.d is put back byte for byte, ours is gone afterwards
# (also when apt-get fails); `run` asks only for the run packages and
# `test` for the test servers too. apt-get and dpkg-query are stand-ins
# (on PATH / APT_GET) that record what they saw; nothing is installed.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fails=0
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
[ "$(id -u)" -eq 0 ] || { echo "FAIL: must run as root (the installer refuses otherwise)"; exit 1; }

mkdir -p "$t/bin"
cat >"$t/bin/dpkg-query" <<'X'
#!/bin/sh
echo not-installed
X
cat >"$t/bin/apt-get" <<'X'
#!/bin/sh
echo "$*" >>"$LOG"
if [ "$1" = install ]; then
    if [ -x "$POLICY_RC_D" ]; then "$POLICY_RC_D" ssh start; echo "policy=$?" >>"$LOG"; else echo "policy=none" >>"$LOG"; fi
    [ -n "${FAIL_INSTALL:-}" ] && exit 100
fi
exit 0
X
chmod +x "$t/bin/dpkg-query" "$t/bin/apt-get"
printf '#!/bin/sh\necho "systemctl $*" >>"$LOG"\n' >"$t/bin/systemctl"
chmod +x "$t/bin/systemctl"
export PATH="$t/bin:$PATH" APT_GET="$t/bin/apt-get" POLICY_RC_D="$t/sbin/policy-rc.d"
export SYSTEMCTL="$t/bin/systemctl"

# 1. no policy-rc.d before: denied during install, none after
export LOG="$t/log1"
"$src/scripts/install-deps.sh" test >/dev/null
check "starts denied (101) during install" grep -qx "policy=101" "$LOG"
check "our policy-rc.d removed afterwards" test ! -e "$POLICY_RC_D"
check "test set includes openssh-server" grep -q "install.*openssh-server" "$LOG"
check "test set includes dropbear-bin and clang-14" grep -q "install.*dropbear-bin.*clang-14" "$LOG"

# 2. an existing policy-rc.d is kept aside and restored exactly
mkdir -p "$t/sbin"
printf '#!/bin/sh\n# the admin'"'"'s own\nexit 0\n' >"$POLICY_RC_D"
chmod 750 "$POLICY_RC_D"
cp -p "$POLICY_RC_D" "$t/orig"
export LOG="$t/log2"
"$src/scripts/install-deps.sh" run >/dev/null
check "denied during install despite the admin's allow-all" grep -qx "policy=101" "$LOG"
check "the admin's policy-rc.d restored byte for byte" cmp -s "$POLICY_RC_D" "$t/orig"
check "... with its mode" test "$(stat -c %a "$POLICY_RC_D")" = 750
check "no backup left behind" test -z "$(ls "$t/sbin" | grep -v '^policy-rc.d$' || true)"
check "run set: no openssh-server" bash -c "! grep -q openssh-server '$LOG'"
check "run set: no dropbear-bin" bash -c "! grep -q dropbear '$LOG'"
check "run set: the build packages" grep -q "install.*libssl-dev.*libcmocka-dev" "$LOG"

# 3. apt-get fails: the installer fails, and the policy is restored anyway
export LOG="$t/log3" FAIL_INSTALL=1
if "$src/scripts/install-deps.sh" test >/dev/null 2>&1; then rc=0; else rc=$?; fi
unset FAIL_INSTALL
check "a failing apt-get fails the installer" test "$rc" -ne 0
check "restored after a failing apt-get" cmp -s "$POLICY_RC_D" "$t/orig"

# 4. a bad argument is refused before anything happens
export LOG="$t/log4"
if "$src/scripts/install-deps.sh" bogus >/dev/null 2>&1; then rc=0; else rc=$?; fi
check "unknown set refused" test "$rc" -eq 2
check "... without running apt-get" test ! -e "$LOG"

echo "$((15 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]

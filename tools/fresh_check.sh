#!/bin/bash
# The README's set-up promise, checked on the build host (as root): a minimal
# Debian bookworm root (mmdebstrap --variant=minbase), only the README's
# prerequisites installed in it, a clean clone of HEAD inside, then `make run`
# until the demo's result line and `make test` to the end, each timed.
#   make fresh-check   (KEEP=1 keeps the root; FRESH_TMP: where it goes, default
#   /var/tmp; FRESH_STOP=clone stops after the clone, to try the script itself)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
logs=$repo/build/fresh-check             # one log per step, kept
PREREQS="make git python3"               # the README's one apt-get line
RESULT_LINE="demo: the guest's result is" # py/hv/demo.py's last word on the guest
RUN_LIMIT=${RUN_LIMIT:-1800}             # seconds `make run` may take to get there
SUITE=bookworm
say() { printf 'fresh-check: %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

# --- steps, timed; the table is printed on every exit path ---
declare -a table=()
step_start() { step=$1; t0=$(date +%s); say "--- $step"; }
step_end() {  # STATUS
    local dt=$(($(date +%s) - t0))
    table+=("$(printf '%-52s %3dm%02ds  %s' "$step" $((dt / 60)) $((dt % 60)) "$1")")
}

# --- the root, its mounts, and the processes in it: undone on every exit ---
root="" mounts=() stopped=""
in_root_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}
kill_in_root() {  # SIGNAL: every process whose root is the root
    local pids
    pids=$(in_root_pids)
    # shellcheck disable=SC2086  # the pids are words
    [ -z "$pids" ] || kill "-$1" $pids 2>/dev/null || true
}
cleanup() {
    local rc=$? i
    set +e  # undo everything that can be undone, whatever fails
    trap - EXIT INT TERM
    if [ -n "$root" ]; then
        kill_in_root TERM
        for i in 1 2 3 4 5; do [ -z "$(in_root_pids)" ] && break; sleep 1; done
        kill_in_root KILL
        for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
            umount "${mounts[i]}" || umount --lazy "${mounts[i]}" || say "cannot unmount ${mounts[i]}"
        done
        if findmnt --list --noheadings --output TARGET | grep -qF "$root/"; then
            say "left $root in place: something is still mounted under it"
        elif [ "${KEEP:-}" = 1 ]; then
            say "kept the root in $root (KEEP=1)"
        else
            rm -rf --one-file-system "$root"
        fi
    fi
    [ ${#table[@]} -eq 0 ] || { say "summary:"; printf '  %s\n' "${table[@]}"; }
    total=$(($(date +%s) - start))
    if [ -n "$stopped" ]; then
        say "stopped after the $stopped (FRESH_STOP), no verdict"
    elif [ $rc -eq 130 ] || [ $rc -eq 143 ]; then
        say "interrupted after $((total / 60))m$((total % 60))s, no verdict"
    elif [ $rc -eq 0 ]; then
        say "PASS in $((total / 60))m$((total % 60))s (logs in build/fresh-check/)"
    else
        say "FAIL in $((total / 60))m$((total % 60))s (logs in build/fresh-check/)"
    fi
    exit $rc
}
start=$(date +%s)
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A command inside the root as a login would see it: a clean environment
# (no host PIP_* or PYTHON*), the host's proxy settings only.
in_root() {
    local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
               LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive)
    local v
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [ -z "${!v:-}" ] || env+=("$v=${!v}")
    done
    env -i "${env[@]}" chroot "$root" /bin/bash -c "$1"
}
# STEP LOG CMD [PATTERN]: run CMD in the root, output to LOG (its tail on
# failure); the last line matching PATTERN goes into the summary. In the
# background: `wait` gives way to INT/TERM at once, a foreground child would not.
logged() {
    local log=$logs/$2 what=""
    step_start "$1"
    in_root "$3" >"$log" 2>&1 &
    if wait $!; then what=ok; else what=FAIL; fi
    [ -z "${4:-}" ] || what+=": $(grep -aE "$4" "$log" | tail -n 1)"
    step_end "$what"
    [ "${what%%:*}" = ok ] || { tail -n 40 "$log" >&2; return 1; }
}

mkdir -p "$logs"
head=$(git -C "$repo" rev-parse HEAD)
[ -z "$(git -C "$repo" status --porcelain)" ] ||
    say "note: uncommitted changes are not checked; the clone is HEAD ($head)"

step_start "mmdebstrap on the host (tools/deps.py fresh-check)"
python3 "$repo/tools/deps.py" fresh-check
step_end ok
[ "$(id -u)" -eq 0 ] || die "mounts and chroot need root: sudo make fresh-check"

# The host's Debian sources (its mirror or snapshot), pasted into the root.
mirrors=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q 'debian\.org' "$f" && mirrors+=("$f")
done
[ ${#mirrors[@]} -gt 0 ] || die "no Debian apt source on this host (looked for debian.org in /etc/apt)"

root=$(mktemp -d "${FRESH_TMP:-/var/tmp}/mpvisor-fresh.XXXXXX")
step_start "mmdebstrap --variant=minbase $SUITE"
if mmdebstrap --variant=minbase "$SUITE" "$root" "${mirrors[@]}" >"$logs/mmdebstrap.log" 2>&1; then
    step_end ok
else
    step_end FAIL; tail -n 40 "$logs/mmdebstrap.log" >&2; exit 1
fi

# What the emulators and the test harness need of a running system: Bochs
# runs under `script` (a pty), QEMU and pytest use /dev/shm, /proc, /sys.
for m in proc sys dev dev/pts dev/shm; do
    mountpoint -q "/$m" || continue
    mount --bind "/$m" "$root/$m"
    mounts+=("$root/$m")
done
# What an installed system has and a minbase root lacks: the resolver's
# configuration, and /etc/hosts (the installer writes it, no package does;
# Bochs looks up "localhost" for its COM1 socket).
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
grep -qsw localhost "$root/etc/hosts" ||
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$root/etc/hosts"

logged "apt-get install $PREREQS (the README's line)" apt.log \
    "apt-get update && apt-get install -y $PREREQS"
# The host's CA bundle, so pip reaches PyPI through whatever this host trusts.
install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

step_start "git clone of HEAD ($(git -C "$repo" rev-parse --short HEAD))"
git -C "$repo" bundle create "$root/root/mpvisor.bundle" HEAD 2>"$logs/clone.log"
in_root "git -c advice.detachedHead=false clone -q /root/mpvisor.bundle /root/mpvisor && rm /root/mpvisor.bundle" \
    >>"$logs/clone.log" 2>&1 || { step_end FAIL; cat "$logs/clone.log" >&2; exit 1; }
step_end ok
[ "${FRESH_STOP:-}" != clone ] || { stopped=clone; exit 0; }

# `make run` first, as the README lists it: from nothing, all set-up, the
# build, then the demo in QEMU until its result line (then QEMU is stopped).
status=0
step_start "make run (until the demo's result line)"
# The console's input: a fifo held open here (read-write, so neither side
# blocks), so QEMU's stdin never reaches EOF.
mkfifo "$root/root/console"
exec 7<>"$root/root/console"
in_root "cd /root/mpvisor && make run </root/console" >"$logs/make-run.log" 2>&1 &
runner=$!
waited=0
until grep -aqF "$RESULT_LINE" "$logs/make-run.log"; do
    if ! kill -0 $runner 2>/dev/null || [ $waited -ge "$RUN_LIMIT" ]; then break; fi
    sleep 2; waited=$((waited + 2))
done
line=$(grep -aF "$RESULT_LINE" "$logs/make-run.log" | tr -d '\r' | head -n 1 || true)
kill_in_root TERM
wait $runner 2>/dev/null || true
exec 7>&-
rm -f "$root/root/console"
if [[ $line == "$RESULT_LINE 0 "* ]]; then
    step_end "ok: $line"
else
    step_end "FAIL: ${line:-no result line}"; tail -n 40 "$logs/make-run.log" >&2; status=1
fi

logged "make test (the whole suite)" make-test.log "cd /root/mpvisor && make test" \
    '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' || status=1
exit $status

#!/usr/bin/env bash
# tests/fs/run.sh — run every lsmfs integration test; `make check-fs` calls it.
#
#   tests/fs/run.sh BUILD_DIR [TEST...]        against real lsmfs mounts (BUILD_DIR/lsmfs)
#   tests/fs/run.sh --native DIR [BUILD_DIR] [TEST...]
#                                              the POSIX suites against a plain directory DIR
#                                              (proves the expectations are right)
#
# Prints PASS / FAIL / XFAIL / SKIP per test with its wall time and exits non-zero if any test
# FAILs.  A test listed in tests/fs/KNOWN_FAILURES ("name  reason" lines, for daemon bugs that
# have been reported) that fails is reported as XFAIL and does not fail the run; if it passes it
# is reported as XPASS (and also does not fail the run, so that the list can be pruned).
# Each test runs under `timeout` so a hung daemon cannot hang the run; every test cleans up its
# own mounts (traps + -o auto_unmount).  SEED=N fixes the seed of the randomised tests;
# LSMFS_OPTS=opt[,opt] adds daemon options to every mount (e.g. LSMFS_OPTS=writeback=on).
set -u
here=$(cd "$(dirname "$0")" && pwd)
native=()
if [ "${1:-}" = "--native" ]; then
    [ -n "${2:-}" ] || { echo "usage: $0 BUILD_DIR | --native DIR [BUILD_DIR] [TEST...]" >&2; exit 2; }
    mkdir -p "$2"
    native=(--native "$2")
    shift 2
    build=build
    if [ -n "${1:-}" ] && [ -d "$1" ]; then build=$1; shift; fi
else
    build=${1:-build}
    [ $# -gt 0 ] && shift
fi

# name:timeout-seconds:native(yes|no) — the suites that need a daemon are lsmfs-only.
all_tests="workflows:300:yes fsx:420:yes errno:180:yes persistence:180:yes concurrency:300:yes
crash:420:yes bigdir:420:yes enospc:300:yes badinput:120:yes bigfile:300:yes lowlevel:300:yes
times:120:yes opens:600:yes stress:900:yes churn:300:yes differ:400:no uring:600:no"
want=("$@")

export SEED=${SEED:-$(( $(date +%s) % 100000 ))}
echo "fs tests: build=$build ${native[*]:-} SEED=$SEED${LSMFS_OPTS:+ LSMFS_OPTS=$LSMFS_OPTS}"
[ ${#native[@]} -eq 0 ] && [ ! -x "$build/lsmfs" ] && echo "WARNING: $build/lsmfs does not exist: every test will fail"

# Known failures are daemon bugs: they do not apply to --native runs.
known() { [ ${#native[@]} -eq 0 ] && [ -f "$here/KNOWN_FAILURES" ] && grep -v '^#' "$here/KNOWN_FAILURES" | awk '{print $1}' | grep -qx "$1"; }

failed=0; summary=""
for t in $all_tests; do
    name=${t%%:*}; rest=${t#*:}; to=${rest%%:*}
    if [ ${#want[@]} -gt 0 ]; then
        sel=0; for w in "${want[@]}"; do [ "$w" = "$name" ] && sel=1; done
        [ $sel = 1 ] || continue
    fi
    script="$here/$name.sh"
    log=$(mktemp "${TMPDIR:-/var/tmp}/lsmfs-fstest-$name.XXXXXX.log")
    # Each test gets its own TMPDIR, so that whatever it leaves behind (even if `timeout` had
    # to SIGKILL it before its trap ran) can be found and cleaned up here.
    tdir=$(mktemp -d "${TMPDIR:-/var/tmp}/lsmfs-run-$name.XXXXXX")
    chmod 755 "$tdir"    # errno's checks run as uid nobody and must reach the mount
    start=$(date +%s.%N)
    if [ ${#native[@]} -gt 0 ]; then
        TMPDIR=$tdir timeout -k 15 "$to" "$script" "${native[@]}" "$build" >"$log" 2>&1; rc=$?
    else
        TMPDIR=$tdir timeout -k 15 "$to" "$script" "$build" >"$log" 2>&1; rc=$?
    fi
    leaked=$(awk -v d="$tdir/" 'index($2, d) == 1 {print $2}' /proc/mounts)
    if [ -n "$leaked" ]; then
        echo "LEAK: $name left mounts behind: $leaked" >>"$log"
        for m in $leaked; do fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
        rc=99
    fi
    # Processes of this test still running (daemons, writers) are ours: end them by pid.
    for p in /proc/[0-9]*; do
        c=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)
        case "$c" in *"$tdir/"*) kill -9 "${p#/proc/}" 2>/dev/null && echo "LEAK: killed leftover process ${p#/proc/}: $c" >>"$log" ;; esac
    done
    awk -v d="$tdir/" 'index($2, d) == 1 {exit 1}' /proc/mounts && rm -rf "$tdir"
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    if [ $rc = 0 ]; then
        res=PASS; known "$name" && res=XPASS
    elif known "$name"; then
        res=XFAIL
    else
        res=FAIL; failed=1
    fi
    [ $rc = 124 ] && res="$res(timeout ${to}s)"
    [ $rc = 99 ] && res="$res(leaked mounts)"
    printf '%-6s %-12s %7ss\n' "$res" "$name" "$secs"
    if [ $rc != 0 ]; then
        echo "------ $name output (last 40 lines of $log):"; tail -40 "$log"; echo "------"
        [ "$res" = XFAIL ] && grep -v '^#' "$here/KNOWN_FAILURES" | awk -v n="$name" '$1==n' | sed 's/^/known failure: /'
    else
        rm -f "$log"
    fi
    summary="$summary $name=$res"
done
echo "fs tests:$summary"
exit $failed

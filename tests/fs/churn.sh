#!/usr/bin/env bash
# tests/fs/churn.sh BUILD_DIR | --native DIR — concurrent namespace churn (churn.c): several
# processes create, remove, rename, link and rewrite names of one small tree at once; then the
# tree must be consistent (every listed name stats, link counts match the names, files read
# back their size), survive an unmount and remount unchanged, and pass `lsmfs-ctl check`.
# Run once with the suite's options and once more under the writeback cache, where the kernel
# keeps file sizes itself and a size the daemon got wrong stays hidden until the remount.
# CHURN_SECS (default 15) sets each run's duration.
. "$(dirname "$0")/lib.sh" "$@"
churn=$(t_helper churn)
secs=${CHURN_SECS:-15}

# round N OPTS: churn on a fresh store mounted with OPTS, then the checks.
round() {
    local n=$1 opts=$2 seed=$((T_SEED + $1))
    local store=$T_TMP/store$n mnt=$T_TMP/mnt$n
    t_mount "$store" "$mnt" "$opts" || fail "mount ($opts)"
    nice "$churn" -t "$secs" -p 6 -s "$seed" "$mnt" >"$T_TMP/churn$n.out" 2>&1 ||
        { tail -20 "$T_TMP/churn$n.out"; fail "churn (options '$opts', seed $seed)"; }
    note "$(tail -1 "$T_TMP/churn$n.out")"
    "$churn" -l "$mnt" >"$T_TMP/before$n" || fail "listing before the remount ($opts)"
    t_umount "$mnt" || fail "unmount after churn ($opts)"
    if [ "$T_NATIVE" = 0 ]; then
        timeout 300 "$T_BUILD/lsmfs-ctl" check "$store" >"$T_TMP/check$n.out" 2>&1 ||
            { tail -20 "$T_TMP/check$n.out"; fail "lsmfs-ctl check after churn ($opts)"; }
    fi
    t_mount "$store" "$mnt" "$opts" || fail "remount ($opts)"
    "$churn" -l "$mnt" >"$T_TMP/after$n" || fail "listing after the remount ($opts)"
    diff "$T_TMP/before$n" "$T_TMP/after$n" | head -20
    cmp -s "$T_TMP/before$n" "$T_TMP/after$n" ||
        fail "the tree changed across the remount (options '$opts', seed $seed)"
    "$churn" -c "$mnt" >/dev/null || fail "consistency after the remount ($opts)"
    t_umount "$mnt" || fail "final unmount ($opts)"
}

round 1 ""
case ${LSMFS_OPTS:-} in
*opens=kernel* | *writeback=*) ;; # the suite's own options decide the cache
*) [ "$T_NATIVE" = 0 ] && round 2 "writeback=on" ;;
esac
note PASS

#!/usr/bin/env bash
# tests/fs/bigdir.sh BUILD_DIR | --native DIR — one directory with 100,000 entries.
#
# Create e000000..e099999, then `ls -f | wc -l` must be 100,002 (with . and ..) and the names
# exactly the expected set.  Then, while 10,000 new names are added and 10,000 old ones removed
# by two parallel processes, list the directory again and again: every listing has no
# duplicate, every untouched name, and a count within bounds.  Afterwards the count is exact
# (100,002) and the set exact, also after a remount.  BIGDIR_N overrides 100000.
. "$(dirname "$0")/lib.sh" "$@"
mf=$(t_helper manyfiles)
N=${BIGDIR_N:-100000}
K=$((N / 10))
store=$T_TMP/store
mnt=$T_TMP/mnt
t_mount "$store" "$mnt" || fail "mount failed"
big=$mnt/big
mkdir "$big" || fail "mkdir"
start=$(date +%s)
"$mf" create "$big" e 0 "$N" || fail "creating $N files"
note "created $N files in $(( $(date +%s) - start )) s"
# Expected name sets (C-sorted).
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "e%06d\n", i }' >"$T_TMP/all"
awk -v n="$N" -v k="$K" 'BEGIN { for (i = k; i < n; i++) printf "e%06d\n", i }' >"$T_TMP/stable"
{ awk -v k="$K" 'BEGIN { for (i = 0; i < k; i++) printf "n%06d\n", i }'; cat "$T_TMP/stable"; } | LC_ALL=C sort >"$T_TMP/final"

count=$(ls -f "$big" | wc -l)
[ "$count" = $((N + 2)) ] || fail "ls -f | wc -l = $count, expected $((N + 2))"
ls -f "$big" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T_TMP/list"
cmp -s "$T_TMP/list" "$T_TMP/all" || { diff "$T_TMP/all" "$T_TMP/list" | head; fail "listing differs from the created names"; }
note "ls -f: $count entries, exact"

"$mf" create "$big" n 0 "$K" & adder=$!
"$mf" unlink "$big" e 0 "$K" & remover=$!
listings=0
while kill -0 $adder 2>/dev/null || kill -0 $remover 2>/dev/null || [ $listings = 0 ]; do
    ls -f "$big" >"$T_TMP/live" || fail "ls -f failed during changes"
    grep -v '^\.\.\?$' "$T_TMP/live" | LC_ALL=C sort >"$T_TMP/live.sorted"
    dups=$(uniq -d "$T_TMP/live.sorted" | wc -l)
    [ "$dups" = 0 ] || { uniq -d "$T_TMP/live.sorted" | head; fail "listing during changes has $dups duplicate names"; }
    missing=$(LC_ALL=C comm -23 "$T_TMP/stable" "$T_TMP/live.sorted" | wc -l)
    [ "$missing" = 0 ] || { LC_ALL=C comm -23 "$T_TMP/stable" "$T_TMP/live.sorted" | head; fail "listing during changes misses $missing untouched names"; }
    [ "$(grep -c '^\.\.\?$' "$T_TMP/live")" = 2 ] || fail "listing during changes lacks . or .."
    c=$(wc -l <"$T_TMP/live.sorted")
    [ "$c" -ge $((N - K)) ] && [ "$c" -le $((N + K)) ] || fail "listing during changes has $c names"
    listings=$((listings + 1))
done
wait $adder || fail "adding files failed"
wait $remover || fail "removing files failed"
note "$listings listings during the changes were consistent"

check_final() {
    count=$(ls -f "$big" | wc -l)
    [ "$count" = $((N + 2)) ] || fail "$1: ls -f | wc -l = $count, expected $((N + 2))"
    ls -f "$big" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T_TMP/list"
    cmp -s "$T_TMP/list" "$T_TMP/final" || { diff "$T_TMP/final" "$T_TMP/list" | head; fail "$1: final listing differs"; }
    note "$1: ls -f: $count entries, exact"
}
check_final "after the changes"
t_umount "$mnt" || fail "unmount"
t_mount "$store" "$mnt" || fail "remount"
check_final "after remount"
[ "$(find "$big" -type f | wc -l)" = "$N" ] || fail "find does not see $N files"
start=$(date +%s)
rm -rf "$big" || fail "rm -rf of the big directory"
[ -e "$big" ] && fail "big directory still exists after rm -rf"
note "rm -rf in $(( $(date +%s) - start )) s"
t_umount "$mnt" || fail "final unmount"
note PASS

#!/usr/bin/env bash
# tests/fs/workflows.sh BUILD_DIR | --native DIR — the user's everyday workflows on an lsmfs
# mount, checked byte for byte against the very same steps on a native directory.
#
# A source tree (t_make_tree: nested dirs, small/large/chunk-boundary files, odd names,
# symlinks, hard links, xattrs, fixed mtimes) is built on the native fs.  Then `steps ROOT`
# runs, once in a native directory and once on the mount, and writes everything the commands
# print (normalised only where a local fs and lsmfs must differ: inode numbers, directory
# sizes, block counts, the random temp path) to an output file; the two files must be equal.
# Steps: cp -a in, ls -la, cat, find, grep -r, mv (files, dirs), tar c | tar x round trip,
# > and >> from a shell script, sort -o, sed -i, dd seek/skip into a sparse 1 GiB file, du,
# df, cp -a out (tree checksums against the source), rm -r.
. "$(dirname "$0")/lib.sh" "$@"
treesum=$(t_helper treesum)
gen=$(t_helper gen)

src=$T_TMP/src
t_make_tree "$src" "$T_SEED" || fail "building the source tree"
"$treesum" -t "$src" >"$T_TMP/src.sum" || fail "treesum of the source tree"

native=$T_TMP/native
mkdir -p "$native"
t_fs || fail "mount failed"
mnt=$T_MNT

# steps ROOT LABEL: run every workflow in ROOT; print results to stdout.  Each step's header
# line makes a difference easy to locate in the diff.
steps() {
    local R=$1 label=$2 out=$T_TMP/out-$2
    cd "$R" || return 1
    echo "== cp -a in"
    cp -a "$src" tree; echo "rc=$?"
    "$treesum" -t tree | diff - "$T_TMP/src.sum" && echo "tree identical to source"

    echo "== ls -la (inode numbers and times not shown; dir sizes and 'total' blocks normalised)"
    # Directory sizes and block totals are fs-specific; names, modes, links, owners, file sizes
    # and symlink targets are not.
    ls -laRb --time-style=+ tree | awk '/^total /{next} /^d/{$5="DIRSIZE"} {print}'
    ls -lab --time-style=+%Y-%m-%d.%H:%M:%S tree/a/b | awk '/^total /{next} /^d/{$5="DIRSIZE"} {print}'

    echo "== cat"
    cat tree/a/small | od -An -tx1 | head -3
    cat tree/many/file7.txt | tail -2
    cat tree/big.bin | sha256sum
    cat tree/a/b/bigger.bin tree/a/b/size-65537 | sha256sum
    cat tree/"new"$'\n'"line" tree/"with  two spaces" tree/ünïcödé/日本語/файл.txt | sha256sum
    cat tree/link-to-big | cmp - tree/big.bin && echo "cat via symlink ok"

    echo "== find"
    find tree | LC_ALL=C sort
    find tree -type f -size +1M | LC_ALL=C sort
    find tree -name '*.txt' -newer tree/a/b/bigger.bin | LC_ALL=C sort
    find tree -type l -printf '%p -> %l\n' | LC_ALL=C sort
    find tree -links +1 -type f -printf '%p %n\n' | LC_ALL=C sort
    find tree -empty | LC_ALL=C sort
    find tree -perm -u=x -type f | LC_ALL=C sort

    echo "== grep -r"
    grep -r -D skip -n needle tree | LC_ALL=C sort
    grep -rl -D skip 'qqq' tree | LC_ALL=C sort
    grep -rc -D skip --include='*.txt' 'ab' tree | LC_ALL=C sort
    grep -r -D skip -L 'e' tree/many | LC_ALL=C sort

    echo "== mv"
    mv tree/a/small tree/moved-small
    mv tree/a/b tree/b-moved
    mv tree/ünïcödé "tree/empty dir/"
    mv tree/many/file2.txt tree/many/file3.txt          # over an existing file
    mv tree/deep/1/2/3 tree/three                       # a deep subtree up
    mv tree/three tree/deep/1/2/3                       # and back
    mv tree/b-moved/size-1 tree/b-moved/c/d/            # into a directory
    find tree | LC_ALL=C sort
    cat tree/moved-small | sha256sum
    cat tree/many/file3.txt | sha256sum
    ls -lab --time-style=+ tree/b-moved/c | awk '/^total /{next} /^d/{$5="DIRSIZE"} {print}'
    stat -c '%n %h' tree/moved-small tree/b-moved/c/small.hardlink

    echo "== tar c | tar x"
    mkdir untar
    tar -C tree --xattrs -cf - . | tar -C untar --xattrs -xpf -; echo "rc=${PIPESTATUS[0]}/${PIPESTATUS[1]}"
    "$treesum" -t tree >"$T_TMP/$label.tar-a"; "$treesum" -t untar >"$T_TMP/$label.tar-b"
    diff "$T_TMP/$label.tar-a" "$T_TMP/$label.tar-b" && echo "tar round trip identical"
    tar -C tree -cf tree.tar b-moved; tar -tvf tree.tar | awk '{print $1, $3, $6, $7, $8}' | LC_ALL=C sort
    rm -rf untar tree.tar

    echo "== shell > and >>"
    cat >script.sh <<'SCRIPT'
set -e
echo first >out.txt
echo second >>out.txt
for i in $(seq 1 300); do echo "line $i" >>log.txt; done
printf 'no newline' >out2.txt
printf ' appended' >>out2.txt
exec 3>>log.txt
echo "via fd 3" >&3
exec 3>&-
echo overwrite >out.txt
echo again >>out.txt
: >truncated.txt
SCRIPT
    sh script.sh; echo "rc=$?"
    cat out.txt out2.txt; echo
    wc -l log.txt; tail -2 log.txt; stat -c '%s' truncated.txt

    echo "== sort -o, sed -i"
    sort -o sorted.txt tree/b-moved/c/text.txt; sha256sum sorted.txt
    cp tree/b-moved/c/text.txt inplace.txt
    chmod 640 inplace.txt
    sort -r -o inplace.txt inplace.txt; sha256sum inplace.txt
    sed -i 's/a/A/g; s/^$/EMPTY/' inplace.txt; sha256sum inplace.txt; stat -c '%a %h %s' inplace.txt
    sed -i.bak -e '1,10d' log.txt; sha256sum log.txt log.txt.bak
    ls -1 | LC_ALL=C sort

    echo "== more coreutils: ln -sfn, touch -r, chmod -R, truncate, split, install, mkfifo, stat"
    ln -s tree/big.bin cur; ln -sfn tree/b-moved cur; readlink cur; ls cur/ | head -3
    touch -r tree/b-moved/bigger.bin out.txt; stat -c '%y' out.txt tree/b-moved/bigger.bin
    chmod -R go-rx tree/deep; find tree/deep -printf '%m %p\n' | LC_ALL=C sort
    chmod -R u+rwX,go+rX tree/deep
    truncate -s 10000 out2.txt; truncate -s -9990 out2.txt; od -c out2.txt
    truncate -s 3M grown; cmp grown <(head -c 3145728 /dev/zero) && echo "truncate -s grown file is zeros"
    split -b 1000000 tree/big.bin part.; ls part.* | LC_ALL=C sort; cat part.* | cmp - tree/big.bin && echo "split + cat identical"
    install -m 751 tree/many/file5.txt installed; stat -c '%a %s' installed
    mkfifo pipe; stat -c '%F %a' pipe; ls -l pipe | cut -c1-10
    stat -c '%n %F %a %s %h' tree/* | LC_ALL=C sort
    rm -f cur part.* grown installed pipe

    echo "== dd into a sparse 1 GiB file"
    dd if=/dev/zero of=sparse bs=1 count=0 seek=1G status=none
    "$gen" 77 64K >piece
    dd if=piece of=sparse bs=4k seek=100000 conv=notrunc status=none
    dd if=piece of=sparse bs=1M seek=1023 count=1 conv=notrunc status=none
    dd if=piece of=sparse bs=1 seek=12345 count=100 conv=notrunc status=none
    stat -c '%s' sparse
    dd if=sparse of=back bs=4k skip=100000 count=16 status=none; cmp back piece && echo "dd skip read back ok"
    dd if=sparse bs=64k skip=$((1023 * 16)) count=1 status=none | cmp - piece && echo "dd tail read back ok"
    dd if=sparse bs=4k skip=200000 count=256 status=none | od -An -tx1 | sort -u
    dd if=sparse bs=1 skip=12340 count=110 status=none | sha256sum
    local kb
    kb=$(du -k sparse | cut -f1)
    if [ "$kb" -lt 16384 ]; then echo "sparse file is small on disk"; else echo "sparse file uses ${kb} KiB"; fi
    du -b --apparent-size sparse
    rm -f sparse back piece

    echo "== du"
    find tree -type f -print0 | LC_ALL=C sort -z | xargs -0 du -b --apparent-size
    local dk fk
    dk=$(du -sk tree | cut -f1)
    fk=$(find tree -type f -printf '%i %s\n' | sort -u | awk '{s+=$2} END {printf "%d", s/1024}')
    # Block usage must cover the data and not be absurdly larger (no holes in this tree).
    if [ "$dk" -ge $((fk * 9 / 10)) ] && [ "$dk" -le $((fk * 3 + 4096)) ]; then echo "du -sk sane"; else echo "du -sk ${dk} KiB for ${fk} KiB of files"; fi

    echo "== df"
    df -P . >"$T_TMP/$label.df" && echo "df rc=0"
    awk 'NR==2 { if ($2 > 0 && $3 >= 0 && $4 > 0 && $3 <= $2) print "df sane"; else print "df insane: " $0 }' "$T_TMP/$label.df"
    df -i . >/dev/null && echo "df -i rc=0"

    echo "== cp -a out"
    rm -rf "$out"
    cp -a tree "$out"; echo "rc=$?"
    "$treesum" -t "$out" | diff - <("$treesum" -t tree) && echo "copy out identical"

    echo "== rm -r"
    rm -r tree/b-moved; echo "rc=$?"
    rm -rf tree/deep "tree/empty dir"; echo "rc=$?"
    find tree | LC_ALL=C sort
    rm -r tree; echo "rc=$?"
    rm -f ./*.txt ./*.bak script.sh
    ls -A | wc -l
    cd / || return 1
}

note "steps on native dir"
steps "$native" native >"$T_TMP/native.out" 2>&1
note "steps on $([ "$T_NATIVE" = 1 ] && echo 'second native dir' || echo 'lsmfs mount')"
steps "$mnt" lsmfs >"$T_TMP/lsmfs.out" 2>&1
# The native step output itself must contain every success marker (guards the expectations).
for marker in "tree identical to source" "tar round trip identical" "copy out identical" \
              "dd skip read back ok" "dd tail read back ok" "sparse file is small on disk" \
              "du -sk sane" "df sane" "cat via symlink ok" "truncate -s grown file is zeros" \
              "split + cat identical"; do
    grep -q "^$marker" "$T_TMP/native.out" || { cat "$T_TMP/native.out"; fail "native run lacks '$marker'"; }
done
if ! diff -u "$T_TMP/native.out" "$T_TMP/lsmfs.out" >"$T_TMP/diff"; then
    head -150 "$T_TMP/diff"
    fail "lsmfs output differs from native (diff above, - native + lsmfs)"
fi
# The trees copied out of both equal each other (times differ: they were modified at different times).
diff <("$treesum" "$T_TMP/out-native") <("$treesum" "$T_TMP/out-lsmfs") >/dev/null ||
    fail "trees copied out of native and lsmfs differ"
t_umount "$mnt" || fail "unmount"
note "$(wc -l <"$T_TMP/native.out") output lines identical; PASS"

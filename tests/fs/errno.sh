#!/usr/bin/env bash
# tests/fs/errno.sh BUILD_DIR | --native DIR — run the errno/POSIX-semantics checker (errno.c)
# on a fresh lsmfs mount, then the ghost table's model (ghosts_model.c).  Mounted with
# allow_other so that the checks running as uid nobody
# can enter the mount (the daemon must enforce default_permissions itself).
. "$(dirname "$0")/lib.sh" "$@"
prog=$(t_helper errno)
t_fs allow_other || fail "mount failed"
mnt=$T_MNT
# Native mode: run on a private ext4 (loop image) when possible, so that the statfs-based
# "space freed after close" check is not disturbed by other processes writing to a shared disk.
if [ "$T_NATIVE" = 1 ] && command -v mkfs.ext4 >/dev/null && truncate -s 256M "$T_TMP/ext4.img" &&
   mkfs.ext4 -q -F -b 4096 "$T_TMP/ext4.img" && mkdir -p "$T_TMP/ext4" &&
   mount -o loop "$T_TMP/ext4.img" "$T_TMP/ext4"; then
    T_EXTRA_CLEANUP2="umount '$T_TMP/ext4' 2>/dev/null || umount -l '$T_TMP/ext4'"
    mnt=$T_TMP/ext4
    note "native: running on a private ext4 loop image"
fi
mkdir "$mnt/errno" && chmod 755 "$mnt" "$mnt/errno" || fail "mkdir on the mount"
# The temp dir holding the mount must be searchable by nobody for the EACCES checks.
chmod 755 "$T_TMP"
# Every ancestor of the mount must be searchable by others, or the uid-nobody checks would all
# fail with EACCES for a reason that has nothing to do with the file system.
d=$mnt
while [ "$d" != / ]; do
    d=$(dirname "$d")
    [ "$(( 0$(stat -c %a "$d") & 1 ))" = 1 ] || fail "$d is not searchable by other users (mode $(stat -c %a "$d")): set TMPDIR to a world-searchable directory"
done
# The unlink-of-an-open-file space check measures the store directory itself on lsmfs.
[ "$T_NATIVE" = 0 ] && export ERRNO_SPACE_DIR=$T_TMP/store$T_FS_N
# With the kernel's writeback cache, writes past the largest file size reach the daemon only
# at writeback: errno.c does not expect EFBIG from write(2) then.
case ",${LSMFS_OPTS:-}," in *,writeback=on,*) [ "$T_NATIVE" = 0 ] && export ERRNO_WRITEBACK=1 ;; esac
"$prog" "$mnt/errno" || fail "errno checks failed (see FAIL lines above)"
# The daemon's table of nodes held after their last name went (fs/ghosts.c), against a model.
"$(t_helper ghosts_model)" "${SEED:-1}" || fail "ghost table model (seed ${SEED:-1})"
t_umount "$mnt" || fail "unmount"
# The same checks with write-only creates written without the page cache: the daemon then
# clears the set-id bits and security.capability that the kernel clears otherwise
# (fs/fuse_ops.c, direct_create and drop_privs).  Only in the default configuration: the
# option needs kernel opens, which suites that set LSMFS_OPTS (opens.sh) may turn off.
if [ "$T_NATIVE" = 0 ] && [ -z "${LSMFS_OPTS:-}" ]; then
    t_fs allow_other,direct_creates=on || fail "mount with direct_creates=on failed"
    mkdir "$T_MNT/errno" && chmod 755 "$T_MNT" "$T_MNT/errno" || fail "mkdir on the second mount"
    export ERRNO_SPACE_DIR=$T_TMP/store$T_FS_N
    "$prog" "$T_MNT/errno" || fail "errno checks with direct_creates=on failed (see FAIL lines above)"
    t_umount "$T_MNT" || fail "unmount of the direct_creates=on mount"
fi
note PASS

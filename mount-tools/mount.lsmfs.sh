#!/bin/sh
# mount.lsmfs — mount(8) helper for lsmfs: turns
#     mount.lsmfs STORE_DIR MOUNTPOINT [-sfnv] [-N ns] [-o OPTIONS] [-t TYPE]
# (what mount(8) runs for `mount -t lsmfs ...`, `mount -t fuse.lsmfs ...` (installed as
# mount.fuse.lsmfs too) and for /etc/fstab lines of either type) into
#     lsmfs STORE_DIR MOUNTPOINT -o OPTIONS
# after dropping the options that only mean something to mount(8), fstab or systemd
# (defaults, auto/noauto, user/users/nouser/owner/group, _netdev, nofail, x-*, comment=...).
# Everything else, lsmfs's own options (memtable_size=, cache_size=, compaction=, sync=,
# compression=, max_open_tables=) and FUSE's (allow_other, ro, nosuid, ...), passes through.
#
# The daemon is found as $LSMFS_DAEMON, else next to this script or in ../bin from it (symlinks
# resolved: PREFIX/sbin/mount.lsmfs runs PREFIX/bin/lsmfs), else on $PATH (which mount(8) does
# not pass on), else in /usr/local/bin, /usr/bin, /usr/local/sbin, /usr/sbin.  Exit status is the daemon's: it
# returns 0 only once the file system is mounted.  See mount.lsmfs(8).
set -u

prog=mount.lsmfs

usage() {
    echo "usage: $prog STORE_DIR MOUNTPOINT [-fnsv] [-o OPTIONS]" >&2
    echo "  (normally run by mount(8): mount -t lsmfs STORE_DIR MOUNTPOINT -o OPTIONS)" >&2
    exit "${1:-1}"
}

case "${1:-}" in
-h|--help) usage 0 ;;
esac
[ $# -ge 2 ] || usage 1
store=$1
mnt=$2
shift 2

raw=""
fake=0
verbose=0
while [ $# -gt 0 ]; do
    case "$1" in
    -o) [ $# -ge 2 ] || usage 1; raw="${raw:+$raw,}$2"; shift 2 ;;
    -o?*) raw="${raw:+$raw,}${1#-o}"; shift ;;
    -t|-N) [ $# -ge 2 ] || usage 1; shift 2 ;;
    -t?*|-N?*) shift ;;
    -f) fake=1; shift ;;
    -v) verbose=1; shift ;;
    -n|-s|-i) shift ;;
    -h|--help) usage 0 ;;
    *) echo "$prog: unexpected argument '$1'" >&2; usage 1 ;;
    esac
done

# Keep only what the daemon understands.
opts=""
old_ifs=$IFS
IFS=,
for o in $raw; do
    case "$o" in
    ''|defaults|auto|noauto|user|users|nouser|owner|group|_netdev|nofail|rw|loop) ;;
    x-*|comment=*|helper=*) ;;
    *) opts="${opts:+$opts,}$o" ;;
    esac
done
IFS=$old_ifs

# mount(8) strips PATH from the helper's environment; use a sane default for what we run.
PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
export PATH

find_daemon() {
    if [ -n "${LSMFS_DAEMON:-}" ]; then
        echo "$LSMFS_DAEMON"
        return 0
    fi
    # mount(8) runs us by our /sbin name (often a symlink) with PATH removed from the
    # environment: look next to the real file first (a build directory), then the usual places.
    # An installed helper in PREFIX/sbin belongs with PREFIX/bin/lsmfs.
    here=$(dirname "$(readlink -f "$0" 2>/dev/null || echo "$0")")
    for p in "$here/lsmfs" "$here/../bin/lsmfs"; do
        if [ -x "$p" ] && [ ! -d "$p" ]; then
            readlink -f "$p" 2>/dev/null || echo "$p"
            return 0
        fi
    done
    if p=$(command -v lsmfs 2>/dev/null) && [ -n "$p" ]; then
        echo "$p"
        return 0
    fi
    for d in /usr/local/bin /usr/bin /usr/local/sbin /usr/sbin; do
        if [ -x "$d/lsmfs" ]; then
            echo "$d/lsmfs"
            return 0
        fi
    done
    return 1
}

if ! daemon=$(find_daemon); then
    echo "$prog: cannot find the lsmfs daemon (not on PATH; set LSMFS_DAEMON)" >&2
    exit 1
fi

if [ -n "$opts" ]; then
    set -- -o "$opts"
else
    set --
fi
if [ "$verbose" = 1 ] || [ "$fake" = 1 ]; then
    echo "$prog: $daemon $store $mnt $*" >&2
fi
if [ "$fake" = 1 ]; then
    exit 0
fi
exec "$daemon" "$store" "$mnt" "$@"

#!/usr/bin/env python3
"""differ.py REFERENCE_DIR MOUNT_DIR SEED OPS -- differential random test (tests/fs/differ.sh).

Runs the same random operations on a reference directory (a local ext4) and on an lsmfs mount,
one at a time, and stops at the first difference in what they return: the result or the errno
value, the contents read back, which of mtime/ctime each operation moved (per inode), and --
every 50 operations and at the end -- the whole tree (types, modes, owners, link counts, sizes,
contents, symlink targets, xattr names).  Operations: mkdir, rmdir, unlink, rename (plain,
NOREPLACE, EXCHANGE), link, symlink, chmod, chown, truncate, open (random flags) / close,
pwrite, write, pread, ftruncate, fallocate (all modes), setxattr / getxattr / removexattr,
lstat, stat (through symlinks), fstat, readlink, listdir, utime, utimensat (UTIME_NOW,
UTIME_OMIT, AT_SYMLINK_NOFOLLOW), fchmod, futimens, mkfifo, mknod, copy_file_range,
SEEK_DATA/SEEK_HOLE, names of 255 and 256 bytes, a directory renamed into itself, and as
uid/gid 65534 (a forked child): open, O_TRUNC, write, unlink, rename, chmod, chown, utime,
utimensat, access, link, symlink, rmdir, listdir, setxattr, getxattr, removexattr, truncate,
mkdir, mkfifo; and as uid/gid 65533 with 65534 as a supplementary group: chown to either
group, chmod, write, open, access, mkdir, unlink, rename, utimensat, setxattr, truncate (group
rights, S_ISGID kept or dropped by membership, new files' groups).  Modes include set-id and
sticky bits.  Names come from a small set, so
operations collide.

What is allowed to differ (and so is not compared): where SEEK_DATA/SEEK_HOLE put a hole
(lsmfs: 64 KiB chunks, ext4: 4 KiB blocks; both answers are checked against the contents
instead), the times of FIFOs (FIFO I/O never reaches a FUSE daemon), and st_blocks.  Not run:
chown(f, -1, -1) by a caller who neither owns f nor is in its group, of a file with S_ISGID
but not group-executable (NOBODY_CHOWN): ext4 refuses it (EPERM: it would drop S_ISGID, and
only the owner may), lsmfs drops the bit, because the kernel sends it the same request as for
a write by that caller, which must drop it.
Prints the seed, the operation and the recent history on a difference; exits 1.
"""
import ctypes
import errno
import os
import random
import stat
import sys
import time
import zlib

libc = ctypes.CDLL("libc.so.6", use_errno=True)
AT_FDCWD = -100
NAMES = ["a", "b", "c", "d", "e", "d/a", "d/b", "e/a", "d/e", "d/e/a", "a/x"]
TIMED = NAMES[:-1]
FIXED_NS = 10**9  # the mtime every name gets before an operation


def check_libc(r):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def renameat2(a, b, flags):
    return check_libc(libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags))


UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
AT_SYMLINK_NOFOLLOW = 0x100


class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


def utimensat(path, atime, mtime, flags):
    """utimensat(2) with each time (sec, nsec), UTIME_NOW or UTIME_OMIT (os.utime has neither)."""
    ts = (Timespec * 2)(*[Timespec(*t) if isinstance(t, tuple) else Timespec(0, t)
                          for t in (atime, mtime)])
    return check_libc(libc.utimensat(AT_FDCWD, path.encode(), ts, flags))


def fallocate(fd, mode, off, length):
    return check_libc(libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)))


def call(fn):
    try:
        return ("ok", fn())
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def tree(root):
    """Every entry under root with what a user can see of it."""
    out = []
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for n in sorted(dns + fns):
            p = os.path.join(dp, n)
            st = os.lstat(p)
            ent = [os.path.relpath(p, root), stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)),
                   st.st_nlink, st.st_uid, st.st_gid]
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    ent += [st.st_size, zlib.crc32(f.read())]
            elif stat.S_ISLNK(st.st_mode):
                ent.append(os.readlink(p))
            ent.append(call(lambda: sorted(os.listxattr(p, follow_symlinks=False))))
            out.append(tuple(ent))
    return out


def times_before(root):
    """Set every name's mtime to FIXED_NS; return {inode: ctime} as it then is."""
    out = {}
    for n in TIMED:
        p = os.path.join(root, n)
        try:
            os.utime(p, ns=(FIXED_NS, FIXED_NS), follow_symlinks=False)
            st = os.lstat(p)
            out[st.st_ino] = st.st_ctime_ns
        except OSError:
            pass
    return out


def times_after(root, before):
    """Per name: did the operation move its mtime, and its ctime (same inode as before)?"""
    out = []
    for n in TIMED:
        try:
            st = os.lstat(os.path.join(root, n))
        except OSError:
            out.append((n, None))
            continue
        if stat.S_ISFIFO(st.st_mode):
            continue
        out.append((n, st.st_mtime_ns != FIXED_NS,
                    st.st_ino in before and st.st_ctime_ns != before[st.st_ino]))
    return out


def seek_check(fd, off, data):
    """SEEK_DATA (data=True) or SEEK_HOLE from off, judged against the file's contents."""
    r = call(lambda: os.lseek(fd, off, os.SEEK_DATA if data else os.SEEK_HOLE))
    os.lseek(fd, 0, os.SEEK_SET)  # the two may differ: keep that from steering later writes
    size = os.fstat(fd).st_size
    if off >= size:
        return ("past the end", r)
    try:
        rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
    except OSError:
        return ("unreadable", 0)
    content = os.pread(rfd, size, 0)
    os.close(rfd)
    first = next((j for j in range(off, size) if content[j]), None)
    if data:  # never past a nonzero byte; ENXIO only when none follows
        if r[0] == "err":
            return ("data", "valid" if first is None and r[1] == "ENXIO" else r)
        return ("data", "valid" if off <= r[1] <= (size if first is None else first) else r)
    if r[0] == "err":
        return ("hole", r)
    return ("hole", "valid" if off <= r[1] <= size and (r[1] == size or content[r[1]] == 0) else r)


class Side:
    def __init__(self, root):
        self.root = root
        self.fds = {}

    def path(self, n):
        return os.path.join(self.root, n)


def as_user(uid, gid, groups, fn):
    """fn() in a child running as uid, gid and the supplementary groups; its result as text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.write(w, repr(call(fn)).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return ("child", out.decode())


def as_nobody(fn):
    """fn() as uid/gid 65534, no supplementary groups."""
    return as_user(65534, 65534, [], fn)


def as_member(fn):
    """fn() as uid/gid 65533 with nobody's group (65534) as a supplementary group: a caller
    whose rights on nobody's files come through a group it is only a supplementary member of."""
    return as_user(65533, 65533, [65534], fn)


def nobody_write(path, data, off):
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # a FIFO: ENXIO, not a wait for a reader
    try:
        return os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def stat_of(path):
    x = os.stat(path)  # through symlinks
    return (stat.S_IFMT(x.st_mode), oct(stat.S_IMODE(x.st_mode)), x.st_nlink,
            0 if stat.S_ISDIR(x.st_mode) else x.st_size, x.st_uid, x.st_gid)


def draw(rng):
    """One random operation: its description and a function that runs it on a side."""
    k = min(rng.randrange(39), 36)  # the member's operations three times as often: few succeed
    sub = rng.randrange(8)
    a, b = rng.choice(NAMES), rng.choice(NAMES)
    mode = rng.choice([0o644, 0o755, 0o600, 0o4755, 0o2755, 0o000, 0o777, 0o1777, 0o2777, 0o6777,
                       0o2745, 0o4666])
    data = bytes([rng.randrange(256)]) * rng.choice([0, 1, 100, 5000, 70000, 200000])
    off = rng.choice([0, 1, 4095, 65536, 65537, 300000, 1 << 20])
    slot, slot2 = rng.randrange(3), rng.randrange(3)
    fl = rng.choice([os.O_RDONLY, os.O_WRONLY, os.O_RDWR]) | os.O_NONBLOCK | rng.choice(
        [0, os.O_CREAT, os.O_CREAT | os.O_EXCL, os.O_TRUNC, os.O_APPEND, os.O_CREAT | os.O_TRUNC,
         os.O_DIRECTORY, os.O_NOFOLLOW])
    xname = rng.choice(["user.a", "user.b", "trusted.t", "security.s", "user." + "n" * 250])
    xflags = rng.choice([0, os.XATTR_CREATE, os.XATTR_REPLACE])
    rflags = rng.choice([0, 0, 1, 2])  # RENAME_NOREPLACE 1, RENAME_EXCHANGE 2
    falloc = rng.choice([0, 1, 3, 0x10, 0x11])  # KEEP_SIZE 1, PUNCH_HOLE 2, ZERO_RANGE 0x10
    length = rng.choice([1, 4096, 65536, 100000])
    target = rng.choice(["a", "d/a", "d/../c", "e", "nonexist"])
    uid, gid = rng.choice([0, 65534, 65533, -1]), rng.choice([0, 65534, 65533, -1])
    stamp = rng.choice([UTIME_NOW, UTIME_OMIT, (7, 8), (0, 999999999)])
    stamp2 = rng.choice([UTIME_NOW, UTIME_OMIT, (9, 10)])
    nofollow = rng.choice([0, AT_SYMLINK_NOFOLLOW])
    how = rng.randrange(12)
    desc = dict(k=k, sub=sub, a=a, b=b, mode=oct(mode), data=len(data), off=off, slot=slot,
                slot2=slot2, fl=fl, xname=xname[:12], xflags=xflags, rflags=rflags,
                falloc=falloc, len=length, stamp=stamp, stamp2=stamp2, nofollow=nofollow, how=how)

    def run(s):
        P, fds = s.path, s.fds
        fd = fds.get(slot)

        def with_fd(fn):
            return call(fn) if fd is not None else ("no descriptor",)

        def reopen():
            if slot in fds:
                os.close(fds.pop(slot))
            fds[slot] = os.open(P(a), fl, mode)
            return 0

        def fstat_of():
            x = os.fstat(fd)
            return (x.st_mode, x.st_nlink, 0 if stat.S_ISDIR(x.st_mode) else x.st_size, x.st_uid,
                    x.st_gid)

        def lstat_of():
            x = os.lstat(P(a))
            return (x.st_mode, x.st_nlink, 0 if stat.S_ISDIR(x.st_mode) else x.st_size, x.st_uid,
                    x.st_gid)

        ops = {
            0: lambda: call(lambda: os.mkdir(P(a), mode)),
            1: lambda: call(lambda: os.rmdir(P(a))),
            2: lambda: call(lambda: os.unlink(P(a))),
            3: lambda: call(lambda: renameat2(P(a), P(b), rflags)),
            4: lambda: call(lambda: os.link(P(a), P(b))),
            5: lambda: call(lambda: os.symlink(target, P(a))),
            6: lambda: call(lambda: os.chmod(P(a), mode)),
            7: lambda: call(lambda: os.chown(P(a), uid, gid)),
            8: lambda: call(lambda: os.truncate(P(a), off)),
            9: lambda: call(reopen),
            10: lambda: with_fd(lambda: os.pwrite(fd, data, off)),
            11: lambda: with_fd(lambda: os.write(fd, data)),
            12: lambda: with_fd(lambda: zlib.crc32(os.pread(fd, length, off))),
            13: lambda: with_fd(lambda: os.ftruncate(fd, off)),
            14: lambda: with_fd(lambda: os.close(fds.pop(slot))),
            15: lambda: call(lambda: os.setxattr(P(a), xname, data[:100], xflags,
                                                 follow_symlinks=False)),
            16: lambda: call(lambda: zlib.crc32(os.getxattr(P(a), xname, follow_symlinks=False))),
            17: lambda: call(lambda: os.removexattr(P(a), xname, follow_symlinks=False)),
            18: lambda: with_fd(lambda: fallocate(fd, falloc, off, length)),
            19: lambda: call(lstat_of),
            20: lambda: call(lambda: os.readlink(P(a))),
            21: lambda: call(lambda: sorted(os.listdir(P(a)))),
            22: lambda: call(lambda: os.utime(P(a), None if sub < 4 else (12345, 67890),
                                              follow_symlinks=False)),
            23: lambda: as_nobody([lambda: os.close(os.open(P(a), fl, mode)),
                                   lambda: os.unlink(P(a)),
                                   lambda: renameat2(P(a), P(b), rflags),
                                   lambda: os.chmod(P(a), mode),
                                   lambda: os.utime(P(a), None if off < 4096 else (1, 2)),
                                   lambda: os.setxattr(P(a), xname, b"v", xflags),
                                   lambda: os.truncate(P(a), off),
                                   lambda: os.mkdir(P(a), mode)][sub]),
            24: lambda: with_fd(fstat_of),
            25: lambda: with_fd(lambda: os.fchmod(fd, mode)),
            26: lambda: with_fd(lambda: os.utime(fd, None if sub < 4 else (5, 6))),
            27: lambda: call(lambda: os.mkfifo(P(a), mode & 0o777)),
            28: lambda: (call(lambda: os.copy_file_range(fd, fds[slot2], length, off, 0))
                         if fd is not None and slot2 in fds else ("no descriptor",)),
            29: lambda: (seek_check(fd, off, sub < 4)
                         if fd is not None and stat.S_ISREG(os.fstat(fd).st_mode)
                         else ("not a regular file",)),
            30: lambda: as_nobody(lambda: nobody_write(P(a), data[:10] or b"x", off)),
            31: lambda: as_nobody([lambda: os.access(P(a), os.R_OK),
                                   lambda: os.access(P(a), os.W_OK),
                                   lambda: os.access(P(a), os.X_OK | os.W_OK),
                                   # never (-1, -1): see NOBODY_CHOWN
                                   lambda: os.chown(P(a), -1, gid if gid != -1 else 65534),
                                   lambda: os.chown(P(a), uid if uid != -1 else 65534, -1),
                                   lambda: os.link(P(a), P(b), follow_symlinks=False),
                                   lambda: os.symlink(target, P(a)),
                                   lambda: os.rmdir(P(a)),
                                   lambda: sorted(os.listdir(P(a))),
                                   lambda: os.removexattr(P(a), xname),
                                   lambda: utimensat(P(a), stamp, stamp2, nofollow),
                                   lambda: os.mkfifo(P(a), mode & 0o7777)][how]),
            32: lambda: call(lambda: os.mknod(P(a), stat.S_IFREG | (mode & 0o7777))),
            33: lambda: call(lambda: utimensat(P(a), stamp, stamp2, nofollow)),
            34: lambda: call([lambda: stat_of(P(a)), lambda: os.access(P(a), os.W_OK),
                              lambda: os.link(P(a), P(b), follow_symlinks=False),
                              lambda: os.chown(P(a), uid, gid, follow_symlinks=False),
                              lambda: os.mkdir(P(a) + "/" + "n" * (255 + sub % 2)),
                              lambda: os.rename(P(a), P(a) + "/sub"),
                              lambda: os.close(os.open(P(a), os.O_CREAT | os.O_DIRECTORY, mode)),
                              lambda: os.chmod(P(a), mode)][sub]),
            35: lambda: as_nobody([lambda: stat_of(P(a)),
                                   lambda: os.close(os.open(P(a), os.O_WRONLY | os.O_TRUNC |
                                                                   os.O_NONBLOCK)),
                                   lambda: os.truncate(P(a), 0),
                                   lambda: os.setxattr(P(a), "user.n", b"v"),
                                   lambda: os.getxattr(P(a), "user.a"),
                                   lambda: os.chown(P(a), 65534, 65534),
                                   lambda: renameat2(P(a), P(b), rflags),
                                   lambda: os.mkdir(P(a), mode)][sub]),
            # never chown (-1, -1): see NOBODY_CHOWN
            36: lambda: as_member([lambda: os.chown(P(a), -1, gid if gid != -1 else 65534),
                                   lambda: os.chown(P(a), uid if uid != -1 else 65533, -1),
                                   lambda: os.chmod(P(a), mode),
                                   lambda: nobody_write(P(a), data[:10] or b"x", off),
                                   lambda: os.close(os.open(P(a), fl, mode)),
                                   lambda: os.access(P(a), [os.R_OK, os.W_OK, os.X_OK][slot]),
                                   lambda: os.mkdir(P(a), mode),
                                   lambda: os.unlink(P(a)),
                                   lambda: renameat2(P(a), P(b), rflags),
                                   lambda: utimensat(P(a), stamp, stamp2, nofollow),
                                   lambda: os.setxattr(P(a), "user.m", b"v", xflags),
                                   lambda: os.truncate(P(a), off)][how]),
        }
        return ops[k]()

    return desc, run


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ref, mnt, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    A, B = Side(ref), Side(mnt)
    history = []

    def report(i, what):
        print(f"differ: seed {seed}, operation {i}: {what}")
        for h in history[-int(os.environ.get("DIFFER_HISTORY", "20")):]:
            print("   ", h)
        return 1

    for i in range(count):
        desc, run = draw(rng)
        before_a, before_b = times_before(ref), times_before(mnt)
        time.sleep(0.005)  # a clock tick, for kernels whose ext4 timestamps are coarse
        ra, rb = run(A), run(B)
        history.append((i, desc, ra))
        if ra != rb:
            return report(i, f"{desc}\n    {ref}: {ra}\n    {mnt}: {rb}")
        ta, tb = times_after(ref, before_a), times_after(mnt, before_b)
        if ta != tb:
            diff = [(x, y) for x, y in zip(ta, tb) if x != y]
            return report(i, f"{desc} -> {ra}: times moved differently "
                             f"(name, mtime moved, ctime moved): {ref}: {[x for x, _ in diff]}, "
                             f"{mnt}: {[y for _, y in diff]}")
        if i % 50 == 49 or i == count - 1:
            ta, tb = tree(ref), tree(mnt)
            if ta != tb:
                diff = next(((x, y) for x, y in zip(ta, tb) if x != y),
                            (ta[len(tb):], tb[len(ta):]))
                return report(i, f"trees differ after it: {ref}: {diff[0]}, {mnt}: {diff[1]}")
    print(f"differ: seed {seed}: {count} operations, no difference")
    return 0


sys.exit(main())

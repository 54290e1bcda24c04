/*
 * nodes.h — the FUSE daemon's node table: what the kernel remembers, and the paths behind it.
 *
 * The low-level FUSE protocol names files by node id; the filesystem core (fscore.h) works on
 * paths.  The node id of a file is its inode number (st_ino, stable for the file's life, 1 for
 * the root), so every name of a hard-linked file leads to one kernel inode.  The table maps a
 * node id to the names the kernel learned it by, as (parent node id, name) pairs; a path is
 * built by walking parents up to the root.  A file with one name (and every directory) has one
 * name here; a hard-linked file keeps each name the kernel learned, so that when one of them
 * is removed the others still lead to the file.
 *
 * Lifetime: each entry counts the lookups the kernel holds (LOOKUP, CREATE, MKNOD, MKDIR,
 * SYMLINK, LINK and READDIRPLUS replies add one, FORGET subtracts) plus one per name of a
 * child in the table (a child's path needs its parent).  At zero the entry is freed, so memory
 * follows what the kernel remembers, not the size of the store.  The root is never freed.
 *
 * Threads: every function may be called from any thread (one internal mutex).  A path is only
 * meaningful while no rename/unlink runs concurrently; the daemon orders those itself.
 */
#ifndef FS_NODES_H
#define FS_NODES_H

#include <stddef.h>
#include <stdint.h>

#define FS_NODES_ROOT 1u /* node id (and inode number) of the root directory */

typedef struct fs_nodes fs_nodes; /* opaque */

/* A new table holding only the root.  Returns 0 or -ENOMEM. */
int fs_nodes_new(fs_nodes **out);
/* Free the table and every entry; release (if not NULL) is called with each held object (see
 * fs_nodes_hold). */
void fs_nodes_free(fs_nodes *t, void (*release)(void *held));

/* The kernel learned node id under name in directory parent (which must be in the table):
 * add one lookup.  multi != 0 for a hard-linked file (the name is added to those known);
 * otherwise the name replaces any other the entry had.  Returns 0, -ENOENT if parent is
 * unknown, or -ENOMEM (then no lookup was added). */
int fs_nodes_ref(fs_nodes *t, uint64_t id, uint64_t parent, const char *name, int multi);

/* The kernel forgot n lookups of id (FORGET).  Unknown ids are ignored.  Returns the object
 * held for id (fs_nodes_hold) when this was its last lookup, for the caller to release; else
 * NULL. */
void *fs_nodes_forget(fs_nodes *t, uint64_t id, uint64_t n);

/* Keep obj with entry id until the kernel forgets id (returned by the last fs_nodes_forget) or
 * the table is freed: how an object lives exactly as long as the kernel's inode.  Returns 0,
 * -ESTALE if id is not in the table, -EBUSY if id already holds an object (obj is not kept). */
int fs_nodes_hold(fs_nodes *t, uint64_t id, void *obj);

/* Write the absolute path of id into buf (size bytes), NUL-terminated.  Returns 0, -ESTALE if
 * id is not in the table, -ENOENT if it (or a directory above it) has no name any more, or
 * -ENAMETOOLONG if the path does not fit. */
int fs_nodes_path(fs_nodes *t, uint64_t id, char *buf, size_t size);

/* The path of name in directory parent (as fs_nodes_path, plus "/" name). */
int fs_nodes_child_path(fs_nodes *t, uint64_t parent, const char *name, char *buf, size_t size);

/* The parent of directory id (the root's parent is the root); 0 if id has no name. */
uint64_t fs_nodes_parent(fs_nodes *t, uint64_t id);

/* The name `name` in directory parent was removed (unlink, rmdir): forget it. */
void fs_nodes_unname(fs_nodes *t, uint64_t parent, const char *name);

/* A rename succeeded: the name (parent, name) is now (newparent, newname); whatever had the
 * new name lost it.  exchange != 0: the two names swapped their files (RENAME_EXCHANGE).
 * Returns 0 or -ENOMEM (the table then forgets the moved name rather than keep a wrong one). */
int fs_nodes_rename(fs_nodes *t, uint64_t parent, const char *name, uint64_t newparent,
                    const char *newname, int exchange);

/* The kernel was sent contents of id that it may keep in its page cache: a READ reply, or a
 * WRITE that filled a whole page.  The mark lives as long as the entry, that is as long as the
 * kernel's inode and so its page cache.  Unknown ids are ignored. */
void fs_nodes_note_pages(fs_nodes *t, uint64_t id);

/* Whether the kernel may hold pages of id's contents (fs_nodes_note_pages since it learned
 * id); 1 for an unknown id, the cautious answer. */
int fs_nodes_may_have_pages(fs_nodes *t, uint64_t id);

/* Number of entries (root included). */
size_t fs_nodes_count(fs_nodes *t);

#endif

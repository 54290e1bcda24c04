/*
 * ghosts_model — the ghost table (fs/ghosts.c) against a model: what it keeps, what it drops
 * when full, and that an entry never answers for another inode.
 *
 *   ghosts_model SEED
 *
 * Inodes are put in increasing order (a node loses its last name once); a random half of them
 * are "forgotten by the kernel" (the known() callback says so).  When the table fills, every
 * forgotten entry must go and, if more than half of the table is still held, the oldest of
 * those.  Every get is checked against the model: present with its own attributes, or -ENOENT.
 */
#include "../../fs/ghosts.c"

#include <stdio.h>

#define N (FS_GHOSTS_MAX * 6)

struct model {
    unsigned char forgotten[N + 1]; /* known() answers no */
    unsigned char present[N + 1];   /* what the table must hold: 1, or 2 once its mode changed */
};

static int known(void *arg, uint64_t ino)
{
    const struct model *m = arg;
    return ino <= N && !m->forgotten[ino];
}

/* What fs_ghosts_put must do to the model when the table is full. */
static void model_sweep(struct model *m, uint64_t upto)
{
    size_t kept = 0;
    for (uint64_t i = 1; i < upto; i++) {
        if (m->present[i] && m->forgotten[i])
            m->present[i] = 0;
        kept += m->present[i] != 0;
    }
    for (uint64_t i = 1; i < upto && kept > FS_GHOSTS_MAX / 2; i++)
        if (m->present[i]) {
            m->present[i] = 0;
            kept--;
        }
}

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    srand(seed);
    static struct model m;
    fs_ghosts *g;
    if (fs_ghosts_new(&g) != 0)
        return 1;
    size_t in_table = 0, bad = 0;
    for (uint64_t ino = 1; ino <= N; ino++) {
        if (in_table == FS_GHOSTS_MAX) {
            model_sweep(&m, ino);
            in_table = 0;
            for (uint64_t i = 1; i < ino; i++)
                in_table += m.present[i] != 0;
        }
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = ino;
        st.st_mode = S_IFDIR | (ino & 0777);
        fs_ghosts_put(g, &st, known, &m);
        m.present[ino] = 1;
        in_table++;
        /* the kernel forgets some nodes at once, keeps others for a while */
        if (rand() % 2)
            m.forgotten[ino] = 1;
        /* and a random earlier one changes mode (fchmod of a removed directory) */
        uint64_t j = 1 + (uint64_t)rand() % ino;
        st.st_ino = j;
        st.st_mode = S_IFDIR | 0700;
        int r = fs_ghosts_set(g, j, &st);
        if ((r == 0) != (m.present[j] != 0)) {
            if (bad < 10)
                fprintf(stderr, "ghosts_model: set of inode %llu after put %llu: %d, model %d\n", (unsigned long long)j, (unsigned long long)ino, r, m.present[j]);
            bad++;
        }
        if (r == 0)
            m.present[j] = 2;
    }
    for (uint64_t ino = 1; ino <= N; ino++) {
        struct stat st;
        int r = fs_ghosts_get(g, ino, &st);
        mode_t want = m.present[ino] == 2 ? (S_IFDIR | 0700) : (S_IFDIR | (ino & 0777));
        if ((r == 0) != (m.present[ino] != 0) || (r == 0 && ((uint64_t)st.st_ino != ino || st.st_mode != want))) {
            if (bad < 10)
                fprintf(stderr, "ghosts_model: inode %llu: get %d, model %d\n", (unsigned long long)ino, r, m.present[ino]);
            bad++;
        }
    }
    fs_ghosts_free(g);
    printf("ghosts_model: %d puts, seed %u: %s\n", N, seed, bad ? "FAIL" : "ok");
    return bad ? 1 : 0;
}

/*
 * manyfiles — create or unlink a numbered range of empty files quickly (no process per file).
 *
 * usage: manyfiles create|unlink DIR PREFIX FROM TO
 *   names are PREFIX followed by the number zero-padded to 6 digits, for FROM <= n < TO.
 *   create uses O_CREAT|O_EXCL (an existing name is an error); unlink requires the name to
 *   exist.  Exit 0 if every operation succeeded, else 1 after the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "create") && strcmp(argv[1], "unlink"))) {
        fprintf(stderr, "usage: manyfiles create|unlink DIR PREFIX FROM TO\n");
        return 2;
    }
    int create = !strcmp(argv[1], "create");
    long from = atol(argv[4]), to = atol(argv[5]);
    char path[4096];
    for (long i = from; i < to; i++) {
        snprintf(path, sizeof path, "%s/%s%06ld", argv[2], argv[3], i);
        if (create) {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0 || close(fd) != 0) { fprintf(stderr, "manyfiles: create %s: %s\n", path, strerror(errno)); return 1; }
        } else if (unlink(path) != 0) {
            fprintf(stderr, "manyfiles: unlink %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    return 0;
}

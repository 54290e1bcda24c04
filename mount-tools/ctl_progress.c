/*
 * ctl_progress.c — a one-line progress bar on stderr, drawn only on a terminal.
 *
 * Scripts and pipes see nothing (stderr not a tty, or --json), so output stays parseable.
 * Redraws are throttled to about ten a second so a tight loop calling update costs little.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ctl_progress_init(ctl_progress *p, const char *label, int enable)
{
    p->enabled = enable && isatty(STDERR_FILENO);
    p->label = label;
    p->last_draw = 0;
    p->drawn = 0;
}

void ctl_progress_update(ctl_progress *p, uint64_t done, uint64_t total)
{
    if (!p->enabled)
        return;
    double now = progress_now();
    int final = total > 0 && done >= total;
    if (!final && now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    p->drawn = 1;
    if (total == 0) {
        fprintf(stderr, "\r%s: %llu\033[K", p->label, (unsigned long long)done);
    } else {
        enum { WIDTH = 30 };
        if (done > total)
            done = total;
        int fill = (int)((double)done / (double)total * WIDTH);
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%% (%llu/%llu)\033[K", p->label, bar,
                (int)((double)done * 100.0 / (double)total), (unsigned long long)done,
                (unsigned long long)total);
    }
    fflush(stderr);
}

void ctl_progress_finish(ctl_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}

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
    p->bytes = 0;
}

/* n as "123", or for byte amounts "12.3 MiB". */
static void progress_fmt(char *buf, size_t len, uint64_t n, int bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (!bytes) {
        snprintf(buf, len, "%llu", (unsigned long long)n);
        return;
    }
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
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
    char d[32], t[32];
    progress_fmt(d, sizeof(d), done, p->bytes);
    progress_fmt(t, sizeof(t), total, p->bytes);
    if (total == 0) {
        fprintf(stderr, "\r%s: %s\033[K", p->label, d);
    } else {
        enum { WIDTH = 30 };
        if (done > total)
            done = total;
        int fill = (int)((double)done / (double)total * WIDTH);
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%% (%s / %s)\033[K", p->label, bar,
                (int)((double)done * 100.0 / (double)total), d, t);
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

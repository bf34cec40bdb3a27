#include "common/timer.h"

#include <time.h>
#include <unistd.h>

double rd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rd_progress_init(rd_progress *p, FILE *out, const char *what, long total) {
    p->out = out;
    p->enabled = out && isatty(fileno(out));
    p->total = total;
    p->start = p->last = rd_now();
    p->what = what;
}

void rd_progress_update(rd_progress *p, long done) {
    if (!p->enabled) return;
    double now = rd_now();
    if (now - p->last < 0.1 && done < p->total) return;
    p->last = now;
    double el = now - p->start;
    double rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(p->out, "\r%s %ld/%ld (%.0f%%) %.1f/s eta %.0fs   ", p->what, done,
            p->total, p->total ? 100.0 * (double)done / (double)p->total : 100.0,
            rate, eta);
    fflush(p->out);
}

void rd_progress_finish(rd_progress *p, long done) {
    if (!p->enabled) return;
    p->last = 0;
    rd_progress_update(p, done);
    fputc('\n', p->out);
}

/* common/timer.h - wall-clock time and a stderr progress line. */
#ifndef RD_TIMER_H
#define RD_TIMER_H

#include <stdio.h>

/* Seconds from an arbitrary fixed point (monotonic clock). */
double rd_now(void);

/* Progress on a terminal: "decoding 120/1000 (12%) 3.1 utt/s eta 4m" redrawn
 * at most 10 times a second; does nothing when the stream is not a tty. */
typedef struct rd_progress {
    FILE *out;
    int enabled;
    long total;
    double start, last;
    const char *what;
} rd_progress;

void rd_progress_init(rd_progress *p, FILE *out, const char *what, long total);
void rd_progress_update(rd_progress *p, long done);
void rd_progress_finish(rd_progress *p, long done);

#endif

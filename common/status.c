#include "common/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rd_strerror(rd_status s) {
    switch (s) {
    case RD_OK: return "ok";
    case RD_ERR_INPUT: return "bad input";
    case RD_ERR_IO: return "i/o error";
    case RD_ERR_USAGE: return "usage error";
    case RD_ERR_NOMEM: return "out of memory";
    case RD_ERR_DEVICE: return "device error";
    case RD_ERR_INTERNAL: return "internal error";
    case RD_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

int rd_exit_code(rd_status s) {
    switch (s) {
    case RD_OK: return 0;
    case RD_ERR_INPUT:
    case RD_ERR_IO: return 1;
    case RD_ERR_USAGE: return 2;
    case RD_ERR_INTERRUPTED: return 130;
    case RD_ERR_NOMEM:
    case RD_ERR_DEVICE:
    case RD_ERR_INTERNAL: return 3;
    }
    return 3;
}

rd_status rd_fail(rd_error *err, rd_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = st;
    }
    return st;
}

rd_status rd_vfail_at(rd_error *err, rd_status st, const char *file, long line, const char *fmt, va_list ap) {
    if (!err) return st;
    char msg[RD_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line > 0) return rd_fail(err, st, "%s:%ld: %s", file, line, msg);
    return rd_fail(err, st, "%s: %s", file, msg);
}

rd_status rd_fail_at(rd_error *err, rd_status st, const char *file, long line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rd_status r = rd_vfail_at(err, st, file, line, fmt, ap);
    va_end(ap);
    return r;
}

void rd_error_clear(rd_error *err) {
    if (!err) return;
    err->status = RD_OK;
    err->msg[0] = '\0';
}

void rd_error_prefix(rd_error *err, const char *prefix) {
    if (!err || !prefix) return;
    char tmp[RD_ERROR_MSG_MAX];
    snprintf(tmp, sizeof tmp, "%s: %s", prefix, err->msg);
    memcpy(err->msg, tmp, sizeof tmp);
}

/* common/safe_write.c - see safe_write.h. */
#include "common/safe_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* True for what is written through instead of replaced: FIFOs, devices, sockets. */
static int is_special(mode_t m) { return S_ISFIFO(m) || S_ISCHR(m) || S_ISBLK(m) || S_ISSOCK(m); }

static void out_free(rd_out *o) {
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    o->f = NULL;
}

/* dir/.base.XXXXXX for path "dir/base" (or ".base.XXXXXX"). */
static char *temp_template(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dlen;
    size_t n = dlen + 1 + strlen(base) + 8 + 1;
    char *t = malloc(n);
    if (t) snprintf(t, n, "%.*s.%s.XXXXXX", (int)dlen, path, base);
    return t;
}

rd_status rd_out_open(rd_out *o, const char *path, rd_error *err) {
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        o->is_stdout = 1;
        return RD_OK;
    }
    o->path = strdup(path);
    if (!o->path) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        out_free(o);
        return rd_fail(err, RD_ERR_IO, "%s: cannot write: is a directory", path);
    }
    if (exists && is_special(st.st_mode)) {
        int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
            int e = errno;
            if (fd >= 0) close(fd);
            out_free(o);
            return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(e));
        }
        return RD_OK;
    }
    o->tmp = temp_template(path);
    if (!o->tmp) {
        out_free(o);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    }
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rd_fail(err, RD_ERR_IO, "%s: cannot create: %s", path, strerror(e));
        out_free(o);
        return RD_ERR_IO;
    }
    /* mkstemp makes 0600; give the file what a plain create would (or OUT's mode) */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, exists && S_ISREG(st.st_mode) ? st.st_mode & 07777 : 0666 & ~um);
    if (!(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        out_free(o);
        return rd_fail(err, RD_ERR_NOMEM, "%s: %s", path, strerror(e));
    }
    return RD_OK;
}

void rd_out_abort(rd_out *o) {
    if (o->f && !o->is_stdout) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    out_free(o);
}

rd_status rd_out_commit(rd_out *o, rd_error *err) {
    const char *name = o->is_stdout ? "stdout" : o->path;
    int bad = fflush(o->f) != 0 || ferror(o->f);
    int e = errno;
    if (!bad && o->tmp && fsync(fileno(o->f)) != 0) bad = 1, e = errno;
    if (!o->is_stdout && fclose(o->f) != 0 && !bad) bad = 1, e = errno;
    o->f = NULL;
    rd_status st = RD_OK;
    if (bad) {
        st = rd_fail(err, RD_ERR_IO, "%s: write error: %s", name, strerror(e ? e : EIO));
    } else if (o->tmp) {
        /* rename replaces a regular file or a symlink; never a FIFO or a device planted since open */
        struct stat s;
        if (lstat(o->path, &s) == 0 && (is_special(s.st_mode) || S_ISDIR(s.st_mode)))
            st = rd_fail(err, RD_ERR_IO, "%s: not replaced: it is no longer a regular file", o->path);
        else if (rename(o->tmp, o->path) != 0)
            st = rd_fail(err, RD_ERR_IO, "%s: cannot rename %s over it: %s", o->path, o->tmp, strerror(errno));
        else {
            free(o->tmp);
            o->tmp = NULL;
        }
    }
    if (o->tmp) unlink(o->tmp);
    out_free(o);
    return st;
}

rd_status rd_write_file(const char *path, const void *data, size_t n, rd_error *err) {
    rd_out o;
    RD_TRY(rd_out_open(&o, path, err));
    if (n && fwrite(data, 1, n, o.f) != n) {
        int e = errno;
        rd_out_abort(&o);
        return rd_fail(err, RD_ERR_IO, "%s: write error: %s", path, strerror(e));
    }
    return rd_out_commit(&o, err);
}

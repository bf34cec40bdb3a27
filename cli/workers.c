/* cli/workers.c - rwkv-decode's batch: the worker threads, the ring of
 * results in flight, the printer and the signal thread.
 *
 * Each worker takes the next utterance (or a --session-carry run of them),
 * decodes it with its own decoders and formats its output into its slot of
 * the ring; the main thread prints the slots in input order as they finish.
 * SIGINT/SIGTERM are taken by a thread of their own, which stops the batch:
 * what is finished is written, and the run says how far it got. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/decode_app.h"
#include "cli/workers.h"
#include "common/npy.h"
#include "common/status.h"
#include "common/timer.h"
#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/rwkv_group.h"

typedef struct worker {
    app *a;
    rwkv_group *group;   /* --batch > 1: the thread's group, whose members take turns */
    dec_decoder **dec;   /* one per model context, created on first use */
    lm_cache *rescore;   /* --rescore's states, created on first use */
} worker;

/* The utterance's lines in the --format's writer (cli/output.c). */
void format_result(const app *a, const item *it, const dec_decoder *d, int64_t T, FILE *f) {
    out_utt u = {it->id, d, T, a->o.nbest_out, !a->single, a->o.frame_shift, a->o.confidence, a->o.token_times,
                 a->rescore != NULL, it->ctx >= 0 ? a->ctx[it->ctx].units : NULL};
    a->o.format->write(&u, f);
}

static rd_status load_emissions(const app *a, const item *it, rd_npy *x, float **data, int64_t *T,
                                rd_error *err) {
    const rd_npy *b = &a->batch3d;
    if (it->row == ROW_LOADED) {
        if (b->ndim != 2)
            return rd_fail(err, RD_ERR_INPUT, "%s: expected a 2-D [T,V] array, found %d dimension%s", it->path,
                           b->ndim, b->ndim == 1 ? "" : "s");
        *T = b->shape[0];
        *data = b->data;
        return RD_OK;
    }
    if (it->row >= 0) {
        *T = it->length;
        *data = b->data + (int64_t)it->row * b->shape[1] * b->shape[2];
        return RD_OK;
    }
    RD_TRY(rd_matrix_read(it->path, x, err));
    if (x->ndim != 2) {
        return rd_fail(err, RD_ERR_INPUT, "%s: expected a 2-D [T,V] array, found %d dimension%s%s", it->path,
                       x->ndim, x->ndim == 1 ? "" : "s",
                       x->ndim == 3 ? " (3-D arrays go with --logits and --lengths)" : "");
    }
    *T = x->shape[0];
    *data = x->data;
    return RD_OK;
}

/* One stderr line per LM (each part of a mix, and the rescoring model),
 * once: the model and the size of each thread's state cache for it. */
static void report_lm(app *a, const dec_decoder *d, const lm_cache *rescore) {
    const lm_cache *c = dec_lm_cache(d);
    if ((!c && !rescore) || a->o.quiet) return;
    pthread_mutex_lock(&a->mu);
    if (!a->lm_reported) {
        char each[64] = "thread";
        if (a->o.batch > 1) snprintf(each, sizeof each, "utterance decoded at once (up to %d a thread)", a->o.batch);
        for (int i = 0; c && i < lm_part_count(a->lm); i++) {
            const lm_cache *pc = lm_cache_part(c, i);
            size_t per;
            int n;
            size_t total = lm_cache_bytes(pc, &per, &n);
            fprintf(stderr, PROG ": LM %s; state cache per %s: %d states x %zu bytes = %.1f MB (%d hypothesis "
                    "slots)\n", lm_describe(lm_part(a->lm, i)), each, n, per, (double)total / 1e6, lm_cache_slots(pc));
        }
        if (rescore) {
            size_t per;
            int n;
            size_t total = lm_cache_bytes(rescore, &per, &n);
            fprintf(stderr, PROG ": rescoring LM %s; state cache per %s: %d states x %zu bytes = %.1f MB\n",
                    lm_describe(a->rescore), each, n, per, (double)total / 1e6);
        }
        a->lm_reported = 1;
    }
    pthread_mutex_unlock(&a->mu);
}

/* --rescore: the n-best list re-ranked by the rescoring model; *cache (2
 * slots per hypothesis) is created on first use and kept by the caller. */
rd_status rescore_nbest(const app *a, dec_decoder *d, lm_cache **cache, rd_error *err) {
    if (!a->rescore) return RD_OK;
    if (!*cache) RD_TRY(lm_cache_create(a->rescore, 2 * a->o.dec.nbest, cache, err));
    return dec_rescore(d, *cache, a->o.rescore_weight, a->o.rescore_word_score, err);
}

static rd_status decode_item(worker *w, const item *it, int carry, FILE *out, int64_t *frames, rd_error *err) {
    app *a = w->a;
    if (it->ctx < 0) {
        char tok[4096];
        if (access(it->path, F_OK) != 0) /* the file itself is missing: say so, not "no tokens" */
            return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", it->path, strerror(errno));
        tokens_for(a, it->path, tok, sizeof tok);
        return rd_fail(err, RD_ERR_INPUT, "%s: no tokens file: give --tokens (looked for %s)", it->path, tok);
    }
    const model_ctx *c = &a->ctx[it->ctx];
    rd_npy x = {0};
    float *data = NULL;
    int64_t T = 0;
    rd_status st = load_emissions(a, it, &x, &data, &T, err);
    int64_t V = it->row >= 0 ? a->batch3d.shape[2] : it->row == ROW_LOADED ? a->batch3d.shape[1] : x.shape[1];
    if (st == RD_OK && T == 0) st = rd_fail(err, RD_ERR_INPUT, "%s: no frames (T = 0)", it->path);
    if (st == RD_OK && V != lex_units_count(c->units))
        st = rd_fail(err, RD_ERR_INPUT, "%s: has %lld units a frame but %s lists %d", it->path, (long long)V,
                     c->tokens_path, lex_units_count(c->units));
    if (st == RD_OK && T > 100000000) st = rd_fail(err, RD_ERR_INPUT, "%s: too many frames (%lld)", it->path, (long long)T);
    float *copy = NULL;
    if (st == RD_OK && it->row >= 0) {
        /* rows of a shared 3-D array are converted in a private copy */
        copy = malloc((size_t)(T * V) * sizeof *copy);
        if (!copy) st = rd_fail(err, RD_ERR_NOMEM, "out of memory for %lld frames", (long long)T);
        else memcpy(copy, data, (size_t)(T * V) * sizeof *copy), data = copy;
    }
    if (st == RD_OK) st = dec_emissions_to_logprobs(data, T, V, a->o.input, it->path, NULL, err);
    if (st == RD_OK && !w->dec[it->ctx]) {
        st = dec_create(&a->o.dec, c->units, c->lex, a->lm, &w->dec[it->ctx], err);
    }
    if (st == RD_OK) st = dec_set_boost(w->dec[it->ctx], it->hot >= 0 ? a->hot[it->hot].g : a->boost, err);
    if (st == RD_OK) st = dec_decode_ex(w->dec[it->ctx], data, (int)T, carry, err);
    if (st == RD_OK) st = rescore_nbest(a, w->dec[it->ctx], &w->rescore, err);
    if (st == RD_OK) report_lm(a, w->dec[it->ctx], w->rescore);
    if (st == RD_OK) {
        format_result(a, it, w->dec[it->ctx], T, out);
        *frames = T;
    } else if (err->msg[0] && !strstr(err->msg, it->path)) {
        rd_error_prefix(err, it->path);
    }
    free(copy);
    rd_npy_free(&x);
    return st;
}

/* Length of the session part of an id ('session/utt'), 0 when it has none. */
static size_t session_len(const char *id) {
    const char *slash = strrchr(id, '/');
    return slash ? (size_t)(slash - id) : 0;
}

static int same_session(const item *x, const item *y) {
    size_t n = session_len(x->id);
    return n && n == session_len(y->id) && memcmp(x->id, y->id, n) == 0 && x->ctx == y->ctx;
}

/* Under a->mu: the next utterance (files and rows from a->items, else the
 * list's next kept line): 1, 0 when none is left, -1 when the list failed. */
static int next_item(app *a, item *it, rd_error *err) {
    if (a->has_pending) {
        *it = a->pending;
        a->has_pending = 0;
        return 1;
    }
    if (!a->listed) {
        if (a->src >= a->n_items) return 0;
        *it = a->items[a->src++];
        return 1;
    }
    return list_take(a, it, err);
}

/* Under a->mu: the utterance next_item gives next, read ahead; NULL at the
 * end or when the list failed (*failed). */
static const item *peek_item(app *a, int *failed, rd_error *err) {
    if (!a->has_pending) {
        int r = next_item(a, &a->pending, err);
        if (r < 0) *failed = 1;
        if (r <= 0) return NULL;
        a->has_pending = 1;
    }
    return &a->pending;
}

/* Under a->mu: utterance a->next into its slot (the ring grows when a
 * session run fills it); *i its index. */
static rd_status take_slot(app *a, long *i, rd_error *err) {
    if (a->next - a->base == a->ring_cap) {
        long nc = 2 * a->ring_cap;
        slot *nr = calloc((size_t)nc, sizeof *nr);
        if (!nr) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %ld utterances in flight", nc);
        for (long j = a->base; j < a->next; j++) nr[j % nc] = *slot_of(a, j);
        free(a->ring);
        a->ring = nr;
        a->ring_cap = nc;
    }
    item it;
    int r = next_item(a, &it, err);
    if (r == 0) return rd_fail(err, RD_ERR_IO, "%s: the list changed while it was decoded", a->list_name);
    if (r < 0) return err->status;
    slot *s = slot_of(a, a->next);
    memset(s, 0, sizeof *s);
    s->it = it;
    s->owned = a->listed;
    *i = a->next++;
    return RD_OK;
}

/* Takes the next item, or with --session-carry the next run of items of one
 * session (decoded in order by this worker, each continuing the last). At
 * most a->window utterances are taken beyond the first one not printed (a
 * session run may pass it), so memory does not grow with a list's length. */
static void *worker_main(void *arg) {
    worker *w = arg;
    app *a = w->a;
    long i = 0, end = 0, start = 0;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        if (i >= end) {
            while (!a->stop && a->next < a->n_items && a->next - a->base >= a->window)
                pthread_cond_wait(&a->cv, &a->mu);
            if (a->stop || a->next >= a->n_items) {
                pthread_mutex_unlock(&a->mu);
                break;
            }
            rd_error e;
            rd_error_clear(&e);
            rd_status st = take_slot(a, &i, &e);
            start = i;
            while (st == RD_OK && a->o.session_carry && a->next < a->n_items) {
                int failed = 0;
                long j;
                const item *nx = peek_item(a, &failed, &e);
                if (failed) st = e.status;
                if (!nx || !same_session(&slot_of(a, a->next - 1)->it, nx)) break;
                st = take_slot(a, &j, &e);
            }
            if (st != RD_OK) { /* reading the list failed: the printer reports it */
                if (!a->fatal) a->fatal = st, a->fatal_msg = strdup(e.msg);
                a->stop = 1;
                pthread_cond_broadcast(&a->cv);
                pthread_mutex_unlock(&a->mu);
                break;
            }
            end = a->next;
        } else if (a->stop) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        item it = slot_of(a, i)->it; /* the ring may move; the strings do not */
        pthread_mutex_unlock(&a->mu);
        int carry = a->o.session_carry && i > start; /* the previous item of the run was decoded here */
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        rd_error e;  /* on this stack: a result keeps only a failure's message */
        rd_error_clear(&e);
        int64_t frames = 0;
        rd_status st = f ? RD_OK : rd_fail(&e, RD_ERR_NOMEM, "out of memory for output");
        /* its turn in the group for the decode only: a member blocked on
         * a->mu or a->cv with the turn would stop the group */
        if (st == RD_OK && w->group) st = rwkv_group_enter(w->group, &e);
        if (st == RD_OK) {
            st = decode_item(w, &it, carry, f, &frames, &e);
            if (w->group) rwkv_group_leave();
        }
        if (f) fclose(f);
        char *msg = st == RD_OK ? NULL : strdup(e.msg);
        pthread_mutex_lock(&a->mu);
        result *r = &slot_of(a, i)->r;
        if (st == RD_OK) {
            r->out = buf;
            r->out_len = len;
            r->frames = frames;
        } else {
            free(buf);
            r->msg = msg;
            r->status = st;
        }
        r->done = 1;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        i++;
    }
    return NULL;
}

/* Notes a failed write to stdout (the stream is checked after each line). */
void check_stdout(app *a) {
    errno = 0;
    if (!a->out_errno && (fflush(stdout) != 0 || ferror(stdout))) a->out_errno = errno ? errno : EIO;
}

/* A failed utterance on stderr: its id first unless the message has it. */
static void report_failure(const app *a, const char *id, const result *r) {
    const char *msg = r->msg ? r->msg : rd_strerror(r->status);
    if (a->single || strstr(msg, id)) fprintf(stderr, PROG ": %s\n", msg);
    else fprintf(stderr, PROG ": %s: %s\n", id, msg);
}

/* After SIGINT/SIGTERM: writes every finished utterance from i on (input
 * order, unfinished ones left out), says how far the batch got, and returns
 * 128 + the signal. Workers still decoding are abandoned (main _exits). */
static int interrupted(app *a, long i, long ok, long failed, rd_progress *prog) {
    pthread_mutex_lock(&a->mu);
    int sig = a->interrupted;
    long unfinished = 0;
    const char *first = NULL;
    for (long j = i; j < a->n_items; j++) {
        if (j >= a->next) { /* not taken yet */
            int bad = 0;
            const item *p = first ? NULL : peek_item(a, &bad, &(rd_error){0});
            if (p) first = p->id;
            unfinished += a->n_items - j;
            break;
        }
        slot *s = slot_of(a, j);
        result *r = &s->r;
        if (!r->done) {
            if (!first) first = s->it.id;
            unfinished++;
        } else if (r->status == RD_OK) {
            if (!a->out_errno && !(a->out_errno = cli_write_stdout(r->out, r->out_len))) ok++;
        } else {
            failed++;
            report_failure(a, s->it.id, r);
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (a->out_errno) fprintf(stderr, PROG ": writing stdout: %s\n", strerror(a->out_errno));
    rd_progress_finish(prog, ok + failed);
    fprintf(stderr, PROG ": interrupted by %s: %ld of %ld utterances written, %ld failed, %ld not finished%s%s%s\n",
            sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal", ok, a->n_items, failed, unfinished,
            first ? " (first: " : "", first ? first : "", first ? "); go on with --resume" : "");
    fflush(stderr);
    return 128 + sig;
}

/* Prints results in input order as they complete; returns the exit code. */
static int print_in_order(app *a, double t0) {
    long ok = 0, failed = 0;
    int64_t frames = 0;
    rd_status first_bad = RD_OK;
    rd_progress prog;
    rd_progress_init(&prog, stderr, "decoding", a->n_items);
    if (a->single) prog.enabled = 0;
    for (long i = 0; i < a->n_items; i++) {
        pthread_mutex_lock(&a->mu);
        while (!(i < a->next && slot_of(a, i)->r.done) && !a->interrupted && !a->fatal)
            pthread_cond_wait(&a->cv, &a->mu);
        int sig = a->interrupted, ready = i < a->next && slot_of(a, i)->r.done;
        slot sl;
        if (ready) sl = *slot_of(a, i); /* the ring may move while this one is written */
        pthread_mutex_unlock(&a->mu);
        if (sig) return interrupted(a, i, ok, failed, &prog);
        if (!ready) { /* a->fatal: the list could not be read on */
            rd_progress_finish(&prog, ok + failed);
            fprintf(stderr, PROG ": %s\n", a->fatal_msg ? a->fatal_msg : rd_strerror(a->fatal));
            return rd_exit_code(a->fatal);
        }
        result *r = &sl.r;
        if (r->status == RD_OK) {
            /* a line counts once it is out: written and flushed */
            if ((a->out_errno = cli_write_stdout(r->out, r->out_len)) != 0) {
                fprintf(stderr, PROG ": writing stdout: %s\n", strerror(a->out_errno));
                pthread_mutex_lock(&a->mu);
                a->stop = 1;
                pthread_mutex_unlock(&a->mu);
                break;
            }
            ok++;
            frames += r->frames;
        } else {
            failed++;
            if (first_bad == RD_OK) first_bad = r->status;
            report_failure(a, sl.it.id, r);
            if (a->o.keep_going && a->o.json) { /* a line per utterance, failed ones too */
                fputs("{\"utt\":", stdout);
                cli_json_string(stdout, sl.it.id);
                fputs(",\"error\":", stdout);
                cli_json_string(stdout, r->msg ? r->msg : rd_strerror(r->status));
                fputs("}\n", stdout);
                check_stdout(a);
            }
            if (!a->o.keep_going || a->out_errno) {
                if (a->out_errno) fprintf(stderr, PROG ": writing stdout: %s\n", strerror(a->out_errno));
                pthread_mutex_lock(&a->mu);
                a->stop = 1;
                pthread_mutex_unlock(&a->mu);
                break;
            }
        }
        pthread_mutex_lock(&a->mu); /* printed: its slot is free */
        slot *s = slot_of(a, i);
        free(s->r.out);
        free(s->r.msg);
        if (s->owned) free(s->it.id);
        memset(s, 0, sizeof *s);
        a->base = i + 1;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        rd_progress_update(&prog, i + 1);
    }
    rd_progress_finish(&prog, ok + failed);
    double el = rd_now() - t0;
    if (!a->o.quiet && !a->single)
        fprintf(stderr, PROG ": decoded %ld utterance%s (%ld failed), %lld frames in %.3f s (%.0f frames/s)\n", ok,
                ok == 1 ? "" : "s", failed, (long long)frames, el, el > 0 ? (double)frames / el : 0.0);
    if (a->out_errno) return 3;
    if (failed && !a->o.keep_going) return rd_exit_code(first_bad);
    return failed ? 1 : 0;
}

/* Waits for SIGINT/SIGTERM (blocked in every other thread) and stops the
 * batch: the printer then writes what is finished. */
static void *signal_main(void *arg) {
    app *a = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    if (sigwait(&set, &sig) != 0) return NULL;
    pthread_mutex_lock(&a->mu);
    a->interrupted = sig;
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Decodes every utterance of a with a->o.threads x a->o.batch workers (the
 * members of a thread's group take turns on its core), printing the results
 * in input order; *code is the exit code. Fails (err) only when the ring,
 * the groups or the threads cannot be set up. After SIGINT/SIGTERM it does
 * not return: the process _exits with 128 + the signal. */
rd_status run_batch(app *a, int *code, rd_error *err) {
    long items = a->n_items ? a->n_items : 1, per = a->o.batch > 1 ? a->o.batch : 1;
    /* nt workers in ng groups (worker i in group i % ng), no more than items */
    int nt = (long)a->o.threads * per < items ? (int)(a->o.threads * per) : (int)items;
    int ng = per > 1 ? (a->o.threads < nt ? a->o.threads : nt) : 0;
    a->window = nt > 16 ? 64L * nt : 1024;
    a->ring_cap = a->window;
    a->ring = calloc((size_t)a->ring_cap, sizeof *a->ring);
    if (!a->ring || (a->listed && bl_rewind(&a->list, err) != RD_OK)) {
        if (!a->ring) rd_fail(err, RD_ERR_NOMEM, "out of memory for %ld results", a->ring_cap);
        return err->status;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    worker *w = calloc((size_t)nt, sizeof *w);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    rwkv_group **groups = calloc((size_t)(ng ? ng : 1), sizeof *groups);
    if (!w || !th || !groups) {
        rd_fail(err, RD_ERR_NOMEM, "out of memory for %d threads", nt);
        return err->status;
    }
    for (int g = 0; g < ng; g++) RD_TRY(rwkv_group_create((nt - g + ng - 1) / ng, &groups[g], err));
    /* from here SIGINT/SIGTERM are taken by signal_main (threads inherit the mask) */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_t sig_th;
    if (!a->single && pthread_sigmask(SIG_BLOCK, &sigs, NULL) == 0 &&
        pthread_create(&sig_th, NULL, signal_main, a) == 0)
        pthread_detach(sig_th);
    double t0 = rd_now();
    /* a worker that cannot start leaves the run to those that did (once one
     * runs, returning would free what it uses) */
    for (int i = 0; i < nt; i++) {
        w[i].a = a;
        w[i].group = ng ? groups[i % ng] : NULL;
        w[i].dec = calloc((size_t)(a->n_ctx ? a->n_ctx : 1), sizeof *w[i].dec);
        int rc = w[i].dec ? pthread_create(&th[i], NULL, worker_main, &w[i]) : ENOMEM;
        if (rc == 0) continue;
        free(w[i].dec);
        if (i == 0) {
            rd_fail(err, RD_ERR_NOMEM, "cannot start a worker thread: %s", strerror(rc));
            return err->status;
        }
        fprintf(stderr, PROG ": started %d of %d worker threads (%s); decoding with those\n", i, nt, strerror(rc));
        nt = i;
    }
    *code = print_in_order(a, t0);
    if (a->interrupted) _exit(*code);  /* workers may be mid-utterance */
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        for (int c = 0; c < a->n_ctx; c++) dec_free(w[i].dec[c]);
        lm_cache_free(w[i].rescore);
        free(w[i].dec);
    }
    long long calls = 0, batches = 0, rows = 0;
    for (int g = 0; g < ng; g++) {
        long long c, b, r;
        rwkv_group_counts(groups[g], &c, &b, &r);
        calls += c, batches += b, rows += r;
        rwkv_group_free(groups[g]);
    }
    if (ng && !a->o.quiet && !a->single && calls)
        fprintf(stderr, PROG ": --batch %d: %lld RWKV forward calls ran as %lld batches of %.1f rows on average\n",
                a->o.batch, calls, batches, batches ? (double)rows / (double)batches : 0.0);
    free(groups);
    free(w);
    free(th);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    return RD_OK;
}

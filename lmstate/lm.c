/* lmstate/lm.c - lm.h over a model kind's lm_ops: loading by content, and
 * argument checks before every call reaches the model. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/arena.h"
#include "common/compress.h"
#include "common/text.h"
#include "lmstate/lm_impl.h"

enum { LM_ARPA, LM_RWKV };

/* Describes the start of a file that is no model we read, for the message. */
static void describe_start(const unsigned char *b, size_t n, char *out, size_t cap) {
    if (n == 0) {
        snprintf(out, cap, "an empty file");
        return;
    }
    if (n >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) {
        snprintf(out, cap, "a NumPy .npy array (emissions?)");
        return;
    }
    size_t line = 0;
    while (line < n && line < 60 && b[line] != '\n' && b[line] != '\r') line++;
    int text = rd_utf8_valid((const char *)b, line) && !memchr(b, '\0', line);
    for (size_t i = 0; text && i < line; i++) text = b[i] >= 0x20 || b[i] == '\t';
    if (text) snprintf(out, cap, "text starting '%.*s'", (int)line, (const char *)b);
    else snprintf(out, cap, "binary data starting %02x %02x %02x %02x", b[0], n > 1 ? b[1] : 0, n > 2 ? b[2] : 0,
                  n > 3 ? b[3] : 0);
}

/* Decides the kind of model by the file's first bytes: ARPA text ("\data\"
 * after an optional BOM and whitespace, or gzip/xz/bzip2 data), an RWKV
 * tensor file (rwkv.cpp .bin, PyTorch zip, safetensors); anything else is
 * refused, saying what the file looks like. */
static rd_status lm_kind(const char *path, int *kind, rd_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return rd_fail(err, RD_ERR_IO, "%s: is a directory, not a file", path);
    }
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t i = n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* a UTF-8 BOM */
    while (i < n && (buf[i] == ' ' || (buf[i] >= '\t' && buf[i] <= '\r'))) i++;
    if ((n - i >= 6 && memcmp(buf + i, "\\data\\", 6) == 0) || rd_compression_of(buf, n) != RD_PLAIN ||
        (n >= 8 && memcmp(buf, "mmap lm ", 8) == 0)) { /* the ARPA loader refuses KenLM binaries by name */
        *kind = LM_ARPA;
        return RD_OK;
    }
    static const unsigned char ggmf[4] = {0x66, 0x6d, 0x67, 0x67}; /* rwkv.cpp, little-endian "ggmf" */
    if ((n >= 4 && memcmp(buf, ggmf, 4) == 0) || (n >= 2 && buf[0] == 'P' && buf[1] == 'K') ||
        (n >= 9 && buf[8] == '{') || (n >= 2 && buf[0] == 0x80)) {
        *kind = LM_RWKV;
        return RD_OK;
    }
    char what[160];
    describe_start(buf, n, what, sizeof what);
    return rd_fail(err, RD_ERR_INPUT, "%s: not a language model: expected an ARPA file (\\data\\ first; also "
                   ".gz/.xz/.bz2) or an RWKV model (rwkv.cpp .bin, .pth, .safetensors); found %s", path, what);
}

rd_status lm_load(const char *path, const lm_load_options *opt, lm_model **out, rd_error *err) {
    *out = NULL;
    int kind;
    RD_TRY(lm_kind(path, &kind, err));
    int arpa = kind == LM_ARPA;
    lm_model *m = calloc(1, sizeof *m);
    if (!m) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", path);
    rd_status st = arpa ? lm_arpa_open(path, opt, m, err) : lm_rwkv_open(path, opt, m, err);
    if (st != RD_OK) {
        free(m);
        return st;
    }
    *out = m;
    return RD_OK;
}

void lm_free(lm_model *m) {
    if (!m) return;
    m->ops->model_free(m->impl);
    free(m);
}

const char *lm_describe(const lm_model *m) { return m->description; }

rd_status lm_cache_create(lm_model *m, int n_slots, lm_cache **out, rd_error *err) {
    *out = NULL;
    if (n_slots < 1) return rd_fail(err, RD_ERR_INTERNAL, "lm_cache_create: %d slots (expected at least 1)", n_slots);
    lm_cache *c = calloc(1, sizeof *c);
    if (!c) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a language-model cache");
    rd_status st = m->ops->cache_create(m->impl, n_slots, &c->impl, err);
    if (st != RD_OK) {
        free(c);
        return st;
    }
    c->ops = m->ops;
    c->n_slots = n_slots;
    c->model = m;
    *out = c;
    return RD_OK;
}

void lm_cache_free(lm_cache *c) {
    if (!c) return;
    c->ops->cache_free(c->impl);
    free(c->start_state);
    free(c);
}

int lm_part_count(const lm_model *m) { return m->n_parts > 0 ? m->n_parts : 1; }

const lm_model *lm_part(const lm_model *m, int i) {
    if (m->n_parts > 0) return i >= 0 && i < m->n_parts ? m->parts[i] : NULL;
    return i == 0 ? m : NULL;
}

const lm_cache *lm_cache_part(const lm_cache *c, int i) {
    if (c->ops->cache_part) return c->ops->cache_part(c->impl, i);
    return i == 0 ? c : NULL;
}

int lm_cache_slots(const lm_cache *c) { return c->n_slots; }

const lm_model *lm_cache_model(const lm_cache *c) { return c->model; }

size_t lm_cache_bytes(const lm_cache *c, size_t *per_slot, int *n_stored) {
    return c->ops->cache_bytes(c->impl, per_slot, n_stored);
}

int32_t lm_word(lm_cache *c, const char *text, size_t len) { return c->ops->word(c->impl, text, len); }

bool lm_word_known(const lm_cache *c, int32_t word) { return c->ops->word_known(c->impl, word); }

/* The model (a mix: its first part) that has a closed vocabulary, or NULL. */
static const lm_model *lm_vocab_model(const lm_model *m) {
    for (int i = 0; i < lm_part_count(m); i++) {
        const lm_model *p = m->n_parts > 0 ? m->parts[i] : m;
        if (p->ops->vocab_size) return p;
    }
    return NULL;
}

int32_t lm_vocab_size(const lm_model *m) {
    const lm_model *p = lm_vocab_model(m);
    return p ? p->ops->vocab_size(p->impl) : -1;
}

const char *lm_vocab_word(const lm_model *m, int32_t i) {
    const lm_model *p = lm_vocab_model(m);
    return p ? p->ops->vocab_word(p->impl, i) : NULL;
}

rd_status lm_unigrams(lm_cache *c, const int32_t *word, int n, float *out, rd_error *err) {
    if (n < 0 || (n > 0 && (!word || !out))) return rd_fail(err, RD_ERR_INTERNAL, "lm_unigrams: bad arguments");
    return c->ops->unigrams(c->impl, word, n, out, 0, err);
}

rd_status lm_lookahead(lm_cache *c, const int32_t *word, int n, float *out, rd_error *err) {
    if (n < 0 || (n > 0 && (!word || !out))) return rd_fail(err, RD_ERR_INTERNAL, "lm_lookahead: bad arguments");
    return c->ops->unigrams(c->impl, word, n, out, 1, err);
}

float lm_unigram(lm_cache *c, int32_t word) {
    float v;
    rd_error err;
    return lm_unigrams(c, &word, 1, &v, &err) == RD_OK ? v : -INFINITY;
}

/* RD_OK when n >= 0 and every slot[i] is in 0..n_slots-1. */
static rd_status check_slots(const lm_cache *c, const char *fn, const char *what, const int32_t *slot, int n,
                             rd_error *err) {
    if (n < 0) return rd_fail(err, RD_ERR_INTERNAL, "%s: negative count %d", fn, n);
    if (n > 0 && !slot) return rd_fail(err, RD_ERR_INTERNAL, "%s: %s is NULL", fn, what);
    for (int i = 0; i < n; i++)
        if (slot[i] < 0 || slot[i] >= c->n_slots)
            return rd_fail(err, RD_ERR_INTERNAL, "%s: %s[%d] = %d is not a slot (expected 0..%d)", fn, what, i,
                           (int)slot[i], c->n_slots - 1);
    return RD_OK;
}

rd_status lm_set_start(lm_cache *c, const lm_start_spec *s, rd_error *err) {
    free(c->start_state);
    c->start_state = NULL;
    c->start = s ? *s : (lm_start_spec){0};
    c->warm = c->start.state || (c->start.text && c->start.text[0]);
    return RD_OK;
}

/* Slot takes the warm start. The first time: the model's start, the given
 * state, the text fed; a model with a recurrent state keeps the result and
 * later starts copy it (an n-gram context is cheap to rebuild). */
static rd_status start_warm(lm_cache *c, int32_t slot, rd_error *err) {
    if (c->start_state) return lm_state_set(c, slot, c->start_state, c->start_pending, err);
    RD_TRY(c->ops->start(c->impl, &slot, 1, err));
    if (c->start.state) RD_TRY(lm_state_set(c, slot, c->start.state, c->start.pending, err));
    RD_TRY(lm_feed_text(c, slot, c->start.text, err));
    size_t ss = lm_state_size(c->model);
    if (ss == 0) return RD_OK;
    float *state = rd_malloc_array(ss, sizeof(float));
    if (!state) return rd_fail(err, RD_ERR_NOMEM, "out of memory for the LM start state");
    rd_status st = lm_state_get(c, slot, state, &c->start_pending, err);
    if (st != RD_OK) {
        free(state);
        return st;
    }
    c->start_state = state;
    return RD_OK;
}

rd_status lm_start(lm_cache *c, const int32_t *slot, int n, rd_error *err) {
    RD_TRY(check_slots(c, "lm_start", "slot", slot, n, err));
    if (!c->warm) return c->ops->start(c->impl, slot, n, err);
    for (int i = 0; i < n; i++) RD_TRY(start_warm(c, slot[i], err));
    return RD_OK;
}

rd_status lm_score_words(lm_cache *c, const int32_t *parent, const int32_t *word, const int32_t *child, int n,
                         float *score, rd_error *err) {
    RD_TRY(check_slots(c, "lm_score_words", "parent", parent, n, err));
    RD_TRY(check_slots(c, "lm_score_words", "child", child, n, err));
    if (n > 0 && (!word || !score)) return rd_fail(err, RD_ERR_INTERNAL, "lm_score_words: word or score is NULL");
    if (n > c->n_slots)
        return rd_fail(err, RD_ERR_INTERNAL, "lm_score_words: %d children for %d slots (children must differ)", n,
                       c->n_slots);
    return c->ops->score_words(c->impl, parent, word, child, n, score, err);
}

rd_status lm_score_words_floor(lm_cache *c, const int32_t *parent, const int32_t *word, const int32_t *child, int n,
                               const float *floor, float *score, rd_error *err) {
    if (!floor || !c->ops->score_words_floor) return lm_score_words(c, parent, word, child, n, score, err);
    RD_TRY(check_slots(c, "lm_score_words_floor", "parent", parent, n, err));
    RD_TRY(check_slots(c, "lm_score_words_floor", "child", child, n, err));
    if (n > 0 && (!word || !score))
        return rd_fail(err, RD_ERR_INTERNAL, "lm_score_words_floor: word or score is NULL");
    if (n > c->n_slots)
        return rd_fail(err, RD_ERR_INTERNAL, "lm_score_words_floor: %d children for %d slots (children must differ)",
                       n, c->n_slots);
    return c->ops->score_words_floor(c->impl, parent, word, child, n, floor, score, err);
}

rd_status lm_finish(lm_cache *c, const int32_t *slot, int n, float *score, rd_error *err) {
    RD_TRY(check_slots(c, "lm_finish", "slot", slot, n, err));
    if (n > 0 && !score) return rd_fail(err, RD_ERR_INTERNAL, "lm_finish: score is NULL");
    return c->ops->finish(c->impl, slot, n, score, err);
}

rd_status lm_reorder(lm_cache *c, const int32_t *survivors, int n, rd_error *err) {
    RD_TRY(check_slots(c, "lm_reorder", "survivors", survivors, n, err));
    if (n > c->n_slots)
        return rd_fail(err, RD_ERR_INTERNAL, "lm_reorder: %d survivors for %d slots", n, c->n_slots);
    return c->ops->reorder(c->impl, survivors, n, err);
}

rd_status lm_feed_text(lm_cache *c, int32_t slot, const char *text, rd_error *err) {
    const char *p = text;
    while (p && *p) {
        p += strspn(p, " \t\n");
        size_t n = strcspn(p, " \t\n");
        if (n == 0) break;
        int32_t w = lm_word(c, p, n);
        float ignored;
        if (w < 0) return rd_fail(err, RD_ERR_NOMEM, "out of memory adding a word of the text to the LM");
        RD_TRY(lm_score_words(c, &slot, &w, &slot, 1, &ignored, err));
        p += n;
    }
    return RD_OK;
}

rd_status lm_copy(lm_cache *c, int32_t src, int32_t dst, rd_error *err) {
    RD_TRY(check_slots(c, "lm_copy", "src", &src, 1, err));
    RD_TRY(check_slots(c, "lm_copy", "dst", &dst, 1, err));
    if (src == dst) return RD_OK;
    return c->ops->copy(c->impl, src, dst, err);
}

size_t lm_state_size(const lm_model *m) { return m->state_size; }

static rd_status check_state_access(const lm_cache *c, const char *fn, int32_t slot, const float *state,
                                    rd_error *err) {
    if (!c->ops->state_get)
        return rd_fail(err, RD_ERR_USAGE, "%s: a %s model has no recurrent state (states are for RWKV models)", fn,
                       c->ops->kind);
    if (!state) return rd_fail(err, RD_ERR_INTERNAL, "%s: state is NULL", fn);
    return check_slots(c, fn, "slot", &slot, 1, err);
}

rd_status lm_state_get(const lm_cache *c, int32_t slot, float *state, int32_t *pending, rd_error *err) {
    RD_TRY(check_state_access(c, "lm_state_get", slot, state, err));
    return c->ops->state_get(c->impl, slot, state, pending, err);
}

rd_status lm_state_set(lm_cache *c, int32_t slot, const float *state, int32_t pending, rd_error *err) {
    RD_TRY(check_state_access(c, "lm_state_set", slot, state, err));
    return c->ops->state_set(c->impl, slot, state, pending, err);
}

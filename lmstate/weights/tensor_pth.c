/* lmstate/weights/tensor_pth.c - PyTorch .pth files (torch.save's zip format).
 *
 * The archive holds <prefix>data.pkl, a pickle whose tensors are
 * torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) over
 * persistent ids ('storage', torch.FloatStorage, key, location, numel), and
 * <prefix>data/<key>, each storage's raw little-endian bytes.
 *
 * A small pickle machine runs data.pkl without calling anything: known
 * globals (collections.OrderedDict, the tensor rebuilders, storage types)
 * are interpreted, any other call or object becomes an opaque value. The
 * result must be a dict of name -> tensor, or a dict holding one under
 * "state_dict" or "model"; entries whose value is not a tensor are skipped. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmstate/weights/tensor_file_impl.h"

#define PK_MAX_OBJECTS (1u << 21)
#define PK_MAX_MEMO (1u << 20)

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT,
    PK_SET, PK_GLOBAL, PK_STORAGE, PK_TENSOR, PK_OBJECT
} pk_kind;

/* What a GLOBAL refers to. */
enum { G_OTHER, G_ORDERED_DICT, G_REBUILD_V2, G_REBUILD_PARAM, G_STORAGE };

typedef struct pk_obj pk_obj;
struct pk_obj {
    pk_kind kind;
    int global;          /* GLOBAL: G_* */
    int dtype;           /* GLOBAL G_STORAGE, STORAGE: an rd_dtype, or -1 if unsupported */
    int ndim;            /* TENSOR: dims given (may exceed TF_MAX_DIMS) */
    int64_t i;           /* INT, BOOL; STORAGE: elements; TENSOR: storage offset */
    const char *s;       /* STR, BYTES, STORAGE key: into the pickle; GLOBAL: "module.name" */
    size_t len;
    pk_obj **items;      /* TUPLE, LIST, SET; DICT: key, value, key, value, ... */
    size_t n, cap;
    pk_obj *ref;         /* STORAGE: its type (a GLOBAL); TENSOR: its STORAGE */
    int64_t *size, *stride; /* TENSOR: min(ndim, TF_MAX_DIMS) each */
};

typedef struct pk_vm {
    const unsigned char *p;
    size_t n, pos, at;          /* at: offset of the current opcode */
    const char *fname;
    char pkl[200];              /* printable name of data.pkl, for messages */
    rd_error *err;
    rd_arena arena;
    size_t nobj;
    pk_obj **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pk_obj **memo;
    size_t memo_cap, memo_len;
} pk_vm;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static rd_status vm_fail(pk_vm *vm, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rd_fail(vm->err, RD_ERR_INPUT, "%s: %s: byte %zu: %s", vm->fname, vm->pkl, vm->at, msg);
}

static rd_status vm_nomem(pk_vm *vm) {
    return rd_fail(vm->err, RD_ERR_NOMEM, "%s: %s: out of memory", vm->fname, vm->pkl);
}

/* ---- objects, stack, marks ------------------------------------------------ */

static pk_obj *new_obj(pk_vm *vm, pk_kind kind) {
    if (vm->nobj >= PK_MAX_OBJECTS) return NULL;
    pk_obj *o = rd_arena_alloc(&vm->arena, sizeof *o);
    if (!o) return NULL;
    memset(o, 0, sizeof *o);
    o->kind = kind;
    vm->nobj++;
    return o;
}

/* Grows *v (of *cap elements of size es) to hold need elements. */
static int grow(void **v, size_t *cap, size_t need, size_t es) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *nv = rd_realloc_array(*v, c, es);
    if (!nv) return 0;
    *v = nv;
    *cap = c;
    return 1;
}

/* Appends k objects to a container (items in the arena, doubled on growth). */
static rd_status add_items(pk_vm *vm, pk_obj *o, pk_obj *const *items, size_t k) {
    if (o->n + k > o->cap) {
        size_t c = o->cap ? o->cap : 4;
        while (c < o->n + k) c *= 2;
        pk_obj **ni = c <= SIZE_MAX / sizeof *ni ? rd_arena_alloc(&vm->arena, c * sizeof *ni) : NULL;
        if (!ni) return vm_nomem(vm);
        if (o->n) memcpy(ni, o->items, o->n * sizeof *ni);
        o->items = ni;
        o->cap = c;
    }
    if (k) memcpy(o->items + o->n, items, k * sizeof *items);
    o->n += k;
    return RD_OK;
}

static rd_status push(pk_vm *vm, pk_obj *o) {
    if (!o) return vm->nobj >= PK_MAX_OBJECTS ? vm_fail(vm, "more than %u objects", PK_MAX_OBJECTS)
                                              : vm_nomem(vm);
    if (!grow((void **)&vm->stack, &vm->scap, vm->sp + 1, sizeof *vm->stack)) return vm_nomem(vm);
    vm->stack[vm->sp++] = o;
    return RD_OK;
}

static size_t stack_floor(const pk_vm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

/* Pops k objects above the last mark into out[0..k) (bottom first). */
static rd_status pop_n(pk_vm *vm, size_t k, pk_obj **out) {
    if (vm->sp - stack_floor(vm) < k)
        return vm_fail(vm, "opcode 0x%02x needs %zu items on the stack", vm->p[vm->at], k);
    vm->sp -= k;
    memcpy(out, vm->stack + vm->sp, k * sizeof *out);
    return RD_OK;
}

static rd_status top(pk_vm *vm, pk_obj **o) {
    if (vm->sp <= stack_floor(vm))
        return vm_fail(vm, "opcode 0x%02x needs an item on the stack", vm->p[vm->at]);
    *o = vm->stack[vm->sp - 1];
    return RD_OK;
}

/* Pops to the last mark; the items are vm->stack[*from .. *from + *k). */
static rd_status pop_mark(pk_vm *vm, size_t *from, size_t *k) {
    if (!vm->nmarks) return vm_fail(vm, "opcode 0x%02x needs a MARK", vm->p[vm->at]);
    *from = vm->marks[--vm->nmarks];
    *k = vm->sp - *from;
    vm->sp = *from;
    return RD_OK;
}

/* ---- reading operands ----------------------------------------------------- */

static rd_status take(pk_vm *vm, uint64_t k, const unsigned char **out) {
    if (k > vm->n - vm->pos)
        return vm_fail(vm, "expected %llu bytes of operand, found %zu", (unsigned long long)k,
                       vm->n - vm->pos);
    *out = vm->p + vm->pos;
    vm->pos += (size_t)k;
    return RD_OK;
}

static rd_status uint_operand(pk_vm *vm, int bytes, uint64_t *v) {
    const unsigned char *b = NULL;
    RD_TRY(take(vm, (uint64_t)bytes, &b));
    *v = 0;
    for (int i = bytes - 1; i >= 0; i--) *v = *v << 8 | b[i];
    return RD_OK;
}

/* LONG1 / LONG4: a little-endian two's complement integer of up to 8 bytes. */
static rd_status long_operand(pk_vm *vm, int lenbytes, int64_t *v) {
    uint64_t k = 0, u = 0;
    const unsigned char *b = NULL;
    RD_TRY(uint_operand(vm, lenbytes, &k));
    if (k > 8) return vm_fail(vm, "integer of %llu bytes is too large", (unsigned long long)k);
    RD_TRY(take(vm, k, &b));
    for (int i = (int)k - 1; i >= 0; i--) u = u << 8 | b[i];
    if (k > 0 && k < 8 && (b[k - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * k);
    *v = (int64_t)u;
    return RD_OK;
}

/* A length-prefixed string or bytes operand. */
static rd_status str_operand(pk_vm *vm, int lenbytes, pk_kind kind) {
    uint64_t k = 0;
    const unsigned char *b = NULL;
    RD_TRY(uint_operand(vm, lenbytes, &k));
    RD_TRY(take(vm, k, &b));
    pk_obj *o = new_obj(vm, kind);
    if (o) {
        o->s = (const char *)b;
        o->len = (size_t)k;
    }
    return push(vm, o);
}

static int is_str(const pk_obj *o, const char *s) {
    return o && o->kind == PK_STR && o->len == strlen(s) && memcmp(o->s, s, o->len) == 0;
}

/* ---- globals -------------------------------------------------------------- */

static int span_is(const char *s, size_t n, const char *w) {
    return n == strlen(w) && memcmp(s, w, n) == 0;
}

static void classify_global(pk_obj *g, const char *mod, size_t ml, const char *name, size_t nl) {
    static const char *const storages[] = {"FloatStorage", "HalfStorage", "BFloat16Storage",
                                           "DoubleStorage", "LongStorage", "IntStorage",
                                           "ByteStorage"};
    static const rd_dtype types[] = {RD_F32, RD_F16, RD_BF16, RD_F64, RD_I64, RD_I32, RD_U8};
    g->global = G_OTHER;
    g->dtype = -1;
    if (span_is(mod, ml, "collections") && span_is(name, nl, "OrderedDict"))
        g->global = G_ORDERED_DICT;
    if (span_is(mod, ml, "torch._utils") && span_is(name, nl, "_rebuild_tensor_v2"))
        g->global = G_REBUILD_V2;
    if (span_is(mod, ml, "torch._utils") && span_is(name, nl, "_rebuild_parameter"))
        g->global = G_REBUILD_PARAM;
    if (span_is(mod, ml, "torch") && nl > 7 && memcmp(name + nl - 7, "Storage", 7) == 0) {
        g->global = G_STORAGE;
        for (int i = 0; i < 7; i++)
            if (span_is(name, nl, storages[i])) g->dtype = (int)types[i];
    }
}

static rd_status push_global(pk_vm *vm, const char *mod, size_t ml, const char *name, size_t nl) {
    pk_obj *g = new_obj(vm, PK_GLOBAL);
    char *s = g && ml < 4096 && nl < 4096 ? rd_arena_alloc(&vm->arena, ml + nl + 2) : NULL;
    if (g && !s) return ml >= 4096 || nl >= 4096 ? vm_fail(vm, "global name too long") : vm_nomem(vm);
    if (g) {
        tf_printable(s, ml + 1, mod, ml);
        s[ml] = '.';
        tf_printable(s + ml + 1, nl + 1, name, nl);
        g->s = s;
        g->len = ml + nl + 1;
        classify_global(g, mod, ml, name, nl);
    }
    return push(vm, g);
}

/* GLOBAL: "module\nname\n". */
static rd_status op_global(pk_vm *vm) {
    const char *s = (const char *)vm->p + vm->pos;
    size_t left = vm->n - vm->pos;
    const char *nl1 = memchr(s, '\n', left);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', left - (size_t)(nl1 + 1 - s)) : NULL;
    if (!nl2) return vm_fail(vm, "expected 'module\\nname\\n' after GLOBAL");
    vm->pos += (size_t)(nl2 + 1 - s);
    return push_global(vm, s, (size_t)(nl1 - s), nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

static rd_status op_stack_global(pk_vm *vm) {
    pk_obj *a[2] = {NULL, NULL};
    RD_TRY(pop_n(vm, 2, a));
    if (a[0]->kind != PK_STR || a[1]->kind != PK_STR)
        return vm_fail(vm, "STACK_GLOBAL expects two strings");
    return push_global(vm, a[0]->s, a[0]->len, a[1]->s, a[1]->len);
}

/* ---- torch objects -------------------------------------------------------- */

/* ('storage', storage type, key, location, numel) -> a storage. */
static rd_status op_persid(pk_vm *vm) {
    pk_obj *pid = NULL;
    RD_TRY(pop_n(vm, 1, &pid));
    if (pid->kind != PK_TUPLE || pid->n != 5 || !is_str(pid->items[0], "storage") ||
        pid->items[1]->kind != PK_GLOBAL || pid->items[2]->kind != PK_STR ||
        pid->items[4]->kind != PK_INT || pid->items[4]->i < 0)
        return vm_fail(vm, "expected a persistent id ('storage', storage type, key, location, "
                       "numel)");
    if (pid->items[1]->global != G_STORAGE)
        return vm_fail(vm, "expected a torch storage type, found %s", pid->items[1]->s);
    pk_obj *st = new_obj(vm, PK_STORAGE);
    if (st) {
        st->ref = pid->items[1];
        st->dtype = pid->items[1]->dtype;
        st->s = pid->items[2]->s;
        st->len = pid->items[2]->len;
        st->i = pid->items[4]->i;
    }
    return push(vm, st);
}

/* Copies a tuple of ints into dst (up to TF_MAX_DIMS of them). */
static int int_tuple(const pk_obj *t, int64_t *dst) {
    if (t->kind != PK_TUPLE) return 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != PK_INT) return 0;
        if (i < TF_MAX_DIMS) dst[i] = t->items[i]->i;
    }
    return 1;
}

static rd_status rebuild_tensor(pk_vm *vm, const pk_obj *args) {
    pk_obj *const *a = args->items;
    pk_obj *t = new_obj(vm, PK_TENSOR);
    int64_t *dims = t ? rd_arena_alloc(&vm->arena, 2 * TF_MAX_DIMS * sizeof *dims) : NULL;
    if (t && !dims) return vm_nomem(vm);
    if (args->kind != PK_TUPLE || args->n < 4 || a[0]->kind != PK_STORAGE || a[1]->kind != PK_INT ||
        a[2]->kind != PK_TUPLE || a[3]->kind != PK_TUPLE || a[2]->n != a[3]->n || a[2]->n > 64)
        return vm_fail(vm, "expected _rebuild_tensor_v2(storage, storage_offset, size, stride, "
                       "...)");
    if (t) {
        t->ref = a[0];
        t->i = a[1]->i;
        t->ndim = (int)a[2]->n;
        t->size = dims;
        t->stride = dims + TF_MAX_DIMS;
        if (!int_tuple(a[2], t->size) || !int_tuple(a[3], t->stride))
            return vm_fail(vm, "expected integer sizes and strides in _rebuild_tensor_v2");
    }
    return push(vm, t);
}

static rd_status op_reduce(pk_vm *vm) {
    pk_obj *a[2] = {NULL, NULL};
    RD_TRY(pop_n(vm, 2, a));
    int g = a[0]->kind == PK_GLOBAL ? a[0]->global : G_OTHER;
    if (g == G_REBUILD_V2) return rebuild_tensor(vm, a[1]);
    if (g == G_REBUILD_PARAM) {
        if (a[1]->kind != PK_TUPLE || a[1]->n < 1 || a[1]->items[0]->kind != PK_TENSOR)
            return vm_fail(vm, "expected _rebuild_parameter(tensor, ...)");
        return push(vm, a[1]->items[0]);
    }
    return push(vm, new_obj(vm, g == G_ORDERED_DICT ? PK_DICT : PK_OBJECT));
}

/* ---- opcodes -------------------------------------------------------------- */

static rd_status op_int(pk_vm *vm, int op) {
    int64_t v = 0;
    uint64_t u = 0;
    if (op == 'J') {
        RD_TRY(uint_operand(vm, 4, &u));
        v = (int32_t)(uint32_t)u;
    } else if (op == 'K' || op == 'M') {
        RD_TRY(uint_operand(vm, op == 'K' ? 1 : 2, &u));
        v = (int64_t)u;
    } else {
        RD_TRY(long_operand(vm, op == 0x8a ? 1 : 4, &v));
    }
    pk_obj *o = new_obj(vm, PK_INT);
    if (o) o->i = v;
    return push(vm, o);
}

static rd_status op_scalar(pk_vm *vm, int op) {
    pk_obj *o = NULL;
    uint64_t u = 0;
    switch (op) {
    case 'N': o = new_obj(vm, PK_NONE); break;
    case 0x88: case 0x89:
        if ((o = new_obj(vm, PK_BOOL))) o->i = op == 0x88;
        break;
    case 'G':
        RD_TRY(uint_operand(vm, 8, &u)); /* big-endian double: value unused */
        o = new_obj(vm, PK_FLOAT);
        break;
    case 'X': return str_operand(vm, 4, PK_STR);
    case 0x8c: return str_operand(vm, 1, PK_STR);
    case 0x8d: return str_operand(vm, 8, PK_STR);
    case 'U': return str_operand(vm, 1, PK_STR);
    case 'T': return str_operand(vm, 4, PK_STR);
    case 'C': return str_operand(vm, 1, PK_BYTES);
    case 'B': return str_operand(vm, 4, PK_BYTES);
    case 0x8e: return str_operand(vm, 8, PK_BYTES);
    default: return op_int(vm, op);
    }
    return push(vm, o);
}

/* TUPLE, LIST, DICT, FROZENSET (from the mark) and TUPLE1..3. */
static rd_status op_collect(pk_vm *vm, int op) {
    size_t from = 0, k = 0;
    if (op >= 0x85 && op <= 0x87) {
        k = (size_t)(op - 0x84);
        if (vm->sp - stack_floor(vm) < k)
            return vm_fail(vm, "opcode 0x%02x needs %zu items on the stack", op, k);
        vm->sp -= k;
        from = vm->sp;
    } else {
        RD_TRY(pop_mark(vm, &from, &k));
    }
    pk_kind kind = op == 'l' ? PK_LIST : op == 'd' ? PK_DICT : op == 0x91 ? PK_SET : PK_TUPLE;
    if (kind == PK_DICT && k % 2) return vm_fail(vm, "DICT needs key, value pairs");
    pk_obj *o = new_obj(vm, kind);
    if (o) RD_TRY(add_items(vm, o, vm->stack + from, k));
    return push(vm, o);
}

/* APPEND, APPENDS, SETITEM, SETITEMS, ADDITEMS: into the object below. */
static rd_status op_fill(pk_vm *vm, int op) {
    size_t from = 0, k = 0;
    if (op == 'a' || op == 's') {
        k = op == 'a' ? 1 : 2;
        if (vm->sp - stack_floor(vm) < k + 1)
            return vm_fail(vm, "opcode 0x%02x needs %zu items on the stack", op, k + 1);
        vm->sp -= k;
        from = vm->sp;
    } else {
        RD_TRY(pop_mark(vm, &from, &k));
    }
    pk_obj *o = NULL;
    RD_TRY(top(vm, &o));
    pk_kind want = op == 'a' || op == 'e' ? PK_LIST : op == 0x90 ? PK_SET : PK_DICT;
    if (o->kind == PK_OBJECT) return RD_OK;
    if (o->kind != want)
        return vm_fail(vm, "opcode 0x%02x expects a %s below its items", op,
                       want == PK_LIST ? "list" : want == PK_SET ? "set" : "dict");
    if (want == PK_DICT && k % 2) return vm_fail(vm, "SETITEMS needs key, value pairs");
    return add_items(vm, o, vm->stack + from, k);
}

static rd_status op_memo(pk_vm *vm, int op) {
    uint64_t idx = 0;
    if (op == 'q' || op == 'h') RD_TRY(uint_operand(vm, 1, &idx));
    else if (op == 'r' || op == 'j') RD_TRY(uint_operand(vm, 4, &idx));
    else idx = vm->memo_len;
    if (idx >= PK_MAX_MEMO) return vm_fail(vm, "memo index %llu is too large", (unsigned long long)idx);
    if (op == 'h' || op == 'j') {
        if (idx >= vm->memo_cap || !vm->memo[idx])
            return vm_fail(vm, "memo index %llu is not set", (unsigned long long)idx);
        return push(vm, vm->memo[idx]);
    }
    pk_obj *o = NULL;
    RD_TRY(top(vm, &o));
    size_t old = vm->memo_cap;
    if (!grow((void **)&vm->memo, &vm->memo_cap, (size_t)idx + 1, sizeof *vm->memo))
        return vm_nomem(vm);
    if (vm->memo_cap > old) memset(vm->memo + old, 0, (vm->memo_cap - old) * sizeof *vm->memo);
    if (!vm->memo[idx]) vm->memo_len++;
    vm->memo[idx] = o;
    return RD_OK;
}

/* MARK, POP, POP_MARK, DUP, BUILD, NEWOBJ, NEWOBJ_EX, PROTO, FRAME. */
static rd_status op_stack(pk_vm *vm, int op) {
    pk_obj *a[3] = {NULL, NULL, NULL};
    uint64_t u = 0;
    size_t from = 0, k = 0;
    switch (op) {
    case '(':
        if (!grow((void **)&vm->marks, &vm->mcap, vm->nmarks + 1, sizeof *vm->marks))
            return vm_nomem(vm);
        vm->marks[vm->nmarks++] = vm->sp;
        return RD_OK;
    case '0': return pop_n(vm, 1, a);
    case '1': return pop_mark(vm, &from, &k);
    case '2': RD_TRY(top(vm, a)); return push(vm, a[0]);
    case 'b': RD_TRY(pop_n(vm, 1, a)); return top(vm, a); /* state ignored */
    case 0x81: RD_TRY(pop_n(vm, 2, a)); return push(vm, new_obj(vm, PK_OBJECT));
    case 0x92: RD_TRY(pop_n(vm, 3, a)); return push(vm, new_obj(vm, PK_OBJECT));
    case 0x80:
        RD_TRY(uint_operand(vm, 1, &u));
        if (u < 2 || u > 5) return vm_fail(vm, "unsupported pickle protocol %u", (unsigned)u);
        return RD_OK;
    case 0x95: return uint_operand(vm, 8, &u);
    }
    return vm_fail(vm, "unsupported opcode 0x%02x", op);
}

static rd_status step(pk_vm *vm, int op) {
    switch (op) {
    case 'N': case 0x88: case 0x89: case 'G': case 'X': case 0x8c: case 0x8d: case 'U':
    case 'T': case 'C': case 'B': case 0x8e: case 'J': case 'K': case 'M': case 0x8a: case 0x8b:
        return op_scalar(vm, op);
    case '}': return push(vm, new_obj(vm, PK_DICT));
    case ']': return push(vm, new_obj(vm, PK_LIST));
    case ')': return push(vm, new_obj(vm, PK_TUPLE));
    case 0x8f: return push(vm, new_obj(vm, PK_SET));
    case 't': case 'l': case 'd': case 0x91: case 0x85: case 0x86: case 0x87:
        return op_collect(vm, op);
    case 'a': case 'e': case 's': case 'u': case 0x90: return op_fill(vm, op);
    case 'q': case 'r': case 0x94: case 'h': case 'j': return op_memo(vm, op);
    case 'c': return op_global(vm);
    case 0x93: return op_stack_global(vm);
    case 'R': return op_reduce(vm);
    case 'Q': return op_persid(vm);
    }
    return op_stack(vm, op);
}

/* Runs the pickle to STOP; *result is the object it returns. */
static rd_status run(pk_vm *vm, pk_obj **result) {
    while (vm->pos < vm->n) {
        vm->at = vm->pos;
        int op = vm->p[vm->pos++];
        if (op == '.') {
            RD_TRY(pop_n(vm, 1, result));
            return RD_OK;
        }
        RD_TRY(step(vm, op));
    }
    vm->at = vm->pos;
    return vm_fail(vm, "expected STOP, found end of data");
}

/* ---- tensors out of the result -------------------------------------------- */

/* The context the tensors are checked in. */
typedef struct pth_ctx {
    tf_file *f;
    const char *fname;
    const tz_archive *z;
    const char *prefix;   /* "archive/" */
    size_t prefix_len;
    rd_error *err;
} pth_ctx;

/* Only stored (uncompressed, unencrypted) entries can be read in place. */
static rd_status check_stored(const tz_entry *e, const char *fname, rd_error *err) {
    char nm[200];
    tf_printable(nm, sizeof nm, e->name, e->name_len);
    if (e->encrypted)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip entry %s is encrypted", fname, nm);
    if (e->method != 0)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip entry %s: compression method %d%s is not "
                       "supported (expected stored entries, as torch.save writes)", fname, nm,
                       e->method, e->method == 8 ? " (deflate)" : "");
    if (e->usize != e->size)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip entry %s: stored size %llu differs from its "
                       "size %llu", fname, nm, (unsigned long long)e->size,
                       (unsigned long long)e->usize);
    return RD_OK;
}

static rd_status storage_data(pth_ctx *c, const pk_obj *st, const char *nm, const tz_entry **out) {
    char path[600];
    char key[200];
    tf_printable(key, sizeof key, st->s, st->len);
    if (c->prefix_len + 5 + st->len >= sizeof path)
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: storage key too long", c->fname, nm);
    memcpy(path, c->prefix, c->prefix_len);
    memcpy(path + c->prefix_len, "data/", 5);
    memcpy(path + c->prefix_len + 5, st->s, st->len);
    const tz_entry *e = tz_find(c->z, path, c->prefix_len + 5 + st->len);
    if (!e)
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: storage %s is missing from the archive",
                       c->fname, nm, key);
    *out = e;
    return check_stored(e, c->fname, c->err);
}

static int contiguous(const pk_obj *t) {
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] != 1 && t->stride[d] != want) return 0;
        want *= t->size[d];
    }
    return 1;
}

static rd_status add_tensor(pth_ctx *c, const pk_obj *key, const pk_obj *v) {
    char nm[200];
    tf_printable(nm, sizeof nm, key->s, key->len);
    const pk_obj *st = v->ref;
    if (st->dtype < 0)
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: unsupported storage type %s", c->fname,
                       nm, st->ref->s);
    if (v->ndim > TF_MAX_DIMS)
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: %d dimensions (expected at most %d)",
                       c->fname, nm, v->ndim, TF_MAX_DIMS);
    tf_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = (rd_dtype)st->dtype;
    t.ndim = v->ndim;
    memcpy(t.shape, v->size, (size_t)v->ndim * sizeof *t.shape);
    uint64_t bytes = 0;
    if (!tf_shape_bytes(t.dtype, t.ndim, t.shape, &t.numel, &bytes))
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: bad size (negative or too large)",
                       c->fname, nm);
    if (t.numel > 0 && !contiguous(v))
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: not contiguous (expected strides of a "
                       "row-major tensor; save tensor.contiguous())", c->fname, nm);
    const tz_entry *e = NULL;
    RD_TRY(storage_data(c, st, nm, &e));
    uint64_t es = rd_dtype_size(t.dtype), have = e->size / es;
    if ((uint64_t)st->i < have) have = (uint64_t)st->i;
    if (v->i < 0 || (uint64_t)v->i > have || (uint64_t)t.numel > have - (uint64_t)v->i)
        return rd_fail(c->err, RD_ERR_INPUT, "%s: tensor %s: elements %lld..%lld are outside its "
                       "storage of %llu elements", c->fname, nm, (long long)v->i,
                       (long long)v->i + (long long)t.numel, (unsigned long long)have);
    t.data = e->data + (size_t)v->i * es;
    return tf_push(c->f, c->fname, key->s, key->len, &t, c->err);
}

static const pk_obj *dict_get(const pk_obj *d, const char *key) {
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (is_str(d->items[i], key)) return d->items[i + 1];
    return NULL;
}

static int has_tensor(const pk_obj *d) {
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i + 1]->kind == PK_TENSOR) return 1;
    return 0;
}

static rd_status collect(pth_ctx *c, const pk_obj *top_obj) {
    const pk_obj *d = top_obj;
    if (d->kind != PK_DICT)
        return rd_fail(c->err, RD_ERR_INPUT, "%s: expected a dict of tensors at the top of the "
                       "pickle", c->fname);
    if (!has_tensor(d)) {
        const pk_obj *sd = dict_get(d, "state_dict");
        if (!sd || sd->kind != PK_DICT) sd = dict_get(d, "model");
        if (sd && sd->kind == PK_DICT) d = sd;
    }
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->kind == PK_STR && d->items[i + 1]->kind == PK_TENSOR)
            RD_TRY(add_tensor(c, d->items[i], d->items[i + 1]));
    return RD_OK;
}

/* ---- the archive ---------------------------------------------------------- */

/* The stored entry "<prefix>data.pkl" with the shortest name. */
static rd_status find_pickle(const tz_archive *z, const char *fname, const tz_entry **out,
                             rd_error *err) {
    const tz_entry *best = NULL;
    for (size_t i = 0; i < z->n; i++) {
        const tz_entry *e = &z->e[i];
        size_t k = e->name_len;
        if (k < 8 || memcmp(e->name + k - 8, "data.pkl", 8) != 0) continue;
        if (k > 8 && e->name[k - 9] != '/') continue;
        if (!best || k < best->name_len) best = e;
    }
    if (!best)
        return rd_fail(err, RD_ERR_INPUT, "%s: expected a data.pkl entry in the zip archive (a "
                       "torch.save file)", fname);
    *out = best;
    return check_stored(best, fname, err);
}

static rd_status check_byteorder(const tz_archive *z, const tz_entry *pkl, const char *fname,
                                 rd_error *err) {
    char path[300];
    size_t pl = pkl->name_len - 8;
    if (pl + 9 >= sizeof path) return RD_OK;
    memcpy(path, pkl->name, pl);
    memcpy(path + pl, "byteorder", 9);
    const tz_entry *e = tz_find(z, path, pl + 9);
    if (e && e->method == 0 && !(e->size == 6 && memcmp(e->data, "little", 6) == 0))
        return rd_fail(err, RD_ERR_INPUT, "%s: byteorder is not 'little': big-endian files are "
                       "not supported", fname);
    return RD_OK;
}

static rd_status run_pickle(tf_file *f, const char *fname, const tz_archive *z,
                            const tz_entry *pkl, pk_vm *vm, rd_error *err) {
    vm->p = pkl->data;
    vm->n = (size_t)pkl->size;
    vm->fname = fname;
    vm->err = err;
    tf_printable(vm->pkl, sizeof vm->pkl, pkl->name, pkl->name_len);
    pk_obj *result = NULL;
    RD_TRY(run(vm, &result));
    pth_ctx c = {f, fname, z, pkl->name, pkl->name_len - 8, err};
    return collect(&c, result);
}

rd_status tf_parse_pth(tf_file *f, const char *fname, rd_error *err) {
    tz_archive z;
    RD_TRY(tz_open(f->buf, f->size, fname, &z, err));
    const tz_entry *pkl = NULL;
    rd_status s = find_pickle(&z, fname, &pkl, err);
    if (s == RD_OK) s = check_byteorder(&z, pkl, fname, err);
    pk_vm vm;
    memset(&vm, 0, sizeof vm);
    rd_arena_init(&vm.arena, 1 << 16);
    if (s == RD_OK) s = run_pickle(f, fname, &z, pkl, &vm, err);
    rd_arena_free(&vm.arena);
    free(vm.stack);
    free(vm.marks);
    free(vm.memo);
    tz_free(&z);
    return s;
}

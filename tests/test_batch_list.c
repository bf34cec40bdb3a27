/* tests/test_batch_list.c - the streamed utterance list (cli/batch_list.c):
 * line forms, BOM and CRLF, rewinding, a list on a pipe, the id hash set and
 * the reread that confirms a hash seen before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/batch_list.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static int entry_is(const bl_entry *e, const char *id, const char *path, const char *hot, long line) {
    return e->id_len == strlen(id) && memcmp(e->id, id, e->id_len) == 0 && e->path_len == strlen(path) &&
           memcmp(e->path, path, e->path_len) == 0 && (hot ? e->hot && e->hot_len == strlen(hot) &&
           memcmp(e->hot, hot, e->hot_len) == 0 : !e->hot) && e->line == line;
}

static void test_lines_and_rewind(void **state) {
    char path[] = "/tmp/rd_bl_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "\xEF\xBB\xBF" "a\tx.npy\r\n# c\n\nb y.npy\n/d/z.npy\nc\tw.npy\th.txt\nlast\tv.npy");
    bl_list l;
    rd_error err;
    rd_status st = RD_OK;
    assert_int_equal(bl_open(&l, path, &err), RD_OK);
    for (int pass = 0; pass < 2; pass++) {
        bl_entry e;
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "a", "x.npy", NULL, 1));
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "b", "y.npy", NULL, 4));
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "z", "/d/z.npy", NULL, 5));
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "c", "w.npy", "h.txt", 6));
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "last", "v.npy", NULL, 7));
        assert_int_equal(bl_next(&l, &e, &st, &err), 0);
        long line = -1;
        assert_int_equal(bl_find_id(&l, "b", 7, &line, &err), RD_OK);
        assert_int_equal(line, 4);
        assert_int_equal(bl_find_id(&l, "b", 4, &line, &err), RD_OK); /* only lines before 4 */
        assert_int_equal(line, 0);
        assert_int_equal(bl_next(&l, &e, &st, &err), 0); /* the position is kept */
        assert_int_equal(bl_rewind(&l, &err), RD_OK);
    }
    bl_close(&l);
    write_file(path, "a\tx.npy\n\tno-id\n");
    assert_int_equal(bl_open(&l, path, &err), RD_OK);
    bl_entry e;
    assert_int_equal(bl_next(&l, &e, &st, &err), 1);
    assert_int_equal(bl_next(&l, &e, &st, &err), -1);
    assert_int_equal(st, RD_ERR_INPUT);
    char want[256];
    snprintf(want, sizeof want, "%s:2: expected utt_id<TAB>path.npy[<TAB>hotwords.txt]", path);
    assert_string_equal(err.msg, want);
    bl_close(&l);
    unlink(path);
    assert_int_equal(bl_open(&l, "/nonexistent/list", &err), RD_ERR_IO);
    assert_int_equal(bl_open(&l, "/tmp", &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/tmp: is a directory, not a file");
}

/* A pipe is read once into a temporary copy, then read again like a file. */
static void test_pipe_is_copied(void **state) {
    FILE *p = popen("printf 'a\\tx.npy\\nb\\ty.npy\\n'", "r");
    assert_non_null(p);
    int saved = dup(0);
    assert_int_equal(dup2(fileno(p), 0), 0);
    bl_list l;
    rd_error err;
    rd_status st = RD_OK;
    assert_int_equal(bl_open(&l, "-", &err), RD_OK);
    assert_string_equal(l.name, "<stdin>");
    for (int pass = 0; pass < 2; pass++) {
        bl_entry e;
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "a", "x.npy", NULL, 1));
        assert_int_equal(bl_next(&l, &e, &st, &err), 1);
        assert_true(entry_is(&e, "b", "y.npy", NULL, 2));
        assert_int_equal(bl_next(&l, &e, &st, &err), 0);
        assert_int_equal(bl_rewind(&l, &err), RD_OK);
    }
    bl_close(&l);
    dup2(saved, 0);
    close(saved);
    pclose(p);
}

/* The set answers "seen" for a hash added before, across growth, and for
 * hash 0 (kept as 1: 0 marks an empty entry); never for one not added. */
static void test_id_set(void **state) {
    bl_id_set s = {0};
    enum { N = 100000 };
    for (uint64_t i = 0; i < N; i++) assert_int_equal(bl_id_set_add(&s, i * 0x9E3779B97F4A7C15ULL), 0);
    assert_int_equal(s.n, N);
    assert_true(8 * s.n <= 7 * s.cap);
    for (uint64_t i = 0; i < N; i++) assert_int_equal(bl_id_set_add(&s, i * 0x9E3779B97F4A7C15ULL), 1);
    assert_int_equal(s.n, N); /* i = 0 gave hash 0, stored as 1 */
    assert_int_equal(bl_id_set_add(&s, 1), 1);
    assert_int_equal(bl_id_set_add(&s, 12345), 0);
    assert_true(bl_id_hash("utt1") != bl_id_hash("utt2"));
    assert_true(bl_id_hash("a") == bl_id_hash("a"));
    bl_id_set_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_rewind),
        cmocka_unit_test(test_pipe_is_copied),
        cmocka_unit_test(test_id_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

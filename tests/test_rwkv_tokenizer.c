/* tests/test_rwkv_tokenizer.c - byte-level and World tokenizers. */
#include "tests/testutil.h"

#include "common/text.h"
#include "lmstate/rwkv/rwkv_tokenizer.h"

#define VOCAB_REL "rwkv/rwkv_vocab_v20230424.txt"
#define WORLD_TOKENS "data/rwkv/world_tokens.tsv"

/* Encodes then decodes s[0..n), checking the text comes back whole. */
static int round_trip(const rwkv_tokenizer *tok, const char *s, size_t n, int32_t *ids, int max_ids) {
    int k = rwkv_tok_encode(tok, s, n, ids, max_ids);
    assert_true(k >= 0 && k <= max_ids);
    char back[4096];
    size_t len = 0;
    rd_error err;
    assert_int_equal(rwkv_tok_decode(tok, ids, k, back, sizeof back, &len, &err), RD_OK);
    assert_int_equal(len, n);
    assert_memory_equal(back, s, n);
    return k;
}

static void test_bytes_tokenizer(void **state) {
    rwkv_tokenizer *tok;
    rd_error err;
    assert_int_equal(rwkv_tok_create_bytes(&tok, &err), RD_OK);
    assert_int_equal(rwkv_tok_vocab_size(tok), 256);
    assert_true(rwkv_tok_is_bytes(tok));
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)(255 - i);
    int32_t ids[300];
    assert_int_equal(round_trip(tok, all, 256, ids, 300), 256);
    for (int i = 0; i < 256; i++) assert_int_equal(ids[i], 255 - i);
    size_t len;
    const uint8_t *b = rwkv_tok_token_bytes(tok, 'A', &len);
    assert_non_null(b);
    assert_int_equal(len, 1);
    assert_int_equal(b[0], 'A');
    assert_null(rwkv_tok_token_bytes(tok, 256, &len));
    assert_int_equal(len, 0);
    /* too small an output: the count of the whole input, only max_out written */
    ids[2] = -7;
    assert_int_equal(rwkv_tok_encode(tok, "hello", 5, ids, 2), 5);
    assert_int_equal(ids[0], 'h');
    assert_int_equal(ids[1], 'e');
    assert_int_equal(ids[2], -7);
    assert_int_equal(rwkv_tok_encode(tok, "", 0, NULL, 0), 0);
    rwkv_tok_free(tok);
}

/* A small vocabulary with every kind of literal. */
static const char SMALL_VOCAB[] =
    "1 'a' 1\n"
    "2 'b' 1\n"
    "3 'ab' 2\n"
    "4 'abc' 3\n"
    "5 \"a'b\" 3\n"
    "6 '\\x80' 2\n"
    "7 b'\\x80' 1\n"
    "8 '\\u4e2d' 3\n"
    "9 '\xe6\x96\x87' 3\n"
    "10 '\\\\' 1\n"
    "11 '\\101\\n\\t' 3\n"
    "12 b'\\xe4\\xb8' 2\n"
    "13 '\\U0001F600' 4\r\n"
    "20 'x y' 3\n"
    "21 ' ' 1\n"
    "22 '\\'' 1\n"
    "23 'c' 1\n";

/* Issue 17 item 3: a model with fewer vocabulary rows than its tokenizer's
 * ids is refused with both sizes (its logits would be read out of bounds). */
static void test_model_rows_checked(void **state) {
    rwkv_tokenizer *tok;
    rd_error err;
    assert_int_equal(rwkv_tok_create_bytes(&tok, &err), RD_OK);
    assert_int_equal(rwkv_tok_check_model(tok, 256, "m.pth", &err), RD_OK);
    assert_int_equal(rwkv_tok_check_model(tok, 300, "m.pth", &err), RD_OK);
    assert_int_equal(rwkv_tok_check_model(tok, 100, "m.pth", &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "m.pth: the model has 100 vocabulary rows but its tokenizer (bytes) emits ids up to "
                                 "255: expected at least 256 rows");
    rwkv_tok_free(tok);
}

static void test_small_vocab_literals(void **state) {
    rwkv_tokenizer *tok;
    rd_error err;
    assert_int_equal(rwkv_tok_parse_world(SMALL_VOCAB, strlen(SMALL_VOCAB), "small.txt", &tok, &err), RD_OK);
    assert_int_equal(rwkv_tok_vocab_size(tok), 24);
    assert_false(rwkv_tok_is_bytes(tok));
    static const struct {
        int id;
        const char *bytes;
    } want[] = {{5, "a'b"},        {6, "\xc2\x80"}, {7, "\x80"},         {8, "\xe4\xb8\xad"},
                {9, "\xe6\x96\x87"}, {10, "\\"},       {11, "A\n\t"},      {12, "\xe4\xb8"},
                {13, "\xf0\x9f\x98\x80"}, {20, "x y"}, {21, " "},          {22, "'"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t len;
        const uint8_t *b = rwkv_tok_token_bytes(tok, want[i].id, &len);
        assert_non_null(b);
        assert_int_equal(len, strlen(want[i].bytes));
        assert_memory_equal(b, want[i].bytes, len);
    }
    assert_null(rwkv_tok_token_bytes(tok, 15, NULL)); /* a gap in the ids */
    assert_null(rwkv_tok_token_bytes(tok, 0, NULL));
    assert_null(rwkv_tok_token_bytes(tok, -1, NULL));
    rwkv_tok_free(tok);
}

static void test_small_vocab_greedy(void **state) {
    rwkv_tokenizer *tok;
    rd_error err;
    assert_int_equal(rwkv_tok_parse_world(SMALL_VOCAB, strlen(SMALL_VOCAB), "small.txt", &tok, &err), RD_OK);
    int32_t ids[16];
    /* longest match from the left: abc|ab|a'b|abc */
    assert_int_equal(rwkv_tok_encode(tok, "abcaba'babc", 11, ids, 16), 4);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 5);
    assert_int_equal(ids[3], 4);
    assert_int_equal(rwkv_tok_encode(tok, "ba'bc", 5, ids, 16), 3);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 5);
    assert_int_equal(ids[2], 23);
    /* a prefix of a longer token ("x " of "x y") with no token of its own:
     * nothing starts with "x" alone, so the input fails at that byte */
    assert_int_equal(rwkv_tok_encode(tok, "ax z", 4, ids, 16), -2);
    assert_int_equal(rwkv_tok_encode(tok, "abd", 3, ids, 16), -3);
    assert_int_equal(rwkv_tok_encode(tok, "x y x y", 7, ids, 16), 3);
    assert_int_equal(ids[0], 20);
    assert_int_equal(ids[1], 21);
    assert_int_equal(ids[2], 20);
    rwkv_tok_free(tok);
}

typedef struct bad_vocab {
    const char *text;
    const char *msg;
} bad_vocab;

static const bad_vocab BAD[] = {
    {"1 'a' 1\nfoo\n", "vocab.txt:2: expected 'id literal byte_length'"},
    {"1 'a' 1\n\n2 'b' 1\n", "vocab.txt:2: expected 'id literal byte_length'"},
    {"1 'a'\n", "vocab.txt:1: expected 'id literal byte_length'"},
    {"x 'a' 1\n", "vocab.txt:1: expected a token id from 0 to 1048575, found 'x'"},
    {"1048576 'a' 1\n", "vocab.txt:1: expected a token id from 0 to 1048575, found '1048576'"},
    {"-1 'a' 1\n", "vocab.txt:1: expected a token id from 0 to 1048575, found '-1'"},
    {"1 'a' one\n", "vocab.txt:1: expected a byte length from 0 to 65535, found 'one'"},
    {"1 a 1\n", "vocab.txt:1: expected a python string or bytes literal ('...', \"...\" or b'...')"},
    {"1  'a' 1\n", "vocab.txt:1: expected a python string or bytes literal ('...', \"...\" or b'...')"},
    {"1 r'a' 1\n", "vocab.txt:1: expected a python string or bytes literal ('...', \"...\" or b'...')"},
    {"1 'abc 3\n", "vocab.txt:1: expected a closing ' quote"},
    {"1 \"ab\\\" 2\n", "vocab.txt:1: expected a closing \" quote"},
    {"1 'a'b 2\n", "vocab.txt:1: expected the end of the literal after its closing quote"},
    {"1 'a' 'b' 2\n", "vocab.txt:1: expected the end of the literal after its closing quote"},
    {"1 '\\xZ1' 1\n", "vocab.txt:1: expected two hex digits after \\x"},
    {"1 '\\x4' 1\n", "vocab.txt:1: expected two hex digits after \\x"},
    {"1 '\\u12' 2\n", "vocab.txt:1: expected four hex digits after \\u"},
    {"1 '\\U1234' 2\n", "vocab.txt:1: expected eight hex digits after \\U"},
    {"1 '\\ud800' 3\n", "vocab.txt:1: expected a code point outside the surrogates, found \\ud800"},
    {"1 '\\U00110000' 4\n", "vocab.txt:1: expected a code point up to \\U0010ffff, found \\U00110000"},
    {"1 '\\q' 1\n", "vocab.txt:1: expected a known escape, found \\q"},
    {"1 b'\\u1234' 6\n", "vocab.txt:1: expected a known escape, found \\u"},
    {"1 b'\\400' 1\n", "vocab.txt:1: expected an octal escape up to \\377 in a bytes literal"},
    {"1 b'\xc3\xa9' 2\n", "vocab.txt:1: expected only ascii characters in a bytes literal"},
    {"1 '\xff' 1\n", "vocab.txt:1: expected valid utf-8 in a string literal"},
    {"1 'a\x01' 2\n", "vocab.txt:1: expected an escape for control character 0x01"},
    {"1 'a' 1\n2 'abc' 2\n", "vocab.txt:2: expected a byte length of 2, found 3"},
    {"1 '\\x80' 1\n", "vocab.txt:1: expected a byte length of 1, found 2"},
    {"1 '' 0\n", "vocab.txt:1: expected a non-empty token"},
    {"1 'a' 1\n2 'b' 1\n1 'c' 1\n", "vocab.txt:3: expected a new token id, found 1 again (first on line 1)"},
    {"1 'a' 1\n2 '\\x61' 1\n", "vocab.txt:2: expected distinct token bytes, found the bytes of token 1 (line 1) again"},
    {"", "vocab.txt: expected at least one token"},
};

static void test_malformed_vocab(void **state) {
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        rwkv_tokenizer *tok = (rwkv_tokenizer *)&tok;
        rd_error err;
        rd_error_clear(&err);
        rd_status st = rwkv_tok_parse_world(BAD[i].text, strlen(BAD[i].text), "vocab.txt", &tok, &err);
        if (st != RD_ERR_INPUT || strcmp(err.msg, BAD[i].msg) != 0)
            fprintf(stderr, "case %zu: status %d, message \"%s\"\n", i, (int)st, err.msg);
        assert_int_equal(st, RD_ERR_INPUT);
        assert_string_equal(err.msg, BAD[i].msg);
        assert_null(tok);
    }
}

static void test_load_errors_name_the_file(void **state) {
    rwkv_tokenizer *tok;
    rd_error err;
    char path[64], want[160];
    const char text[] = "1 'a' 1\n2 'b' 2\n";
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, sizeof text - 1));
    assert_int_equal(rwkv_tok_load_world(path, &tok, &err), RD_ERR_INPUT);
    snprintf(want, sizeof want, "%s:2: expected a byte length of 2, found 1", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    assert_int_equal(rwkv_tok_load_world("/nonexistent/vocab.txt", &tok, &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/vocab.txt: cannot open: No such file or directory");
    assert_null(tok);
}

static rwkv_tokenizer *load_world_or_skip(void) {
    char path[512];
    RD_DATA_OR_SKIP(path, VOCAB_REL);
    rwkv_tokenizer *tok = NULL;
    rd_error err;
    rd_status st = rwkv_tok_load_world(path, &tok, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    return tok;
}

static size_t unhex(const char *s, size_t n, char *out) {
    assert_int_equal(n % 2, 0);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        char two[3] = {s[2 * i], s[2 * i + 1], 0};
        assert_int_equal(sscanf(two, "%2x", &v), 1);
        out[i] = (char)v;
    }
    return n / 2;
}

/* Checks one "hex<TAB>ids" line of world_tokens.tsv; returns its token count. */
static int check_recorded_line(const rwkv_tokenizer *tok, const char *line, size_t len) {
    const char *tab = memchr(line, '\t', len);
    assert_non_null(tab);
    char input[1024];
    size_t n = unhex(line, (size_t)(tab - line), input);
    const char *field[512];
    size_t flen[512];
    int want = rd_split_ws(tab + 1, (size_t)(line + len - tab - 1), field, flen, 512);
    int32_t ids[512];
    assert_int_equal(round_trip(tok, input, n, ids, 512), want);
    for (int i = 0; i < want; i++) {
        long id;
        assert_true(rd_parse_long(field[i], flen[i], &id));
        assert_int_equal(ids[i], id);
    }
    return want;
}

static void test_world_matches_rwkv_package(void **state) {
    rwkv_tokenizer *tok = load_world_or_skip();
    assert_int_equal(rwkv_tok_vocab_size(tok), 65530);
    rd_text text;
    rd_error err;
    assert_int_equal(rd_text_read(WORLD_TOKENS, &text, &err), RD_OK);
    rd_line_iter it;
    rd_line_iter_init(&it, text.data, text.size);
    const char *line;
    size_t len;
    int lines = 0, tokens = 0;
    while (rd_line_next(&it, &line, &len)) {
        if (len == 0 || line[0] == '#') continue;
        tokens += check_recorded_line(tok, line, len);
        lines++;
    }
    assert_int_equal(lines, 20);
    assert_true(tokens > 150);
    rd_text_free(&text);
    rwkv_tok_free(tok);
}

static void test_world_round_trips(void **state) {
    rwkv_tokenizer *tok = load_world_or_skip();
    static const char *texts[] = {
        "plain ascii, with punctuation: (1 + 2) * 3 = 9!",
        "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c",  /* 你好，世界 */
        "bad \xc3\x28 utf-8 \xf0\x9f\x98 \xff\xfe\xfd\xfc\x80\x81",
        "\xe4\xb8",
        "\x00\x01\x02\x03",
    };
    static const size_t lens[] = {0, 0, 0, 2, 4};
    int32_t ids[256];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = lens[i] ? lens[i] : strlen(texts[i]);
        int k = round_trip(tok, texts[i], n, ids, 256);
        assert_true(k >= 1 && (size_t)k <= n);
    }
    /* single bytes are tokens 1..256; ids without bytes and outside the vocab */
    size_t len;
    const uint8_t *b = rwkv_tok_token_bytes(tok, 256, &len);
    assert_int_equal(len, 1);
    assert_int_equal(b[0], 0xff);
    assert_null(rwkv_tok_token_bytes(tok, 0, &len));
    assert_null(rwkv_tok_token_bytes(tok, 65530, &len));
    rwkv_tok_free(tok);
}

static void test_decode_limits(void **state) {
    rwkv_tokenizer *tok;
    rd_error err;
    assert_int_equal(rwkv_tok_parse_world(SMALL_VOCAB, strlen(SMALL_VOCAB), "small.txt", &tok, &err), RD_OK);
    int32_t ids[] = {4, 0, 8, 3};
    char out[8];
    size_t len = 99;
    memset(out, '#', sizeof out);
    /* too small: the first 4 bytes, and the whole length */
    assert_int_equal(rwkv_tok_decode(tok, ids, 4, out, 4, &len, &err), RD_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(out, "abc\xe4#", 5);
    assert_int_equal(rwkv_tok_decode(tok, ids, 4, out, sizeof out, &len, &err), RD_OK);
    assert_memory_equal(out, "abc\xe4\xb8\xad" "ab", 8);
    int32_t bad[] = {1, 2, 24};
    assert_int_equal(rwkv_tok_decode(tok, bad, 3, out, sizeof out, &len, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "token id 24 (at index 2) is outside the vocabulary (0 to 23)");
    assert_int_equal(len, 0);
    bad[0] = -5;
    assert_int_equal(rwkv_tok_decode(tok, bad, 1, NULL, 0, &len, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "token id -5 (at index 0) is outside the vocabulary (0 to 23)");
    rwkv_tok_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_tokenizer),
        cmocka_unit_test(test_model_rows_checked),
        cmocka_unit_test(test_small_vocab_literals),
        cmocka_unit_test(test_small_vocab_greedy),
        cmocka_unit_test(test_malformed_vocab),
        cmocka_unit_test(test_load_errors_name_the_file),
        cmocka_unit_test(test_world_matches_rwkv_package),
        cmocka_unit_test(test_world_round_trips),
        cmocka_unit_test(test_decode_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

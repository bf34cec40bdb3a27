/* tests/fuzz/fuzz_json_line.c - libFuzzer target for cli_json_output_line,
 * the reader of rwkv-decode's own JSON lines that --resume trusts.
 * Seeds: tests/fuzz/corpus/fuzz_json_line/ (our lines, cut and glued ones). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each line alone: an accepted line has an id no longer than the line; the
 * id written back with cli_json_string is read back the same. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *id = NULL;
        int is_error = 0;
        int r = cli_json_output_line(p, n, &id, &is_error);
        if (r == 1 && (!id || strlen(id) > n)) __builtin_trap();
        if (r != 1 && id) __builtin_trap();
        if (r == 1) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            if (f) {
                fputs("{\"utt\":", f);
                cli_json_string(f, id);
                fputs("}", f);
                fclose(f);
                char *again = NULL;
                if (cli_json_output_line(buf, len, &again, &is_error) != 1 || strcmp(again, id) != 0)
                    __builtin_trap();
                free(again);
                free(buf);
            }
        }
        free(id);
        p += n + (nl != NULL);
    }
    return 0;
}

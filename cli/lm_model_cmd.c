/* Placeholder until the RWKV runtime lands; replaced by the real command. */
#include "cli/lm_model_cmd.h"

#include <stdio.h>

int rwkv_lm_model_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "rwkv-lm: --model: the RWKV runtime is not built yet\n");
    return 2;
}

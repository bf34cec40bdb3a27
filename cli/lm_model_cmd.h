/* cli/lm_model_cmd.h - rwkv-lm's RWKV mode (--model), called by cli/rwkv_lm.c
 * when --model is given. Returns the process exit code. */
#ifndef RD_LM_MODEL_CMD_H
#define RD_LM_MODEL_CMD_H

int rwkv_lm_model_main(int argc, char **argv);

#endif

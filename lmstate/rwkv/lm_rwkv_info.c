/* lmstate/rwkv/lm_rwkv_info.c - lm_rwkv.h: the RWKV model behind an LM and
 * its state-file info (state_file.h stays model-neutral). */
#include "lmstate/rwkv/lm_rwkv.h"

#include <string.h>

#include "lmstate/lm_impl.h"

const rwkv_model *lm_rwkv(const lm_model *m) { return m->rwkv; }

rd_status sf_info_of_model(const rwkv_model *m, sf_model_info *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    rwkv_kind_info kinds[RWKV_MAX_KINDS];
    out->fingerprint = rwkv_fingerprint(m);
    out->rwkv_version = rwkv_version(m);
    out->n_layer = rwkv_n_layer(m);
    out->n_embd = rwkv_n_embd(m);
    out->head_size = rwkv_head_size(m);
    out->n_vocab = rwkv_n_vocab(m);
    out->n_kinds = rwkv_state_kinds(m, kinds);
    for (int k = 0; k < out->n_kinds; k++) {
        if (strlen(kinds[k].name) >= SF_KIND_NAME_MAX)
            return rd_fail(err, RD_ERR_INTERNAL, "state kind name '%s' is longer than %d bytes", kinds[k].name,
                           SF_KIND_NAME_MAX - 1);
        strcpy(out->kind_name[k], kinds[k].name);
        out->kind_size[k] = kinds[k].size;
        out->kind_row[k] = strcmp(kinds[k].name, "wkv") == 0 && out->head_size > 0 ? (uint64_t)out->head_size
                                                                                   : kinds[k].size;
        out->kind_init[k] = kinds[k].init;
    }
    return RD_OK;
}

/* lmstate/rwkv/rwkv_tokenizer.h - RWKV tokenizers: byte-level and "World".
 *
 * Byte-level: 256 tokens, token id = byte value.
 *
 * World (rwkv_vocab_v20230424.txt): one token a line,
 *   id <python literal> byte_length
 * where the literal is a Python str ('abc', "a'b", with escapes \\ \' \" \n
 * \t \r \a \b \f \v \ooo \xHH \uHHHH \UHHHHHHHH; encoded as UTF-8) or a
 * bytes literal (b'\xe4\xb8'), and byte_length is its length in bytes. Ids
 * are 0..RWKV_TOK_MAX_ID, each at most once, with distinct non-empty bytes;
 * the vocabulary size is the largest id + 1 (65530 for the World file, whose
 * id 0, <|endoftext|>, has no bytes).
 *
 * Encoding is the rwkv package's TRIE_TOKENIZER.encodeBytes: from left to
 * right, take the longest token whose bytes start at the current position.
 * It works on bytes, so text need not be valid UTF-8; the World vocabulary
 * has all 256 single bytes, so every input encodes.
 *
 * A tokenizer is immutable after creation and may be shared by threads. */
#ifndef RD_RWKV_TOKENIZER_H
#define RD_RWKV_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define RWKV_TOK_MAX_ID 1048575       /* largest token id a vocab file may use */
#define RWKV_TOK_MAX_BYTES 65535      /* longest token, in bytes */

typedef struct rwkv_tokenizer rwkv_tokenizer;

/* The byte-level tokenizer (vocab size 256). */
rd_status rwkv_tok_create_bytes(rwkv_tokenizer **out, rd_error *err);

/* Loads a World vocabulary file. Errors name the file and line:
 * "vocab.txt:123: expected a byte length of 3, found 2". */
rd_status rwkv_tok_load_world(const char *path, rwkv_tokenizer **out, rd_error *err);

/* The same from n bytes in memory (need not be NUL-terminated); name is used
 * in messages only. */
rd_status rwkv_tok_parse_world(const char *buf, size_t n, const char *name,
                               rwkv_tokenizer **out, rd_error *err);

void rwkv_tok_free(rwkv_tokenizer *tok);

/* RD_OK when a model with n_vocab logit rows covers every id the tokenizer
 * emits; else RD_ERR_INPUT naming the model and both sizes. */
rd_status rwkv_tok_check_model(const rwkv_tokenizer *tok, int n_vocab, const char *model, rd_error *err);

/* Largest token id + 1. */
int rwkv_tok_vocab_size(const rwkv_tokenizer *tok);

/* 1 for the byte-level tokenizer, 0 for a vocabulary file. */
int rwkv_tok_is_bytes(const rwkv_tokenizer *tok);

/* The bytes of token id (owned by tok, not NUL-terminated) and their count in
 * *len; NULL (and *len = 0) for an id outside the vocabulary or without bytes.
 * len may be NULL. */
const uint8_t *rwkv_tok_token_bytes(const rwkv_tokenizer *tok, int32_t id, size_t *len);

/* Encodes len bytes. Writes the first min(count, max_out) token ids to out
 * (out may be NULL when max_out is 0) and returns count, the number of tokens
 * of the whole input: a return value above max_out means out was too small
 * (call again with that many). Returns -(pos + 1) when no token starts with
 * the byte at offset pos (only for a vocabulary missing some single bytes;
 * the rwkv package raises an error there), and INT_MIN when len > INT_MAX.
 * Does not allocate. */
int rwkv_tok_encode(const rwkv_tokenizer *tok, const void *bytes, size_t len,
                    int32_t *out, int max_out);

/* Decodes n token ids into out: writes the first min(total, cap) bytes
 * (out may be NULL when cap is 0) and sets *out_len to total, the byte count
 * of the whole text (no NUL is added; total > cap means out was too small).
 * Ids inside the vocabulary without bytes (World id 0) add nothing. Fails
 * with RD_ERR_INPUT on an id outside 0..vocab size - 1:
 * "token id 70000 (at index 2) is outside the vocabulary (0 to 65529)";
 * *out_len is then 0. */
rd_status rwkv_tok_decode(const rwkv_tokenizer *tok, const int32_t *ids, int n,
                          char *out, size_t cap, size_t *out_len, rd_error *err);

#endif

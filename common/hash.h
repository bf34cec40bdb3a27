/* common/hash.h - FNV-1a, the one hash the project uses: 64 bits for file
 * checksums and fingerprints (their values are part of the state file
 * format: do not change them), 32 or 64 bits for in-memory tables.
 *
 * Chain calls to hash several pieces: h = rd_fnv1a64(RD_FNV64_OFFSET, a, n);
 * h = rd_fnv1a64(h, b, m) equals one call over a then b. Tables that take
 * the low bits of a hash of short keys may mix it first (h ^ h >> 29). */
#ifndef RD_HASH_H
#define RD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define RD_FNV64_OFFSET 14695981039346656037ull
#define RD_FNV64_PRIME 1099511628211ull
#define RD_FNV32_OFFSET 2166136261u
#define RD_FNV32_PRIME 16777619u

/* 64-bit FNV-1a of n bytes at p, continuing from h. */
static inline uint64_t rd_fnv1a64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * RD_FNV64_PRIME;
    return h;
}

/* 32-bit FNV-1a of n bytes at p, continuing from h. */
static inline uint32_t rd_fnv1a32(uint32_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * RD_FNV32_PRIME;
    return h;
}

#endif

// kernels/x86/amx_x86: what the two AMX GEMMs share (qgemm_amx.c: int8 tiles, qgemm_bf16_amx.c: bf16
// tiles): the tile configuration's layout and the weight kinds they take.
#ifndef QW_AMX_X86_H
#define QW_AMX_X86_H

#include "r16_x86.h"

#include <stdalign.h>

#define QW_AMX_TOK 16 // tokens per A tile
#define K_Q4_K 3      // next to r16_x86.h's kinds of 32-element blocks

// LDTILECFG's 64 bytes. Each GEMM keeps its configuration a constant in memory: built on the stack, gcc 12
// dropped the stores that ldtilecfg reads (it kept only the first byte), and the first tile load then
// faulted as unconfigured.
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} qw_amx_tile_config;

// The r16 weight types the AMX GEMMs take, as r16_x86.h's kinds (-1: none).
static inline int qw_amx_kind(qw_type t) {
    switch (t) {
    case QW_TYPE_Q4_0: return K_Q4_0;
    case QW_TYPE_IQ4_NL: return K_IQ4_NL;
    case QW_TYPE_Q8_0: return K_Q8_0;
    case QW_TYPE_Q4_K: return K_Q4_K;
    default: return -1;
    }
}

#endif

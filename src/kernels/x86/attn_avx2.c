// kernels/x86/attn_avx2: the plain-C attention tiles (attn_tile.inc) compiled for AVX2 + FMA.
#include "../kernels_impl.h"

#define QW_ATTN_FN qw_attn_rows_avx2
#include "../attn_tile.inc"

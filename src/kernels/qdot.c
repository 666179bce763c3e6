// kernels/qdot: the generic multi-token dot of each quantized weight type (the reference dots of
// quant_dot.c, one token at a time), which any level without its own kernel for a type falls back to.
#include "kernels_impl.h"

#define QDOT_GENERIC(name, ref)                                                                        \
    void name(int64_t k, const void *w, const void *a, size_t as, int nt, float *y, int64_t ys) {     \
        for (int t = 0; t < nt; t++) y[t * ys] = ref(k, w, (const char *)a + (size_t)t * as);         \
    }

QDOT_GENERIC(qw_qdot_q8_0_generic, qw_vec_dot_q8_0_ref)
QDOT_GENERIC(qw_qdot_q4_0_generic, qw_vec_dot_q4_0_ref)
QDOT_GENERIC(qw_qdot_iq4_nl_generic, qw_vec_dot_iq4_nl_ref)
QDOT_GENERIC(qw_qdot_q4_k_generic, qw_vec_dot_q4_k_ref)
QDOT_GENERIC(qw_qdot_q5_k_generic, qw_vec_dot_q5_k_ref)
QDOT_GENERIC(qw_qdot_q6_k_generic, qw_vec_dot_q6_k_ref)

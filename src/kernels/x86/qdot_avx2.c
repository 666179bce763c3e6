// kernels/x86/qdot_avx2: the quantized dots with AVX2 (vpmaddubsw + vpmaddwd; signed weight codes by
// the sign trick), for CPUs without AVX-512 VNNI. The body is qdot_x86.h.
#define QDOT_ISA avx2
#include "qdot_x86.h"

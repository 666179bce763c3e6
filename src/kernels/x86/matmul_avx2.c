// kernels/x86/matmul_avx2: matmul for F32/F16/BF16 weights with AVX2 + FMA + F16C, everything in f32.
#include "../kernels_impl.h"

#include <immintrin.h>

void qw_mm_plan_avx2(qw_mm *mm) { (void)mm; }

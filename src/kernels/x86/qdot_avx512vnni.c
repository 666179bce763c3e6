// kernels/x86/qdot_avx512vnni: the quantized dots with AVX-512 VNNI on 256-bit vectors (vpdpbusd: u8 x s8
// summed into int32 with no 16-bit saturation, so every type's codes go in unsigned). Body: qdot_x86.h.
// Also the AVX-512 VNNI level's table: those dots, and its planner for quantized weights.
#define QDOT_ISA vnni
#define QDOT_VNNI 1
#include "qdot_x86.h"

// The GEMM for many tokens (qgemm_avx512vnni.c); else the r16 decode kernels (qr16_avx512vnni.c); else
// (row layout) the dots above through qw_mm_plan_quant at the levels below.
static void plan(qw_mm *mm) {
    if (!qw_type_get((int)mm->wtype)->is_quantized) return;
    qw_mm_plan_qgemm_vnni(mm);
    if (!mm->rows) qw_mm_plan_r16_vnni(mm);
}

const qw_kernel_table qw_kernels_avx512vnni = {.mm_plan = plan, .qdot = QW_QDOT_TABLE(vnni)};

// kernels/x86/qdot_avx512vnni: the quantized dots with AVX-512 VNNI on 256-bit vectors (vpdpbusd: u8 x s8
// summed into int32 with no 16-bit saturation, so every type's codes go in unsigned). Body: qdot_x86.h.
#define QDOT_ISA vnni
#define QDOT_VNNI 1
#include "qdot_x86.h"

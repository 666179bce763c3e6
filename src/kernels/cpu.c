// kernels/cpu: what this CPU can run (cpuid + xgetbv) and the one place where kernels are chosen:
// the level in force resolves each kernel to the highest table that has it.
#include "kernels_impl.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QW_X86 1
#endif

static qw_cpu_features g_hw;   // what the CPU and OS support
static qw_cpu_features g_feat; // g_hw capped by the level in force
static int g_max_level, g_level;
static qw_kernel_active g_active;
static char g_desc[64];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#ifdef QW_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(qw_cpu_features *f) {
    unsigned a, b, c, d;
    memset(f, 0, sizeof *f);
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    char vendor[13] = {0}; // leaf 0: the vendor string in ebx, edx, ecx
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    const int amd = !strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine");
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const unsigned base_family = (a >> 8) & 0xf, family = base_family + (base_family == 0xf ? (a >> 20) & 0xff : 0);
    // AMD's 512-bit width: family 19h with AVX-512 is Zen 4 (two 256-bit halves); later parts say it in
    // Fn8000_001A EAX bit 2, "FP256" (this Zen 5 EPYC, full width, reports 0)
    unsigned ea, eb, ec, ed;
    const int fp256 = __get_cpuid(0x8000001a, &ea, &eb, &ec, &ed) && ((ea >> 2) & 1);
    f->zmm_halves = amd && (family == 0x19 || fp256);
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return;
    uint64_t xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
    int zmm_ok = (xcr0 & 0xe6) == 0xe6; // plus opmask, upper zmm0-15, zmm16-31
    if (!ymm_ok || __get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned ebx7 = b, ecx7 = c, edx7 = d;
    f->avx2 = (ebx7 >> 5) & 1;
    f->fma = fma;
    f->f16c = f16c;
    if (zmm_ok) {
        f->avx512f = (ebx7 >> 16) & 1;
        f->avx512dq = (ebx7 >> 17) & 1;
        f->avx512bw = (ebx7 >> 30) & 1;
        f->avx512vl = (ebx7 >> 31) & 1;
        f->avx512vnni = (ecx7 >> 11) & 1;
        __cpuid_count(7, 1, a, b, c, d);
        f->avx512bf16 = (a >> 5) & 1;
    }
    // AMX-TILE, -INT8 and -BF16, the OS saving tile config and data (XCR0 bits 17, 18), and its permission
    f->amx = zmm_ok && ((edx7 >> 24) & 1) && ((edx7 >> 25) & 1) && ((edx7 >> 22) & 1) && (xcr0 & 0x60000) == 0x60000 &&
             qw_amx_enable();
}
#else
static void detect(qw_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

static int level_of(const qw_cpu_features *f) {
    if (!(f->avx2 && f->fma && f->f16c)) return QW_ISA_SCALAR;
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq)) return QW_ISA_AVX2;
    if (!f->avx512vnni) return QW_ISA_AVX512;
    if (!f->avx512bf16) return QW_ISA_AVX512_VNNI;
    return f->amx ? QW_ISA_AMX : QW_ISA_AVX512_BF16;
}

static const qw_kernel_table *table_of(int level) {
#ifdef QW_X86
    switch (level) {
    case QW_ISA_AVX2: return &qw_kernels_avx2;
    case QW_ISA_AVX512: return &qw_kernels_avx512;
    case QW_ISA_AVX512_VNNI: return &qw_kernels_avx512vnni;
    case QW_ISA_AVX512_BF16: return &qw_kernels_avx512bf16;
    case QW_ISA_AMX: return &qw_kernels_amx;
    }
#endif
    (void)level;
    return &qw_kernels_generic;
}

static void apply_level(int level) {
    if (level > g_max_level) level = g_max_level;
    if (level < QW_ISA_SCALAR) level = QW_ISA_SCALAR;
    g_level = level;
    g_feat = g_hw;
    if (level < QW_ISA_AMX) g_feat.amx = 0;
    if (level < QW_ISA_AVX512_BF16) g_feat.avx512bf16 = 0;
    if (level < QW_ISA_AVX512_VNNI) g_feat.avx512vnni = 0;
    if (level < QW_ISA_AVX512)
        g_feat.avx512f = g_feat.avx512bw = g_feat.avx512vl = g_feat.avx512dq = 0;
    if (level < QW_ISA_AVX2) g_feat.avx2 = g_feat.fma = g_feat.f16c = 0;

    qw_kernel_active a;
    memset(&a, 0, sizeof a);
    for (int l = level; l >= QW_ISA_SCALAR; l--) {
        const qw_kernel_table *t = table_of(l);
        if (l > QW_ISA_SCALAR && t == &qw_kernels_generic) continue;
        if (t->mm_plan) a.mm_plan[a.n_plan++] = t->mm_plan;
        for (int q = 0; q < QW_TYPE_COUNT; q++)
            if (!a.qdot[q]) a.qdot[q] = t->qdot[q];
        if (!a.dot) a.dot = t->dot;
        if (!a.axpy) a.axpy = t->axpy;
        if (!a.scale) a.scale = t->scale;
        if (!a.attn) a.attn = t->attn;
        if (!a.silu_mul) a.silu_mul = t->silu_mul;
        if (!a.act_quant) a.act_quant = t->act_quant;
        if (!a.read[0]) memcpy(a.read, t->read, sizeof a.read);
    }
    g_active = a;

    if (level >= QW_ISA_AVX512) {
        snprintf(g_desc, sizeof g_desc, "avx512%s%s%s%s%s", g_feat.avx512vnni || g_feat.avx512bf16 ? " (" : "",
                 g_feat.avx512vnni ? "vnni" : "", g_feat.avx512vnni && g_feat.avx512bf16 ? " " : "",
                 g_feat.avx512bf16 ? "bf16" : "", g_feat.avx512vnni || g_feat.avx512bf16 ? (g_feat.amx ? " amx)" : ")") : "");
    } else {
        snprintf(g_desc, sizeof g_desc, "%s", level == QW_ISA_AVX2 ? "avx2 (fma f16c)" : "scalar");
    }
}

static void init_once(void) {
    detect(&g_hw);
    g_max_level = level_of(&g_hw);
    int level = g_max_level;
    const char *e = getenv("QWICK_ISA");
    if (e && *e) {
        if (!strcmp(e, "scalar") || !strcmp(e, "generic")) level = QW_ISA_SCALAR;
        else if (!strcmp(e, "avx2")) level = QW_ISA_AVX2;
        else if (!strcmp(e, "avx512f")) level = QW_ISA_AVX512;
        else if (!strcmp(e, "avx512vnni")) level = QW_ISA_AVX512_VNNI;
        else if (!strcmp(e, "avx512")) level = QW_ISA_AVX512_BF16;
        else if (!strcmp(e, "amx")) level = QW_ISA_AMX;
        else qw_warn("QWICK_ISA=%s not known (scalar, avx2, avx512f, avx512vnni, avx512, amx); using the best level",
                     e);
    }
    apply_level(level);
}

const qw_cpu_features *qw_cpu(void) {
    pthread_once(&g_once, init_once);
    return &g_feat;
}

const char *qw_cpu_describe(void) {
    pthread_once(&g_once, init_once);
    return g_desc;
}

int qw_cpu_level(void) {
    pthread_once(&g_once, init_once);
    return g_level;
}

int qw_cpu_max_level(void) {
    pthread_once(&g_once, init_once);
    return g_max_level;
}

int qw_cpu_set_level(int level) {
    pthread_once(&g_once, init_once);
    apply_level(level);
    return g_level;
}

int qw_cpu_set_zmm_halves(int halves) {
    pthread_once(&g_once, init_once);
    int was = g_hw.zmm_halves;
    g_hw.zmm_halves = g_feat.zmm_halves = halves != 0;
    return was;
}

const char *qw_cpu_level_name(int level) {
    static const char *names[] = {"scalar", "avx2", "avx512f", "avx512vnni", "avx512", "amx"};
    return level >= 0 && level <= QW_ISA_AMX ? names[level] : "?";
}

const qw_kernel_active *qw_kernels(void) {
    pthread_once(&g_once, init_once);
    return &g_active;
}

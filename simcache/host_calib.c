/* simcache host: calibration loops. One measurement per run:
 *   calib MODE ITERS REPS [BYTES]
 * prints the least time of REPS runs in nanoseconds per operation (per add, per load, ...),
 * or for copy/triad the most bytes per second (STREAM counting). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define OPAQUE(x) __asm__ volatile("" : "+r"(x))
#define R4(s) s s s s
#define R16(s) R4(s) R4(s) R4(s) R4(s)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static volatile float fsink;
static volatile float fone = 1.0f; /* a multiplier the compiler cannot fold away */
static volatile uint64_t isink;

static double intadd(long n, uint64_t y) { /* n x 16 dependent integer adds */
    uint64_t x = y;
    double t = now();
    for (long i = 0; i < n; i++) { R16(x += y; OPAQUE(x);) }
    t = now() - t;
    isink = x;
    return t / (n * 16.0);
}

static double intops(long n, uint64_t y) { /* n x 8 x 8 independent integer adds */
    uint64_t a = y, b = y, c = y, d = y, e = y, f = y, g = y, h = y;
    double t = now();
    for (long i = 0; i < n; i++) {
        R4(a += y; b += y; c += y; d += y; e += y; f += y; g += y; h += y;
           OPAQUE(a); OPAQUE(b); OPAQUE(c); OPAQUE(d); OPAQUE(e); OPAQUE(f); OPAQUE(g);
           OPAQUE(h);
           a += y; b += y; c += y; d += y; e += y; f += y; g += y; h += y;
           OPAQUE(a); OPAQUE(b); OPAQUE(c); OPAQUE(d); OPAQUE(e); OPAQUE(f); OPAQUE(g);
           OPAQUE(h);)
    }
    t = now() - t;
    isink = a + b + c + d + e + f + g + h;
    return t / (n * 64.0);
}

static double fpadd(long n, float y) { /* n x 16 dependent fp32 adds (no reassociation) */
    float x = y;
    double t = now();
    for (long i = 0; i < n; i++) { R16(x = x + y;) }
    t = now() - t;
    fsink = x;
    return t / (n * 16.0);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("fma")))
#endif
static double fma_chain(long n, float a, float b) { /* n x 16 dependent fp32 FMAs */
    float x = b;
    double t = now();
    for (long i = 0; i < n; i++) { R16(x = __builtin_fmaf(x, a, b);) }
    t = now() - t;
    fsink = x;
    return t / (n * 16.0);
}

/* n x 12 independent FMAs on vectors of `lanes` fp32 (GCC/Clang vector extensions,
 * contracted to FMA instructions in a function compiled for the ISA): the FMA throughput */
#define VFMA(NAME, LANES, TARGET) \
    TARGET static double NAME(long n, float s) { \
        typedef float v __attribute__((vector_size(4 * LANES))); \
        v a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, m, c; \
        for (int k = 0; k < LANES; k++) { \
            a0[k] = a1[k] = a2[k] = a3[k] = a4[k] = a5[k] = s; \
            a6[k] = a7[k] = a8[k] = a9[k] = a10[k] = a11[k] = s; \
            m[k] = fone; c[k] = s; \
        } \
        double t = now(); \
        for (long i = 0; i < n; i++) { \
            R4(a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c; \
               a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c; \
               a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;) \
        } \
        t = now() - t; \
        v sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11; \
        fsink = sum[0]; \
        return t / (n * 48.0); \
    }
#if defined(__x86_64__) || defined(__i386__)
VFMA(vfma512, 16, __attribute__((target("avx512f,fma"))))
VFMA(vfma256, 8, __attribute__((target("avx2,fma"))))
VFMA(vfma128, 4, __attribute__((target("fma"))))
#else
VFMA(vfma128, 4, )
#endif

/* Reading a buffer with the widest loads, 8 accumulators: bytes per nanosecond of `passes`
 * passes (the level the buffer sits in is what bounds it) */
#define VREAD(NAME, LANES, TARGET) \
    TARGET static double NAME(const float *buf, size_t n, long passes) { \
        typedef float v __attribute__((vector_size(4 * LANES))); \
        const v *p = (const v *)buf; \
        size_t m = n / LANES / 8 * 8; \
        v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0}; \
        double t = now(); \
        for (long r = 0; r < passes; r++) \
            for (size_t i = 0; i < m; i += 8) { \
                a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3]; \
                a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7]; \
            } \
        t = now() - t; \
        v sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7; \
        fsink = sum[0]; \
        return (double)passes * m * 4 * LANES / t; \
    }
#if defined(__x86_64__) || defined(__i386__)
VREAD(read512, 16, __attribute__((target("avx512f"))))
VREAD(read256, 8, __attribute__((target("avx2"))))
VREAD(read128, 4, )
#else
VREAD(read128, 4, )
#endif

static double stfwd(long n, float y) { /* n x 16 x (load, fp32 add, store) of one address */
    static volatile float cell;
    cell = y;
    double t = now();
    for (long i = 0; i < n; i++) { R16(cell = cell + y;) }
    t = now() - t;
    return t / (n * 16.0);
}

/* chains through memory (docs/model.md §4): 1024 outputs, each y[o] += w[t] * x[o + t] for
   t < L, t innermost, with a never-taken bound test inside that keeps y in memory at -O2 (as
   simcache.native's skipped taps): L dependent store->load steps per output, the outputs'
   chains independent. Returns the time of one iteration (one step). */
static float mc_x[1024 + 64], mc_w[64], mc_y[1024];
static volatile long mc_lim = 1024 + 64;
__attribute__((noinline)) static void mc_body(const float *restrict x, const float *restrict w,
                                              float *restrict yy, long L, long lim) {
    for (long o = 0; o < 1024; o++)
        for (long t = 0; t < L; t++) {
            if (o + t >= lim) continue;
            yy[o] += w[t] * x[o + t];
        }
}
static double memchain(long n, long L) {
    for (long k = 0; k < 1024 + 64; k++) mc_x[k] = 1e-3f * (float)(k % 7);
    for (long k = 0; k < 64; k++) mc_w[k] = 0.5f;
    double t = now();
    for (long i = 0; i < n; i++) mc_body(mc_x, mc_w, mc_y, L, mc_lim);
    t = now() - t;
    fsink = mc_y[5];
    return t / ((double)n * 1024.0 * (double)L);
}

static volatile int small[1024];

/* n x 32 independent loads hitting L1: `stride` ints apart (1: consecutive elements, as a
 * loop nest reads them; 16: a new 64 B line each) */
#define LD(k) r = small[(k) * S]; OPAQUE(r);
#define LOADS(S) \
    static double loads_##S(long n) { \
        double t = now(); \
        for (long i = 0; i < n; i++) { \
            int r; \
            LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) \
            LD(12) LD(13) LD(14) LD(15) LD(16) LD(17) LD(18) LD(19) LD(20) LD(21) LD(22) \
            LD(23) LD(24) LD(25) LD(26) LD(27) LD(28) LD(29) LD(30) LD(31) \
        } \
        return (now() - t) / (n * 32.0); \
    }
#define ST(k) small[(k) * S] = y;
#define STORES(S) \
    static double stores_##S(long n, int y) { \
        double t = now(); \
        for (long i = 0; i < n; i++) { \
            ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10) ST(11) \
            ST(12) ST(13) ST(14) ST(15) ST(16) ST(17) ST(18) ST(19) ST(20) ST(21) ST(22) \
            ST(23) ST(24) ST(25) ST(26) ST(27) ST(28) ST(29) ST(30) ST(31) \
        } \
        return (now() - t) / (n * 32.0); \
    }
#define S 1
LOADS(1) STORES(1)
#undef S
#define S 16
LOADS(16) STORES(16)
#undef S

static double nops(long n) { /* n x 64 nops: the rate the front end issues micro-ops */
    double t = now();
    for (long i = 0; i < n; i++) __asm__ volatile(".rept 64\n\tnop\n\t.endr");
    return (now() - t) / (n * 64.0);
}

static void *big(size_t bytes) {
    size_t align = 2u << 20;
    size_t size = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, size);
    if (!p) { fprintf(stderr, "calib: cannot allocate %zu bytes\n", bytes); exit(3); }
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    memset(p, 0, size);
    return p;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* a pointer chase over a random cyclic permutation of the buffer's 64 B lines */
static double chase(size_t bytes, long n, int reps) {
    size_t lines = bytes / 64;
    char *buf = big(bytes);
    size_t *perm = malloc(lines * sizeof *perm);
    for (size_t i = 0; i < lines; i++) perm[i] = i;
    for (size_t i = lines - 1; i > 0; i--) { /* Sattolo: one cycle through every line */
        size_t j = next() % i, t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < lines; i++) *(void **)(buf + perm[i] * 64) = buf + perm[perm[i]] * 64;
    free(perm);
    void **p = (void **)buf;
    for (size_t i = 0; i < lines; i++) p = *p; /* once round: the buffer in the caches */
    double best = 1e300;
    for (int r = 0; r < reps; r++) {
        double t = now();
        for (long i = 0; i < n; i++) { R16(p = *p;) }
        t = (now() - t) / (n * 16.0);
        if (t < best) best = t;
    }
    isink = (uint64_t)(uintptr_t)p;
    return best;
}

/* The out-of-order window (H. Wong's method): two independent chases over a buffer far
 * beyond the caches, N nops between their loads. While the window holds a load, the N nops
 * and the other load, the two misses overlap (one miss a round); past it they queue (two).
 * rob_N: nanoseconds a round. */
#define NOPS(N) __asm__ volatile(".rept " #N "\n\tnop\n\t.endr" ::: "memory")
static void **rob_p, **rob_q; /* where the chases stand: every run goes on to new lines */
#define ROB_FN(N) \
    static double rob_##N(long n) { \
        void **p = rob_p, **q = rob_q; \
        double t = now(); \
        for (long i = 0; i < n; i++) { p = (void **)*p; NOPS(N); q = (void **)*q; NOPS(N); } \
        t = now() - t; \
        rob_p = p; \
        rob_q = q; \
        return t / n; \
    }
#define ROB_ALL(X) X(16) X(32) X(48) X(64) X(96) X(128) X(160) X(192) X(224) X(256) X(288) \
    X(320) X(352) X(384) X(416) X(448) X(480) X(512) X(544) X(576) X(608) X(640) X(704) \
    X(768) X(832) X(896) X(960) X(1024)
ROB_ALL(ROB_FN)

static void **cycle(char *buf, size_t lines) {
    size_t *perm = malloc(lines * sizeof *perm);
    for (size_t i = 0; i < lines; i++) perm[i] = i;
    for (size_t i = lines - 1; i > 0; i--) {
        size_t j = next() % i, t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < lines; i++) *(void **)(buf + perm[i] * 64) = buf + perm[perm[i]] * 64;
    free(perm);
    return (void **)buf;
}

static void rob(size_t bytes, long n, int reps) {
    size_t lines = bytes / 64;
    char *buf = big(bytes);
    rob_p = rob_q = cycle(buf, lines);
    for (size_t i = 0; i < lines / 2; i++) rob_q = *rob_q; /* the second chase: half a cycle on */
#define ROB_RUN(N) { \
        double best = 1e300; \
        for (int r = 0; r < reps; r++) { double t = rob_##N(n); if (t < best) best = t; } \
        printf("%d %.4f\n", N, best); }
    ROB_ALL(ROB_RUN)
}

/* STREAM's copy (c = a) and triad (a = b + s c): the most bytes per second, bytes counted
 * as STREAM counts them (copy 16 B, triad 24 B per element; write-allocate fills not counted) */
static double stream(int triad, size_t bytes, int reps) {
    size_t n = bytes / sizeof(double);
    double *a = big(bytes), *b = big(bytes), *c = big(bytes);
    for (size_t i = 0; i < n; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.5; }
    double best = 0, s = 3.0;
    for (int r = 0; r < reps; r++) {
        double t = now();
        if (triad)
            for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        else
            for (size_t i = 0; i < n; i++) c[i] = a[i];
        t = now() - t;
        double rate = (triad ? 24.0 : 16.0) * n / (t * 1e-9);
        if (rate > best) best = rate;
    }
    fsink = (float)(a[n / 2] + c[n / 3]);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: calib MODE ITERS REPS [BYTES]\n"); return 2; }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    int reps = atoi(argv[3]);
    size_t bytes = argc > 4 ? (size_t)atoll(argv[4]) : 0;
    uint64_t y = (uint64_t)argc - 3; /* 1 or 2, unknown to the compiler */
    float fy = (float)y * 1e-7f;
    if (!strcmp(mode, "rob")) { rob(bytes, n, reps); return 0; }
    if (!strncmp(mode, "read", 4)) { /* ITERS: passes over the buffer a run */
        float *buf = big(bytes);
        size_t count = bytes / sizeof(float);
        for (size_t i = 0; i < count; i++) buf[i] = 1.0f;
        double best = 0;
        for (int r = 0; r < reps + 1; r++) { /* the first run brings the buffer in */
            double rate;
#if defined(__x86_64__) || defined(__i386__)
            if (!strcmp(mode, "read512")) rate = read512(buf, count, n);
            else if (!strcmp(mode, "read256")) rate = read256(buf, count, n);
            else
#endif
            rate = read128(buf, count, n);
            if (r > 0 && rate > best) best = rate;
        }
        printf("%.6f\n", best);
        return 0;
    }
    if (!strcmp(mode, "chase")) { printf("%.6f\n", chase(bytes, n, reps)); return 0; }
    if (!strcmp(mode, "copy") || !strcmp(mode, "triad")) {
        printf("%.6e\n", stream(!strcmp(mode, "triad"), bytes, reps));
        return 0;
    }
    double best = 1e300;
    for (int r = 0; r < reps; r++) {
        double t;
        if (!strcmp(mode, "intadd")) t = intadd(n, y);
        else if (!strcmp(mode, "intops")) t = intops(n, y);
        else if (!strcmp(mode, "fpadd")) t = fpadd(n, fy);
        else if (!strcmp(mode, "fma")) t = fma_chain(n, 1.0f, fy);
        else if (!strcmp(mode, "stfwd")) t = stfwd(n, fy);
#if defined(__x86_64__) || defined(__i386__)
        else if (!strcmp(mode, "vfma512")) t = vfma512(n, fy);
        else if (!strcmp(mode, "vfma256")) t = vfma256(n, fy);
#endif
        else if (!strcmp(mode, "vfma128")) t = vfma128(n, fy);
        else if (!strcmp(mode, "loads")) t = loads_1(n);
        else if (!strcmp(mode, "loadlines")) t = loads_16(n);
        else if (!strcmp(mode, "stores")) t = stores_1(n, (int)y);
        else if (!strcmp(mode, "storelines")) t = stores_16(n, (int)y);
        else if (!strcmp(mode, "nops")) t = nops(n);
        else if (!strcmp(mode, "memchain") && bytes >= 1 && bytes <= 64)
            t = memchain(n, (long)bytes); /* BYTES: the chain's length L */
        else { fprintf(stderr, "calib: unknown mode %s\n", mode); return 2; }
        if (t < best) best = t;
    }
    printf("%.6f\n", best);
    return 0;
}

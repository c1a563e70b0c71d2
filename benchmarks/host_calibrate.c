/* Calibration loops behind benchmarks/host-ecm.yaml (helper ecm, issue 22): the clock, the
 * core: fields and the memory figures of this machine, each the best (min) of many short
 * runs (the machine is shared and loaded). Build and run:
 *     cc -O2 -o /tmp/host_calibrate benchmarks/host_calibrate.c && /tmp/host_calibrate
 * x86-64 only (inline assembly). Until `simcache host` writes a config of the machine. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
#define N 1000000L
#define REPS 300

int main(void)
{
    double best, cyc;
    best = 1e9;  /* dependent register adds: 1 cycle each (register operand: no rename folding) */
    for (int r = 0; r < REPS; r++) { long a = 0; double t0 = now();
        for (long i = 0; i < N; i++) __asm__ volatile(".rept 8\n\tadd %1, %0\n\t.endr" : "+r"(a) : "r"(i));
        double t = now() - t0; if (t < best) best = t; }
    cyc = best / (8.0 * N);
    printf("clock %.3f GHz (dependent integer adds)\n", 1e-9 / cyc);
    best = 1e9;
    for (int r = 0; r < REPS; r++) { float s = 1.0f; double t0 = now();
        for (long i = 0; i < N / 4; i++) __asm__ volatile(".rept 8\n\taddss %1, %0\n\t.endr" : "+x"(s) : "x"(1e-9f));
        double t = now() - t0; if (t < best) best = t; }
    printf("add_latency %.2f cycles (dependent addss)\n", best / (2.0 * N) / cyc);
    best = 1e9;
    for (int r = 0; r < REPS; r++) { float s = 1.0f; double t0 = now();
        for (long i = 0; i < N / 4; i++) __asm__ volatile(".rept 8\n\tvfmadd231ss %1, %1, %0\n\t.endr" : "+x"(s) : "x"(1e-9f));
        double t = now() - t0; if (t < best) best = t; }
    printf("fma_latency %.2f cycles (dependent vfmadd231ss)\n", best / (2.0 * N) / cyc);
    best = 1e9;
    for (int r = 0; r < REPS; r++) { float m[16] = {0}; float *p = m; double t0 = now();
        for (long i = 0; i < N / 4; i++) __asm__ volatile("movss (%0), %%xmm0\n\taddss %%xmm1, %%xmm0\n\tmovss %%xmm0, (%0)" : : "r"(p) : "xmm0", "xmm1", "memory");
        double t = now() - t0; if (t < best) best = t; }
    printf("load-addss-store chain %.2f cycles (store_forward_latency + add_latency)\n", best / (N / 4) / cyc);
    best = 1e9;
    for (int r = 0; r < REPS; r++) { double t0 = now();
        for (long i = 0; i < N; i++) __asm__ volatile(".rept 30\n\tnop\n\t.endr");
        double t = now() - t0; if (t < best) best = t; }
    printf("issue: %.2f nops per cycle\n", 32.0 * N / (best / cyc));
    static float buf[64];
    best = 1e9;
    for (int r = 0; r < REPS; r++) { double t0 = now();
        for (long i = 0; i < N; i++) __asm__ volatile(".rept 4\n\tmovss (%0), %%xmm0\n\tmovss 4(%0), %%xmm1\n\tmovss 8(%0), %%xmm2\n\tmovss 12(%0), %%xmm3\n\tmovss 16(%0), %%xmm4\n\tmovss 20(%0), %%xmm5\n\t.endr" : : "r"(buf) : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5");
        double t = now() - t0; if (t < best) best = t; }
    printf("loads: %.2f per cycle\n", 24.0 * N / (best / cyc));
    best = 1e9;
    for (int r = 0; r < REPS; r++) { double t0 = now();
        for (long i = 0; i < N; i++) __asm__ volatile(".rept 4\n\tmovss %%xmm0, (%0)\n\tmovss %%xmm1, 4(%0)\n\tmovss %%xmm2, 8(%0)\n\tmovss %%xmm3, 12(%0)\n\t.endr" : : "r"(buf) : "memory");
        double t = now() - t0; if (t < best) best = t; }
    printf("stores to 4 addresses: %.2f per cycle\n", 16.0 * N / (best / cyc));
    static float stream[4096];
    best = 1e9;  /* scalar stores to consecutive addresses through 16 KiB of L1, as a nest's y */
    for (int r = 0; r < REPS; r++) { double t0 = now();
        for (long i = 0; i < N / 256; i++) for (long j = 0; j < 4096; j += 16) __asm__ volatile(".irp k,0,4,8,12,16,20,24,28,32,36,40,44,48,52,56,60\n\tmovss %%xmm0, \\k(%0)\n\t.endr" : : "r"(stream + j) : "memory");
        double t = now() - t0; if (t < best) best = t; }
    printf("stores to consecutive addresses: %.2f per cycle\n", (N / 256) * 4096.0 / (best / cyc));
    long sizes[] = {32 << 10, 1 << 20, 16 << 20};
    for (int z = 0; z < 3; z++) {
        long n = sizes[z] / 64; long *p = aligned_alloc(64, n * 64); long *perm = malloc(n * sizeof(long));
        for (long i = 0; i < n; i++) perm[i] = i;
        srand(1); for (long i = n - 1; i > 0; i--) { long j = rand() % (i + 1); long t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        for (long i = 0; i < n; i++) p[perm[i] * 8] = perm[(i + 1) % n] * 8;
        long steps = 2000000, q = 0; best = 1e9;
        for (int r = 0; r < 5; r++) { double t0 = now(); for (long s = 0; s < steps; s++) q = p[q]; double t = now() - t0; if (t < best) best = t; }
        printf("random chase over %ld KiB: %.2f ns per load (%ld)\n", sizes[z] >> 10, best / steps * 1e9, q & 1);
        free(p); free(perm);
    }
    long n = (256L << 20) / 4; float *a = aligned_alloc(64, n * 4);
    for (long i = 0; i < n; i++) a[i] = 1;
    float s = 0; best = 1e9;
    for (int r = 0; r < 5; r++) { double t0 = now(); float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (long i = 0; i < n; i += 8) { s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3]; s4 += a[i + 4]; s5 += a[i + 5]; s6 += a[i + 6]; s7 += a[i + 7]; }
        s += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7; double t = now() - t0; if (t < best) best = t; }
    printf("read 256 MiB: %.2f GB/s (%g)\n", n * 4 / best / 1e9, s);
    return 0;
}

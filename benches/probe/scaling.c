/*
 * What two threads get on this machine, with no shared memory at all.
 *
 *     cc -O2 -pthread benches/probe/scaling.c -o target/scaling-probe
 *     target/scaling-probe
 *
 * Two register-only loops, each run in 41 rounds: one thread alone, then two
 * at once. A round's ratio is 2 x (one thread's time) / (the slower of the
 * two threads' time), which is how the contention runner times a point
 * (wall time to the last worker). Prints the median and the interquartile
 * range of the ratio over the rounds.
 *
 * - throughput-bound: 16 independent one-cycle ALU ops per iteration, the
 *   kind of code whose speed depends on how many instructions per cycle
 *   the core delivers (a fusebox call: 56 instructions, most of them
 *   independent of each other);
 * - latency-bound: a chain of dependent multiplies, whose speed does not.
 *
 * On the 2-vCPU benchmark VM the first scaled 1.60-1.80x and the second
 * 1.97-1.99x (BENCHMARKS.md, "Scaling"): each vCPU's speed varies on its
 * own, from outside the guest, and a point at two threads waits for the
 * slower one. x86-64 only (inline asm).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 41
#define N 50000000UL

static int kind;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *work(void *out) {
    uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8;
    double t0 = now();
    if (kind == 0) {
        for (uint64_t i = 0; i < N; i++) {
            __asm__ volatile(
                "add $1,%0\n\tadd $1,%1\n\tadd $1,%2\n\tadd $1,%3\n\t"
                "xor $3,%4\n\txor $3,%5\n\txor $3,%6\n\txor $3,%7\n\t"
                "add $1,%0\n\tadd $1,%1\n\tadd $1,%2\n\tadd $1,%3\n\t"
                "xor $3,%4\n\txor $3,%5\n\txor $3,%6\n\txor $3,%7\n\t"
                : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e), "+r"(f), "+r"(g), "+r"(h));
        }
    } else {
        for (uint64_t i = 0; i < N / 2; i++) {
            __asm__ volatile("imul %0,%0\n\timul %0,%0\n\timul %0,%0\n\timul %0,%0\n\t" : "+r"(a));
        }
    }
    *(double *)out = now() - t0;
    return (void *)(uintptr_t)(a + b + c + d + e + f + g + h);
}

static double one_thread(void) {
    double t;
    pthread_t x;
    pthread_create(&x, 0, work, &t);
    pthread_join(x, 0);
    return t;
}

static double two_threads(void) {
    double t, u;
    pthread_t x, y;
    pthread_create(&x, 0, work, &t);
    pthread_create(&y, 0, work, &u);
    pthread_join(x, 0);
    pthread_join(y, 0);
    return t > u ? t : u;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    double r[2][ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        for (kind = 0; kind < 2; kind++) {
            double a = one_thread();
            double b = two_threads();
            r[kind][i] = 2 * a / b;
        }
    }
    for (kind = 0; kind < 2; kind++) {
        qsort(r[kind], ROUNDS, sizeof(double), by_value);
        int met = 0;
        for (int i = 0; i < ROUNDS; i++) met += r[kind][i] >= 1.8;
        printf("%s: 2 / 1 threads median %.2f, IQR %.2f-%.2f, >= 1.8 in %d of %d rounds\n",
               kind ? "latency-bound (a multiply chain)  " : "throughput-bound (16 ALU ops/iter)",
               r[kind][ROUNDS / 2], r[kind][ROUNDS / 4], r[kind][3 * ROUNDS / 4], met, ROUNDS);
    }
    return 0;
}

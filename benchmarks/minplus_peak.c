/* Register-only fp32 add/min throughput: the ceiling of any min-plus (relaxation) kernel.
 *
 * A relaxation is acc = min(acc, x + w): one vaddps and one vminps per 8 lanes (AVX2).
 * `relax` runs 12 independent relaxations per loop trip on registers only (no loads or
 * stores), on every thread at once, and prints the total relaxations per second.
 * `mix A B` prints the issue rate of an even mix of two instructions (ops/ns), which shows
 * which instructions share execution pipes.
 *
 * Built and run by minplus_peak.py:  cc -O2 -mavx2 -pthread minplus_peak.c
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REP 20000000L

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define RELAX(t, acc, x) "vaddps %%ymm15, " x ", " t "\n\tvminps " t ", " acc ", " acc "\n\t"
#define RELAX6                                                                         \
  RELAX("%%ymm0", "%%ymm6", "%%ymm12") RELAX("%%ymm1", "%%ymm7", "%%ymm13")          \
  RELAX("%%ymm2", "%%ymm8", "%%ymm14") RELAX("%%ymm3", "%%ymm9", "%%ymm12")          \
  RELAX("%%ymm4", "%%ymm10", "%%ymm13") RELAX("%%ymm5", "%%ymm11", "%%ymm14")
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"

static double relax_rate[64];

static void *relax_thread(void *arg) {
  long id = (long)arg;
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double t = now();
    for (long i = 0; i < REP; i++) __asm__ volatile(RELAX6 RELAX6 ::: CLOBBER);
    double e = now() - t;
    if (e < best) best = e;
  }
  relax_rate[id] = REP * 12.0 * 8.0 / best;
  return NULL;
}

#define OP(ins, d) ins " %%ymm14, %%ymm15, " d "\n\t"
#define MIX(a, b)                                                                                  \
  OP(a, "%%ymm0") OP(b, "%%ymm1") OP(a, "%%ymm2") OP(b, "%%ymm3") OP(a, "%%ymm4") OP(b, "%%ymm5") \
  OP(a, "%%ymm6") OP(b, "%%ymm7") OP(a, "%%ymm8") OP(b, "%%ymm9") OP(a, "%%ymm10") OP(b, "%%ymm11")
#define MIXRUN(a, b)                                                                      \
  for (int r = 0; r < 5; r++) {                                                           \
    double t = now();                                                                     \
    for (long i = 0; i < REP; i++) __asm__ volatile(MIX(a, b) MIX(a, b) ::: CLOBBER);     \
    double e = now() - t;                                                                 \
    if (e < best) best = e;                                                               \
  }

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "relax") == 0) {
    int n = atoi(argv[2]);
    if (n < 1 || n > 64) return 2;
    pthread_t th[64];
    for (long i = 0; i < n; i++) pthread_create(&th[i], NULL, relax_thread, (void *)i);
    double total = 0;
    for (int i = 0; i < n; i++) {
      pthread_join(th[i], NULL);
      total += relax_rate[i];
    }
    printf("%.6e\n", total);
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "mix") == 0) {
    double best = 1e30;
    const char *a = argv[2], *b = argv[3];
    if (!strcmp(a, "add") && !strcmp(b, "add")) { MIXRUN("vaddps", "vaddps") }
    else if (!strcmp(a, "min") && !strcmp(b, "min")) { MIXRUN("vminps", "vminps") }
    else if (!strcmp(a, "add") && !strcmp(b, "min")) { MIXRUN("vaddps", "vminps") }
    else if (!strcmp(a, "add") && !strcmp(b, "mul")) { MIXRUN("vaddps", "vmulps") }
    else if (!strcmp(a, "min") && !strcmp(b, "mul")) { MIXRUN("vminps", "vmulps") }
    else return 2;
    printf("%.4f\n", REP * 24.0 / best / 1e9);
    return 0;
  }
  fprintf(stderr, "usage: %s relax NTHREADS | mix {add,min} {add,min,mul}\n", argv[0]);
  return 2;
}

/* Register-only fp32 add/min throughput: the ceiling of any min-plus (relaxation) kernel.
 *
 * A relaxation is acc = min(acc, x + w): one vaddps and one vminps per 8 lanes (AVX2).
 * `relax` runs 12 independent relaxations per loop trip on registers only (no loads or
 * stores), on every thread at once, and prints the total relaxations per second.
 * Rates are per CPU-second of each thread (thread CPU time, not wall time).
 * `relax N KIND ISA`: KIND = float (vaddps + vminps) or int (vaddps + vpminud: the minimum on
 * the bit patterns of non-negative floats, in the integer pipes); ISA = avx2 (ymm) or avx512
 * (zmm, only where the CPU has it). `isa` prints the widest ISA this CPU has (run time).
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

/* CPU time of the calling thread: a rate per CPU-second does not fall when other jobs share
 * the core (the time the thread is descheduled is not counted). */
static double thread_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define RELAX(t, acc, x) "vaddps %%ymm15, " x ", " t "\n\tvminps " t ", " acc ", " acc "\n\t"
#define RELAX6                                                                         \
  RELAX("%%ymm0", "%%ymm6", "%%ymm12") RELAX("%%ymm1", "%%ymm7", "%%ymm13")          \
  RELAX("%%ymm2", "%%ymm8", "%%ymm14") RELAX("%%ymm3", "%%ymm9", "%%ymm12")          \
  RELAX("%%ymm4", "%%ymm10", "%%ymm13") RELAX("%%ymm5", "%%ymm11", "%%ymm14")
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"

#define RELAXI(t, acc, x) "vaddps %%ymm15, " x ", " t "\n\tvpminud " t ", " acc ", " acc "\n\t"
#define RELAXI6                                                                        \
  RELAXI("%%ymm0", "%%ymm6", "%%ymm12") RELAXI("%%ymm1", "%%ymm7", "%%ymm13")          \
  RELAXI("%%ymm2", "%%ymm8", "%%ymm14") RELAXI("%%ymm3", "%%ymm9", "%%ymm12")          \
  RELAXI("%%ymm4", "%%ymm10", "%%ymm13") RELAXI("%%ymm5", "%%ymm11", "%%ymm14")
#define RELAXZ(ins, t, acc, x) "vaddps %%zmm15, " x ", " t "\n\t" ins " " t ", " acc ", " acc "\n\t"
#define RELAXZ6(ins)                                                                                 \
  RELAXZ(ins, "%%zmm0", "%%zmm6", "%%zmm12") RELAXZ(ins, "%%zmm1", "%%zmm7", "%%zmm13")            \
  RELAXZ(ins, "%%zmm2", "%%zmm8", "%%zmm14") RELAXZ(ins, "%%zmm3", "%%zmm9", "%%zmm12")            \
  RELAXZ(ins, "%%zmm4", "%%zmm10", "%%zmm13") RELAXZ(ins, "%%zmm5", "%%zmm11", "%%zmm14")

static double relax_rate[64];
static int relax_kind;  /* 0 float min, 1 integer min */
static int relax_isa;   /* 0 avx2, 1 avx512 */

__attribute__((target("avx512f"))) static void loop512(int kind) {
  if (kind)
    for (long i = 0; i < REP; i++) __asm__ volatile(RELAXZ6("vpminud") RELAXZ6("vpminud") ::: CLOBBER);
  else
    for (long i = 0; i < REP; i++) __asm__ volatile(RELAXZ6("vminps") RELAXZ6("vminps") ::: CLOBBER);
}

static void *relax_thread(void *arg) {
  long id = (long)arg;
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double t = thread_cpu();
    if (relax_isa)
      loop512(relax_kind);
    else if (relax_kind)
      for (long i = 0; i < REP; i++) __asm__ volatile(RELAXI6 RELAXI6 ::: CLOBBER);
    else
      for (long i = 0; i < REP; i++) __asm__ volatile(RELAX6 RELAX6 ::: CLOBBER);
    double e = thread_cpu() - t;
    if (e < best) best = e;
  }
  relax_rate[id] = REP * 12.0 * (relax_isa ? 16.0 : 8.0) / best;
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
    relax_kind = argc >= 4 && strcmp(argv[3], "int") == 0;
    relax_isa = argc >= 5 && strcmp(argv[4], "avx512") == 0;
    if (relax_isa && !__builtin_cpu_supports("avx512f")) return 3;
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
  if (argc >= 2 && strcmp(argv[1], "isa") == 0) {
    printf("%s\n", __builtin_cpu_supports("avx512f") ? "avx512" : "avx2");
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
  fprintf(stderr, "usage: %s relax NTHREADS [float|int] [avx2|avx512] | isa | mix {add,min} {add,min,mul}\n", argv[0]);
  return 2;
}

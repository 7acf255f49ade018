// CuPy RawKernel: one min-plus step of a layered DAG, register-tiled, with fused counting.
//
// Node-major layout (same contract as the Triton kernel, see docs/gpu.md):
//   out[j, s] = min(accumulate ? out[j, s] : inf, min_k w[k, j] + d[k, s])
// d [K, Sp] finalised distances (<= thr or +inf), w [K, Jp], out [Jp, Sp]; Sp and Jp multiples of
// 128, K a multiple of 16 (the driver pads with +inf); rows 16-byte aligned. Only sources
// s < S and targets j < J are stored and counted. With `finalize`, results > thr become +inf.
//
// Block: 16 x 16 threads, each an 8 x 8 micro-tile (two 4-wide halves per axis, 64 apart, so
// shared-memory reads are conflict-free 128-bit loads) -> a 128 x 128 output tile. K runs over
// 16-deep (float; 8 for double) shared tiles filled with cp.async (16-byte, L2-only) into a double buffer: the
// next tile streams in while the current one is consumed. A K tile whose distances are all +inf
// is skipped (`__syncthreads_or` on the barrier that is needed anyway). Per k each thread does
// 64 FADD + 64 FMNMX and four LDS.128.
//
// Counting (`count`): each finished finite value is placed by binary search in the radius table
// (bucket = number of radii < v; +inf never counted, even for an infinite radius) and added to a
// CTA-local histogram in dynamic shared memory [128][R + 1] when `hist_smem` (the launcher opts
// in above 48 KB), else straight to the global histogram; the block then flushes its non-zero
// bins with relaxed atomics to hist[s, bucket] (int32 [S, R + 1]). `flags` (float32 pass) marks a
// source when a value lies within a relative (gamma - gsrc[s]) of a positive radius.
//
// Grid: (Jp / 128, ceil(S / 128)) (J on axis 0). Global offsets are 64-bit.
// Two instantiations: layered_minplus_f32 (float) and layered_minplus_f64 (double, exact pass).

#define TILE 128
#define THREADS 256

template <typename T>
__device__ __forceinline__ T pos_inf();
template <>
__device__ __forceinline__ float pos_inf<float>() { return __int_as_float(0x7f800000); }
template <>
__device__ __forceinline__ double pos_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }

__device__ __forceinline__ float vmin(float a, float b) { return fminf(a, b); }
__device__ __forceinline__ double vmin(double a, double b) { return b < a ? b : a; }  // no NaN here

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// K-tile depth per element type (two stages of w and d tiles: 32 KB of static shared memory).
template <typename T>
struct TileK { static constexpr int value = 8; };
template <>
struct TileK<float> { static constexpr int value = 16; };

// One thread's share of the cp.async copies of a K tile: fixed (row, column) chunks whose global
// pointers advance by TK rows per tile (no index arithmetic in the K loop).
template <typename T>
struct TileCopy {
    static constexpr int TK = TileK<T>::value;
    static constexpr int PER_ROW = TILE * (int)sizeof(T) / 16;  // 16-byte chunks per tile row
    static constexpr int N = TK * PER_ROW / THREADS;            // chunks per thread and array
    const T* wg[N];
    const T* dg[N];
    int off[N];  // element offset inside a [TK][TILE] stage

    __device__ __forceinline__ TileCopy(const T* w, const T* d, long long j0, long long s0, long long stride_w,
                                        long long stride_d, int tid) {
#pragma unroll
        for (int i = 0; i < N; ++i) {
            const int c = tid + i * THREADS, r = c / PER_ROW, col = (c % PER_ROW) * (16 / (int)sizeof(T));
            wg[i] = w + r * stride_w + j0 + col;
            dg[i] = d + r * stride_d + s0 + col;
            off[i] = r * TILE + col;
        }
    }
    __device__ __forceinline__ void issue(T* ws, T* ds, long long step_w, long long step_d) {
#pragma unroll
        for (int i = 0; i < N; ++i) {
            cp_async16(ws + off[i], wg[i]);
            cp_async16(ds + off[i], dg[i]);
            wg[i] += step_w;
            dg[i] += step_d;
        }
    }
    // After the copy landed: is any of this thread's distances finite?
    __device__ __forceinline__ bool any_finite(const T* ds, T inf) const {
        bool any = false;
#pragma unroll
        for (int i = 0; i < N; ++i)
#pragma unroll
            for (int v = 0; v < 16 / (int)sizeof(T); ++v) any |= ds[off[i] + v] < inf;
        return any;
    }
};

template <typename T>
__device__ __forceinline__ int bucket_of(T v, const T* rad, long long R) {
    long long lo = 0, hi = R;  // first q with rad[q] >= v
    while (lo < hi) {
        long long mid = (lo + hi) >> 1;
        if (rad[mid] < v) lo = mid + 1; else hi = mid;
    }
    return (int)lo;
}

template <typename T>
__device__ __forceinline__ void minplus_step(const T* __restrict__ d, const T* __restrict__ w, T* __restrict__ out,
                                             int* __restrict__ hist, signed char* __restrict__ flags,
                                             const float* __restrict__ gsrc, const T* __restrict__ radii, long long S,
                                             long long K, long long J, long long R, long long stride_d,
                                             long long stride_w, long long stride_o, T thr, float gamma,
                                             int accumulate, int finalize, int count, int with_flags, int hist_smem) {
    constexpr int TK = TileK<T>::value;
    __shared__ __align__(16) T ws[2][TK][TILE];
    __shared__ __align__(16) T ds[2][TK][TILE];
    extern __shared__ __align__(16) unsigned char dyn[];  // hist [TILE][R + 1] int, then radii [R]

    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const long long j0 = (long long)blockIdx.x * TILE;
    const long long s0 = (long long)blockIdx.y * TILE;
    const T inf = pos_inf<T>();

    T acc[8][8];
#pragma unroll
    for (int a = 0; a < 8; ++a)
#pragma unroll
        for (int b = 0; b < 8; ++b) acc[a][b] = inf;

    TileCopy<T> copy(w, d, j0, s0, stride_w, stride_d, tid);
    const long long step_w = TK * stride_w, step_d = TK * stride_d;
    const int nk = (int)(K / TK);
    if (nk > 0) copy.issue(&ws[0][0][0], &ds[0][0][0], step_w, step_d);
    cp_async_commit();
    for (int kt = 0; kt < nk; ++kt) {
        const int st = kt & 1;
        if (kt + 1 < nk) {
            copy.issue(&ws[st ^ 1][0][0], &ds[st ^ 1][0][0], step_w, step_d);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        // the barrier that publishes the tile also answers "is any distance of it finite?"
        if (__syncthreads_or(copy.any_finite(&ds[st][0][0], inf))) {
#pragma unroll
            for (int kk = 0; kk < TK; ++kk) {
                T av[8], bv[8];
#pragma unroll
                for (int h = 0; h < 2; ++h)
#pragma unroll
                    for (int q = 0; q < 4; ++q) {
                        av[h * 4 + q] = ws[st][kk][h * 64 + tx * 4 + q];
                        bv[h * 4 + q] = ds[st][kk][h * 64 + ty * 4 + q];
                    }
#pragma unroll
                for (int a = 0; a < 8; ++a)
#pragma unroll
                    for (int b = 0; b < 8; ++b) acc[a][b] = vmin(acc[a][b], av[a] + bv[b]);
            }
        }
        __syncthreads();
    }

    int* hs = (int*)dyn;
    T* rad_s = (T*)(dyn + (((size_t)TILE * (R + 1) * sizeof(int) + 15) / 16) * 16);
    const T* rad = hist_smem ? rad_s : radii;
    if (count && hist_smem) {
        for (long long i = tid; i < TILE * (R + 1); i += THREADS) hs[i] = 0;
        for (long long i = tid; i < R; i += THREADS) rad_s[i] = radii[i];
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < 8; ++a) {
        const long long j = j0 + (a >> 2) * 64 + tx * 4 + (a & 3);
#pragma unroll
        for (int b = 0; b < 8; ++b) {
            const int sl = (b >> 2) * 64 + ty * 4 + (b & 3);
            const long long s = s0 + sl;
            if (j >= J || s >= S) continue;
            T v = acc[a][b];
            T* o = out + j * stride_o + s;
            if (accumulate) v = vmin(v, *o);
            if (finalize && v > thr) v = inf;
            *o = v;
            if (!count || !(v < inf)) continue;
            const int q = bucket_of<T>(v, rad, R);
            if (q < R) {
                if (hist_smem) atomicAdd(&hs[sl * (R + 1) + q], 1);
                else atomicAdd(&hist[s * (R + 1) + q], 1);
            }
            if (with_flags) {
                const float g = gamma - gsrc[s];
                const bool near = (q < R && rad[q] > (T)0 && v >= rad[q] * (T)(1.0f - g)) ||
                                  (q > 0 && rad[q - 1] > (T)0 && v <= rad[q - 1] * (T)(1.0f + g));
                if (near) flags[s] = 1;
            }
        }
    }
    if (count && hist_smem) {
        __syncthreads();
        for (long long i = tid; i < TILE * (R + 1); i += THREADS) {
            const long long s = s0 + i / (R + 1);
            const int c = hs[i];
            if (c && s < S) atomicAdd(&hist[s * (R + 1) + i % (R + 1)], c);
        }
    }
}

#define MINPLUS_ARGS(T)                                                                                             \
    const T *__restrict__ d, const T *__restrict__ w, T *__restrict__ out, int *__restrict__ hist,                  \
        signed char *__restrict__ flags, const float *__restrict__ gsrc, const T *__restrict__ radii, long long S,  \
        long long K, long long J, long long R, long long stride_d, long long stride_w, long long stride_o, T thr,   \
        float gamma, int accumulate, int finalize, int count, int with_flags, int hist_smem
#define MINPLUS_CALL                                                                                              \
    minplus_step(d, w, out, hist, flags, gsrc, radii, S, K, J, R, stride_d, stride_w, stride_o, thr, gamma,       \
                 accumulate, finalize, count, with_flags, hist_smem)

extern "C" __global__ void __launch_bounds__(THREADS, 2) layered_minplus_f32(MINPLUS_ARGS(float)) { MINPLUS_CALL; }
extern "C" __global__ void __launch_bounds__(THREADS, 1) layered_minplus_f64(MINPLUS_ARGS(double)) { MINPLUS_CALL; }

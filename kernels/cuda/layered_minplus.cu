// CuPy RawKernel: one min-plus step of a layered DAG with inclusive cutoff and fused counting.
//
// out[s, j] = min(accumulate ? out[s, j] : inf, min_k d[s, k] + w[k, j]); inputs d > thr count as
// +inf; with `finalize`, outputs > thr become +inf. With `count`, each finished value is bucketed
// into the radius grid (binary search over a shared copy of the radii) into a per-block shared
// histogram [TILE_S][R + 1]; the block then adds its cumulative counts to counts[s, q] (int64)
// and sets flags[s] = 1 when a value lies within a relative `gamma` of a positive radius.
//
// Block: 16 x 16 threads, each computing a 4 x 4 micro-tile -> a 64 x 64 output tile; the
// reduction runs over shared-memory tiles of 16. Grid: (ceil(J / 64), ceil(S / 64)).
// Dynamic shared memory: (R + 1) * 64 * 4 + R * 4 bytes when counting (0 otherwise).
// All global offsets are 64-bit.

#define TILE_S 64
#define TILE_J 64
#define TILE_K 16
#define MICRO 4

extern "C" __global__ void __launch_bounds__(256, 2)
layered_minplus_step(const float* __restrict__ d, const float* __restrict__ w, float* __restrict__ out,
                     long long* __restrict__ counts, signed char* __restrict__ flags,
                     const float* __restrict__ radii, long long S, long long K, long long J, long long R,
                     long long stride_d, long long stride_w, long long stride_o, float thr, float gamma,
                     int accumulate, int finalize, int count) {
    __shared__ float ds[TILE_S][TILE_K + 1];
    __shared__ float ws[TILE_K][TILE_J];
    __shared__ int amb_s[TILE_S];
    extern __shared__ int dyn[];  // hist [TILE_S][R + 1] then radii [R] (as float bits)

    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const long long s0 = (long long)blockIdx.y * TILE_S;
    const long long j0 = (long long)blockIdx.x * TILE_J;
    const float inf = __int_as_float(0x7f800000);

    float acc[MICRO][MICRO];
#pragma unroll
    for (int a = 0; a < MICRO; ++a)
#pragma unroll
        for (int b = 0; b < MICRO; ++b) {
            long long s = s0 + ty * MICRO + a, j = j0 + tx * MICRO + b;
            acc[a][b] = (accumulate && s < S && j < J) ? out[s * stride_o + j] : inf;
        }

    for (long long k0 = 0; k0 < K; k0 += TILE_K) {
        for (int i = tid; i < TILE_S * TILE_K; i += 256) {
            int r = i / TILE_K, c = i % TILE_K;
            long long s = s0 + r, k = k0 + c;
            float v = (s < S && k < K) ? d[s * stride_d + k] : inf;
            ds[r][c] = v > thr ? inf : v;
        }
        for (int i = tid; i < TILE_K * TILE_J; i += 256) {
            int r = i / TILE_J, c = i % TILE_J;
            long long k = k0 + r, j = j0 + c;
            ws[r][c] = (k < K && j < J) ? w[k * stride_w + j] : inf;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) {
            float dv[MICRO], wv[MICRO];
#pragma unroll
            for (int a = 0; a < MICRO; ++a) dv[a] = ds[ty * MICRO + a][kk];
#pragma unroll
            for (int b = 0; b < MICRO; ++b) wv[b] = ws[kk][tx * MICRO + b];
#pragma unroll
            for (int a = 0; a < MICRO; ++a)
#pragma unroll
                for (int b = 0; b < MICRO; ++b) acc[a][b] = fminf(acc[a][b], __fadd_rn(dv[a], wv[b]));
        }
        __syncthreads();
    }

    int* hist = dyn;
    float* rad = (float*)(dyn + TILE_S * (R + 1));
    if (count) {
        for (long long i = tid; i < TILE_S * (R + 1); i += 256) hist[i] = 0;
        for (long long i = tid; i < R; i += 256) rad[i] = radii[i];
        if (tid < TILE_S) amb_s[tid] = 0;
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < MICRO; ++a) {
        long long s = s0 + ty * MICRO + a;
#pragma unroll
        for (int b = 0; b < MICRO; ++b) {
            long long j = j0 + tx * MICRO + b;
            float v = acc[a][b];
            if (finalize && v > thr) v = inf;
            if (s < S && j < J) {
                out[s * stride_o + j] = v;
                if (count && v != inf) {
                    long long lo = 0, hi = R;  // first q with rad[q] >= v
                    while (lo < hi) {
                        long long mid = (lo + hi) >> 1;
                        if (rad[mid] < v) lo = mid + 1; else hi = mid;
                    }
                    atomicAdd(&hist[(ty * MICRO + a) * (R + 1) + lo], 1);
                    bool near = (lo < R && rad[lo] > 0.0f && v >= rad[lo] * (1.0f - gamma)) ||
                                (lo > 0 && rad[lo - 1] > 0.0f && v <= rad[lo - 1] * (1.0f + gamma));
                    if (near) amb_s[ty * MICRO + a] = 1;
                }
            }
        }
    }
    if (count) {
        __syncthreads();
        for (int r = tid; r < TILE_S; r += 256) {
            long long s = s0 + r;
            if (s >= S) continue;
            long long run = 0;
            for (long long q = 0; q < R; ++q) {
                run += hist[r * (R + 1) + q];
                if (run) atomicAdd((unsigned long long*)&counts[s * R + q], (unsigned long long)run);
            }
            if (amb_s[r]) flags[s] = 1;
        }
    }
}

// CuPy RawKernels: exact multi-source frontier relaxation over a CSR graph, and radius counting.
// Same contract as the Triton kernels in csr_relax.py (see docs/gpu.md).
//
// csr_relax_exact: block (u, source block of 32) with one warp; lane = source. Runs only when
// node u improved for the block last round (node_in[u, blk], cleared as consumed); walks u's
// out-edges indptr[u] .. indptr[u + 1] and, for sources with act_in[u, s] (cleared as consumed),
// proposes d[u, s] + w (<= cutoff). Distances are float64 bit patterns in an int64 [N, S] array
// (non-negative doubles order like int64): the current value is read first and only a smaller
// candidate issues the 64-bit atomicMin; a real improvement sets act_out[v, s],
// node_out[v, blk] and changed. Grid: (N, ceil(S / 32)), block 32.
//
// csr_count: bucket of d = number of radii < d (binary search; +inf and d beyond the grid are not
// counted), relaxed atomicAdd into hist[s, bucket] (int32 [S, R + 1]). Grid-stride over N * S.

extern "C" __global__ void __launch_bounds__(32)
csr_relax_exact(const long long* __restrict__ indptr, const int* __restrict__ cols, const double* __restrict__ w,
                unsigned long long* bits, signed char* act_in, signed char* act_out, signed char* node_in,
                signed char* node_out, int* changed, const double* __restrict__ cutoff_p, long long S,
                long long n_blocks) {
    const long long u = blockIdx.x, blk = blockIdx.y;
    const long long s = blk * 32 + threadIdx.x;
    if (node_in[u * n_blocks + blk] == 0) return;  // uniform per block
    __syncwarp();
    if (threadIdx.x == 0) node_in[u * n_blocks + blk] = 0;
    const bool live = s < S && act_in[u * S + s] != 0;
    if (live) act_in[u * S + s] = 0;
    const double du = live ? __longlong_as_double((long long)bits[u * S + s]) : __longlong_as_double(0x7ff0000000000000LL);
    const double cutoff = *cutoff_p;
    const long long e1 = indptr[u + 1];
    for (long long e = indptr[u]; e < e1; ++e) {
        const long long v = cols[e];
        const double cand = du + w[e];
        bool better = false;
        if (live && cand <= cutoff) {
            const unsigned long long cb = (unsigned long long)__double_as_longlong(cand);
            unsigned long long* dst = bits + v * S + s;
            if (cb < *(volatile unsigned long long*)dst) better = cb < atomicMin(dst, cb);
        }
        if (better) act_out[v * S + s] = 1;
        if (__any_sync(0xffffffffu, better) && threadIdx.x == 0) {
            node_out[v * n_blocks + blk] = 1;
            *changed = 1;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256)
csr_count(const unsigned long long* __restrict__ bits, int* __restrict__ hist, const double* __restrict__ radii,
          long long N, long long S, long long R) {
    const long long total = N * S;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const double v = __longlong_as_double((long long)bits[i]);
        if (!(v < __longlong_as_double(0x7ff0000000000000LL))) continue;
        long long lo = 0, hi = R;
        while (lo < hi) {
            const long long mid = (lo + hi) >> 1;
            if (radii[mid] < v) lo = mid + 1; else hi = mid;
        }
        if (lo < R) atomicAdd(&hist[(i % S) * (R + 1) + lo], 1);
    }
}

// CuPy RawKernel: one round of multi-source frontier relaxation over a graph in edge-parallel
// CSR form (rows[e] -> cols[e], distance w[e]) with an inclusive cutoff.
//
// For source row s (blockIdx.y) and edge e whose tail u is in the frontier (active_in[s, u]):
// cand = d[s, u] + w[e] is merged into d[s, v] by atomicMin on the float's bit pattern
// (distances >= 0, so int order = float order). Improved heads enter active_out and set
// changed[0]. With `undirected` the edge is also relaxed v -> u. The host repeats rounds until
// nothing changes. Grid: (ceil(E / 256), S). All global offsets are 64-bit.

extern "C" __global__ void __launch_bounds__(256)
csr_relax_round(const long long* __restrict__ rows, const long long* __restrict__ cols,
                const float* __restrict__ w, float* d, const signed char* __restrict__ active_in,
                signed char* __restrict__ active_out, int* __restrict__ changed, long long E,
                long long N, float thr, int undirected) {
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long row = (long long)blockIdx.y * N;
    if (e >= E) return;
    const long long u = rows[e], v = cols[e];
    const float we = w[e];
    int improved = 0;
    if (active_in[row + u]) {
        float du = d[row + u];
        float cand = __fadd_rn(du, we);
        if (du <= thr && cand <= thr) {
            int old = atomicMin((int*)&d[row + v], __float_as_int(cand));
            if (__float_as_int(cand) < old) { active_out[row + v] = 1; improved = 1; }
        }
    }
    if (undirected && active_in[row + v]) {
        float dv = d[row + v];
        float cand = __fadd_rn(dv, we);
        if (dv <= thr && cand <= thr) {
            int old = atomicMin((int*)&d[row + u], __float_as_int(cand));
            if (__float_as_int(cand) < old) { active_out[row + u] = 1; improved = 1; }
        }
    }
    if (improved) changed[0] = 1;
}

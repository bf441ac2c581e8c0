// phiflash's bf16 decode matmul: y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) for a few rows m, with w bf16
// (N, K) as the checkpoint stores it, x and the sums in float32, rounded once into x's dtype. torch's bf16 matmul
// runs a scalar loop on CPUs without AVX-512 BF16 (every AVX2 laptop): on a Zen 3, x_proj (192 x 5120) at 4 rows
// took 1.7 ms, where reading its 2 MB takes 0.07.
//
// Each pass takes 4 weight rows (a tail of 1..3 one at a time) and 1 or 2 activation rows; more activation rows
// read the same 4 weight rows again from L1/L2 (4 x K x 2 bytes: 40 KB at K = 5120). Paths, like the other kernels':
// AVX2 + FMA (also what the AVX-512 paths run), and portable C++.

#include "common.h"

namespace {

using namespace phiflash_kernels;

struct Rows {
  const float* x;  // (M, K) float32, contiguous
  const c10::BFloat16* w;  // (N, K), contiguous
  const float* bias;  // (N) float32 or null
  int64_t M, K, N;
};

template <typename O>
void rows_portable(const Rows& r, O* out, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t m = 0; m < r.M; ++m) {
      const float* x = r.x + m * r.K;
      const c10::BFloat16* w = r.w + n * r.K;
      float s = 0.0f;
      for (int64_t k = 0; k < r.K; ++k) s += x[k] * to_float(w[k]);
      out[m * r.N + n] = static_cast<O>(s + (r.bias ? r.bias[n] : 0.0f));
    }
}

#ifdef PHIFLASH_X86

// NW weight rows from n against R activation rows from m. With one activation row, two sums a weight row (even
// and odd 8-wide steps) keep 8 FMA chains in flight, as two rows do by themselves.
template <typename O, int NW, int R>
__attribute__((target("avx2,fma"))) void pass_avx2(const Rows& r, O* out, int64_t n, int64_t m) {
  constexpr int U = R == 1 ? 2 : 1;
  const int64_t K = r.K, K8 = K / (8 * U) * (8 * U);
  __m256 acc[R][NW][U];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NW; ++j)
      for (int u = 0; u < U; ++u) acc[i][j][u] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K8; k += 8 * U) {
    _Pragma("GCC unroll 2")
    for (int u = 0; u < U; ++u) {
      __m256 wv[NW];
      for (int j = 0; j < NW; ++j) wv[j] = load8(r.w + (n + j) * K + k + 8 * u);
      for (int i = 0; i < R; ++i) {
        const __m256 xv = _mm256_loadu_ps(r.x + (m + i) * K + k + 8 * u);
        for (int j = 0; j < NW; ++j) acc[i][j][u] = _mm256_fmadd_ps(wv[j], xv, acc[i][j][u]);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NW; ++j) {
      __m256 a = acc[i][j][0];
      if constexpr (U == 2) a = _mm256_add_ps(a, acc[i][j][1]);
      float s = hsum8(a);
      const float* x = r.x + (m + i) * K;
      const c10::BFloat16* w = r.w + (n + j) * K;
      for (int64_t k = K8; k < K; ++k) s += x[k] * to_float(w[k]);
      out[(m + i) * r.N + n + j] = static_cast<O>(s + (r.bias ? r.bias[n + j] : 0.0f));
    }
}

template <typename O, int NW>
__attribute__((target("avx2,fma"))) void weight_rows_avx2(const Rows& r, O* out, int64_t n) {
  int64_t m = 0;
  for (; m + 1 < r.M; m += 2) pass_avx2<O, NW, 2>(r, out, n, m);
  if (m < r.M) pass_avx2<O, NW, 1>(r, out, n, m);
}

template <typename O>
__attribute__((target("avx2,fma"))) void rows_avx2(const Rows& r, O* out, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) weight_rows_avx2<O, 4>(r, out, n);
  for (; n < n1; ++n) weight_rows_avx2<O, 1>(r, out, n);
}

#endif  // PHIFLASH_X86

template <typename O>
void run(int path, const Rows& r, O* out) {
  // a task is at least 256 KB of weights (or the whole matrix): enough work to pay for waking a thread
  const int64_t grain = std::max<int64_t>(4, (int64_t(1) << 17) / std::max<int64_t>(1, r.K) / 4 * 4);
  at::parallel_for(0, (r.N + 3) / 4, grain / 4, [&](int64_t b0, int64_t b1) {
    const int64_t n0 = b0 * 4, n1 = std::min(r.N, b1 * 4);
#ifdef PHIFLASH_X86
    if (path != PORTABLE) return rows_avx2<O>(r, out, n0, n1);
#endif
    rows_portable<O>(r, out, n0, n1);
  });
}

at::Tensor bf16_mm(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias, int64_t path) {
  TORCH_CHECK(x.dim() == 2 && w.dim() == 2, "bf16_mm: x (M, K), w (N, K)");
  TORCH_CHECK(w.scalar_type() == at::kBFloat16 && w.is_contiguous() && w.size(1) == x.size(1),
              "bf16_mm: w must be contiguous bf16 (N, K)");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kFloat, "bf16_mm: x bf16 or float32");
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == w.size(0)), "bf16_mm: bias must be (N)");
  if (path == AUTO) path = best_path();
  TORCH_CHECK(path_supported(path), "bf16_mm: this CPU cannot run path ", path);
  const auto xf = x.to(at::kFloat).contiguous();
  const auto bf = bias ? bias->to(at::kFloat).contiguous() : at::Tensor();
  const Rows r{xf.data_ptr<float>(), w.data_ptr<c10::BFloat16>(),
               bias ? bf.data_ptr<float>() : nullptr, x.size(0), x.size(1), w.size(0)};
  auto out = at::empty({r.M, r.N}, x.options());
  if (x.scalar_type() == at::kBFloat16) run(path, r, reinterpret_cast<c10::BFloat16*>(out.data_ptr()));
  else run(path, r, out.data_ptr<float>());
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(phiflash, CPU, m) { m.impl("bf16_mm", bf16_mm); }

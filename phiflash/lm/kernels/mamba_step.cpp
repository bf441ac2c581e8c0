// phiflash's Mamba decode step (one token a row), in two calls around x_proj (a matmul, which needs every channel's
// conv output first):
//     mamba_conv_step: c = silu(conv1d([state ‖ x]) + bias), the conv state shifted by one input;
//     mamba_ssm_step:  Δ = softplus(dt_proj(δ) + bias), s = exp(Δ A) ⊙ s + Δ B x, y = C · s + D x, then the z gate
//                      (or, for the GMU memory layer, y itself as M and silu(z) ⊙ M).
// They are sambay.py's Mamba.forward for T = 1 (and ops.causal_conv1d, ops.ssm_step), rounded to the model dtype at
// the same points; what they replace is ~40 small torch ops a layer: on a Zen 3, 1.1 of the 1.6 ms a Mamba layer
// took outside its two big matmuls, ~10 ms of a full-scale int4 decode step.
//
// Two paths, chosen at run time like the other kernels': AVX2 + FMA (also what the AVX-512 paths run; the state
// update needs N a multiple of 8, else the portable loop), and portable C++.

#include "common.h"

#include <vector>

namespace {

using namespace phiflash_kernels;

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

// torch's softplus (beta 1, threshold 20).
inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

// ---- x86 helpers: exp, log, silu, softplus and rounding of 8 floats --------------------------------------------

#ifdef PHIFLASH_X86

// exp of 8 floats: 2^n · p(r), n = round(x · log2 e), r = x − n · ln 2 (ln 2 in two parts, so r is exact), p Cephes'
// degree-7 polynomial for e^r on |r| ≤ ln 2 / 2 (within 2 ulp of expf). Below −87.34 (where expf leaves the normal
// floats) it gives 0, as torch's exp does with denormals flushed, which generation sets.
__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365447f), hi = _mm256_set1_ps(88.3762626f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(two_n)));
}

// Natural log of 8 positive normal floats: x = 2^e · m, m in [√½, √2), Cephes' logf polynomial for log(m).
__attribute__((target("avx2,fma"))) inline __m256 log8(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                                 _mm256_set1_epi32(0x3F000000)));  // [0.5, 1)
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(small, one));
  m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(small, m)), one);  // 2m − 1 or m − 1
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

__attribute__((target("avx2,fma"))) inline __m256 silu8(__m256 v) {
  return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_xor_ps(v, _mm256_set1_ps(-0.0f)))));
}

// torch's softplus: v above 20, else log1p(exp(v)), with log1p(t) = log(u) · t / (u − 1), u = 1 + t (exact where
// 1 + t rounds: t is far below 1 for the usual Δ, and log(1 + t) alone would keep only a few of its digits).
__attribute__((target("avx2,fma"))) inline __m256 softplus8(__m256 v) {
  const __m256 t = exp8(_mm256_min_ps(v, _mm256_set1_ps(20.0f))), one = _mm256_set1_ps(1.0f);
  const __m256 u = _mm256_add_ps(one, t), um1 = _mm256_sub_ps(u, one);
  const __m256 exact = _mm256_cmp_ps(um1, _mm256_setzero_ps(), _CMP_EQ_OQ);  // 1 + t == 1: log1p(t) = t
  const __m256 lp = _mm256_blendv_ps(_mm256_div_ps(_mm256_mul_ps(log8(u), t), um1), t, exact);
  return _mm256_blendv_ps(lp, v, _mm256_cmp_ps(v, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}

// v rounded to T and back, 8 at a time (bf16: to nearest, ties to even, as c10::BFloat16 does for finite values).
template <typename T>
__attribute__((target("avx2,fma"))) inline __m256 round8(__m256 v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    const __m256i b = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_add_epi32(b, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), odd));
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
}

#endif  // PHIFLASH_X86

// ---- the conv -------------------------------------------------------------------------------------------------------

// Channel e of row b: its conv sum (bias included, float32), and its state shifted by the new input.
template <typename T>
inline float conv_taps(const T* xz, int64_t xz_stride, T* state, const T* w, const T* bias, int64_t b, int64_t e,
                       int64_t E, int64_t K) {
  T* s = state + (b * E + e) * (K - 1);
  const T* we = w + e * K;
  const float x = to_float(xz[b * xz_stride + e]);
  // tap K-1 is the current input, taps 0..K-2 the state (oldest first), summed in that order
  float acc = to_float(s[0]) * to_float(we[0]);
  for (int64_t k = 1; k < K - 1; ++k) acc += to_float(s[k]) * to_float(we[k]);
  acc += x * to_float(we[K - 1]);
  if (bias) acc += to_float(bias[e]);
  for (int64_t k = 0; k + 1 < K - 1; ++k) s[k] = s[k + 1];
  s[K - 2] = xz[b * xz_stride + e];
  return acc;
}

#ifdef PHIFLASH_X86
template <typename T>
__attribute__((target("avx2,fma"))) void conv_block_avx2(const T* xz, int64_t xz_stride, T* state, const T* w,
                                                         const T* bias, T* out, int64_t b, int64_t e, int64_t E,
                                                         int64_t K) {
  alignas(32) float acc[8];
  for (int j = 0; j < 8; ++j) acc[j] = conv_taps<T>(xz, xz_stride, state, w, bias, b, e + j, E, K);
  store8(out + b * E + e, silu8(round8<T>(_mm256_load_ps(acc))));
}
#endif

template <typename T>
void conv_rows(int path, const T* xz, int64_t xz_stride, T* state, const T* w, const T* bias, T* out, int64_t B,
               int64_t E, int64_t K) {
  at::parallel_for(0, (E + 7) / 8, 128, [&](int64_t g0, int64_t g1) {
    const int64_t e1 = std::min(E, g1 * 8);
    for (int64_t b = 0; b < B; ++b) {
      int64_t e = g0 * 8;
#ifdef PHIFLASH_X86
      if (path != PORTABLE)
        for (; e + 8 <= e1; e += 8) conv_block_avx2<T>(xz, xz_stride, state, w, bias, out, b, e, E, K);
#endif
      for (; e < e1; ++e)
        out[b * E + e] = static_cast<T>(silu(round_to<T>(conv_taps<T>(xz, xz_stride, state, w, bias, b, e, E, K))));
    }
  });
}

at::Tensor mamba_conv_step(const at::Tensor& xz, const at::Tensor& state, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, int64_t path) {
  TORCH_CHECK(xz.dim() == 2 && state.dim() == 3 && weight.dim() == 3 && weight.size(1) == 1,
              "mamba_conv_step: xz (B, ≥E), state (B, E, K-1), weight (E, 1, K)");
  const int64_t B = state.size(0), E = state.size(1), K = weight.size(2);
  TORCH_CHECK(K >= 2 && state.size(2) == K - 1 && weight.size(0) == E && xz.size(0) == B && xz.size(1) >= E,
              "mamba_conv_step: shapes of xz, state and weight disagree");
  const auto dtype = xz.scalar_type();
  TORCH_CHECK(dtype == at::kBFloat16 || dtype == at::kFloat, "mamba_conv_step: bf16 or float32");
  TORCH_CHECK(state.scalar_type() == dtype && weight.scalar_type() == dtype && (!bias || bias->scalar_type() == dtype),
              "mamba_conv_step: xz, state, weight and bias share one dtype");
  TORCH_CHECK(state.is_contiguous() && weight.is_contiguous() && xz.stride(1) == 1 &&
                  (!bias || (bias->is_contiguous() && bias->numel() == E)),
              "mamba_conv_step: contiguous state, weight and bias (E)");
  if (path == AUTO) path = best_path();
  TORCH_CHECK(path_supported(path), "mamba_conv_step: this CPU cannot run path ", path);
  auto out = at::empty({B, E}, xz.options());
  if (dtype == at::kBFloat16) {
    using T = c10::BFloat16;
    conv_rows<T>(path, xz.data_ptr<T>(), xz.stride(0), state.data_ptr<T>(), weight.data_ptr<T>(),
                 bias ? bias->data_ptr<T>() : nullptr, out.data_ptr<T>(), B, E, K);
  } else {
    conv_rows<float>(path, xz.data_ptr<float>(), xz.stride(0), state.data_ptr<float>(), weight.data_ptr<float>(),
                     bias ? bias->data_ptr<float>() : nullptr, out.data_ptr<float>(), B, E, K);
  }
  return out;
}

// ---- the selective scan step ----------------------------------------------------------------------------------------

struct Ssm {
  int64_t B, E, N, R;
  int64_t row;         // R + 2N: the stride of a row of x_proj's output, [δ ‖ B ‖ C], converted once to float32
  const float* delta;  // row b: delta + b * row (R values)
  const float* Bm;     // (N)
  const float* Cm;     // (N)
  const float* A;      // (E, N): −exp(A_log), which the caller keeps (a constant of the weights)
  const float* D;      // (E)
  float* state;        // (B, E, N), updated in place
};

// Channel e of row b, portable: Δ from dt_proj (rounded to T, as its matmul's output is), the state update, and
// y = C · s + D x; then its output (the z gate, or the memory M and silu(z) ⊙ M, each rounded where torch rounds).
template <typename T>
void ssm_channel_portable(const Ssm& s, const T* c, const T* xz, int64_t xz_stride, const T* dt_w, const float* dt_b,
                          T* out, T* memory, int64_t b, int64_t e) {
  const float* delta = s.delta + b * s.row;
  const T* w = dt_w + e * s.R;
  float dot = 0.0f;
  for (int64_t r = 0; r < s.R; ++r) dot += to_float(w[r]) * delta[r];
  const float dt = softplus(round_to<T>(dot) + dt_b[e]), x = to_float(c[b * s.E + e]), dtx = dt * x;
  float* st = s.state + (b * s.E + e) * s.N;
  const float* A = s.A + e * s.N;
  const float* Bm = s.Bm + b * s.row;
  const float* Cm = s.Cm + b * s.row;
  float y = 0.0f;
  for (int64_t n = 0; n < s.N; ++n) {
    st[n] = st[n] * std::exp(dt * A[n]) + dtx * Bm[n];  // s = exp(Δ A) s + Δ x B
    y += st[n] * Cm[n];
  }
  y += s.D[e] * x;
  const float z = to_float(xz[b * xz_stride + s.E + e]);
  if (memory) {
    const float m = round_to<T>(y);
    memory[b * s.E + e] = static_cast<T>(m);
    out[b * s.E + e] = static_cast<T>(round_to<T>(silu(z)) * m);
  } else {
    out[b * s.E + e] = static_cast<T>(y * silu(z));
  }
}

#ifdef PHIFLASH_X86

// The same for channels e..e+7 (N a multiple of 8): their Δ and gates 8 at a time, each state 8 lanes at a time.
template <typename T>
__attribute__((target("avx2,fma"))) void ssm_block_avx2(const Ssm& s, const T* c, const T* xz, int64_t xz_stride,
                                                        const T* dt_w, const float* dt_b, T* out, T* memory,
                                                        int64_t b, int64_t e) {
  const float* delta = s.delta + b * s.row;
  const int64_t R8 = s.R / 8 * 8;
  alignas(32) float dots[8], dts[8], ys[8];
  __m256 acc[8];  // the 8 channels' sums side by side: 8 independent FMA chains
  for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
  const T* w = dt_w + e * s.R;
  for (int64_t r = 0; r < R8; r += 8) {
    const __m256 d = _mm256_loadu_ps(delta + r);
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(load8(w + j * s.R + r), d, acc[j]);
  }
  for (int j = 0; j < 8; ++j) {
    float dot = hsum8(acc[j]);
    for (int64_t r = R8; r < s.R; ++r) dot += to_float(w[j * s.R + r]) * delta[r];
    dots[j] = dot;
  }
  const __m256 dt8 = softplus8(_mm256_add_ps(round8<T>(_mm256_load_ps(dots)), _mm256_loadu_ps(dt_b + e)));
  const __m256 x8 = load8(c + b * s.E + e);
  _mm256_store_ps(dts, dt8);
  alignas(32) float xs[8];
  _mm256_store_ps(xs, x8);
  const float* Bm = s.Bm + b * s.row;
  const float* Cm = s.Cm + b * s.row;
  for (int j = 0; j < 8; ++j) {
    float* st = s.state + (b * s.E + e + j) * s.N;
    const float* A = s.A + (e + j) * s.N;
    const __m256 dtv = _mm256_set1_ps(dts[j]), dtx = _mm256_set1_ps(dts[j] * xs[j]);
    __m256 y = _mm256_setzero_ps();
    for (int64_t n = 0; n < s.N; n += 8) {
      const __m256 decay = exp8(_mm256_mul_ps(dtv, _mm256_loadu_ps(A + n)));           // exp(Δ A)
      const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(st + n), decay),
                                     _mm256_mul_ps(dtx, _mm256_loadu_ps(Bm + n)));  // rounded as torch's mul_, add_
      _mm256_storeu_ps(st + n, v);
      y = _mm256_fmadd_ps(v, _mm256_loadu_ps(Cm + n), y);
    }
    ys[j] = hsum8(y);
  }
  const __m256 y8 = _mm256_fmadd_ps(_mm256_loadu_ps(s.D + e), x8, _mm256_load_ps(ys));
  const __m256 g8 = silu8(load8(xz + b * xz_stride + s.E + e));
  if (memory) {
    const __m256 m8 = round8<T>(y8);
    store8(memory + b * s.E + e, m8);
    store8(out + b * s.E + e, _mm256_mul_ps(round8<T>(g8), m8));
  } else {
    store8(out + b * s.E + e, _mm256_mul_ps(y8, g8));
  }
}

#endif  // PHIFLASH_X86

template <typename T>
void ssm_rows(int path, const Ssm& s, const T* c, const T* xz, int64_t xz_stride, const T* dt_w, const float* dt_b,
              T* out, T* memory) {
  const bool simd = path != PORTABLE && s.N % 8 == 0;
  (void)simd;
  at::parallel_for(0, (s.E + 7) / 8, 32, [&](int64_t g0, int64_t g1) {
    const int64_t e1 = std::min(s.E, g1 * 8);
    for (int64_t b = 0; b < s.B; ++b) {
      int64_t e = g0 * 8;
#ifdef PHIFLASH_X86
      if (simd)
        for (; e + 8 <= e1; e += 8) ssm_block_avx2<T>(s, c, xz, xz_stride, dt_w, dt_b, out, memory, b, e);
#endif
      for (; e < e1; ++e) ssm_channel_portable<T>(s, c, xz, xz_stride, dt_w, dt_b, out, memory, b, e);
    }
  });
}

std::tuple<at::Tensor, at::Tensor> mamba_ssm_step(const at::Tensor& xdbc, const at::Tensor& c, const at::Tensor& xz,
                                                  const at::Tensor& dt_w, const at::Tensor& dt_b,
                                                  const at::Tensor& A, const at::Tensor& D, const at::Tensor& state,
                                                  bool emit_memory, int64_t path) {
  TORCH_CHECK(state.dim() == 3 && state.scalar_type() == at::kFloat && state.is_contiguous(),
              "mamba_ssm_step: state must be contiguous float32 (B, E, N)");
  const int64_t B = state.size(0), E = state.size(1), N = state.size(2), R = dt_w.size(1);
  TORCH_CHECK(xdbc.dim() == 2 && xdbc.size(0) == B && xdbc.size(1) == R + 2 * N,
              "mamba_ssm_step: xdbc must be (B, R + 2N)");
  TORCH_CHECK(c.dim() == 2 && c.size(0) == B && c.size(1) == E && c.is_contiguous(), "mamba_ssm_step: c (B, E)");
  TORCH_CHECK(xz.dim() == 2 && xz.size(0) == B && xz.size(1) == 2 * E && xz.stride(1) == 1,
              "mamba_ssm_step: xz (B, 2E)");
  TORCH_CHECK(dt_w.dim() == 2 && dt_w.size(0) == E && dt_w.is_contiguous() && dt_b.numel() == E,
              "mamba_ssm_step: dt_w (E, R), dt_b (E)");
  TORCH_CHECK(A.scalar_type() == at::kFloat && A.is_contiguous() && A.dim() == 2 && A.size(0) == E &&
                  A.size(1) == N && D.scalar_type() == at::kFloat && D.is_contiguous() && D.numel() == E,
              "mamba_ssm_step: A (E, N) and D (E) float32");
  const auto dtype = xz.scalar_type();
  TORCH_CHECK(dtype == at::kBFloat16 || dtype == at::kFloat, "mamba_ssm_step: bf16 or float32");
  TORCH_CHECK(xdbc.scalar_type() == dtype && c.scalar_type() == dtype && dt_w.scalar_type() == dtype,
              "mamba_ssm_step: xdbc, c, xz and dt_w share one dtype");
  if (path == AUTO) path = best_path();
  TORCH_CHECK(path_supported(path), "mamba_ssm_step: this CPU cannot run path ", path);
  const auto bias = dt_b.to(at::kFloat).contiguous();  // float32 in the checkpoint, added in float32 as torch does
  const auto parts = xdbc.to(at::kFloat).contiguous();  // (B, R + 2N): δ, B, C of each row as float32
  const float* p = parts.data_ptr<float>();
  const Ssm s{B, E, N, R, R + 2 * N, p, p + R, p + R + N,
              A.data_ptr<float>(), D.data_ptr<float>(), state.data_ptr<float>()};
  auto out = at::empty({B, E}, xz.options());
  auto memory = at::empty({emit_memory ? B : 0, E}, xz.options());
  if (dtype == at::kBFloat16) {
    using T = c10::BFloat16;
    ssm_rows<T>(path, s, c.data_ptr<T>(), xz.data_ptr<T>(), xz.stride(0), dt_w.data_ptr<T>(), bias.data_ptr<float>(),
                out.data_ptr<T>(), emit_memory ? memory.data_ptr<T>() : nullptr);
  } else {
    ssm_rows<float>(path, s, c.data_ptr<float>(), xz.data_ptr<float>(), xz.stride(0), dt_w.data_ptr<float>(),
                    bias.data_ptr<float>(), out.data_ptr<float>(), emit_memory ? memory.data_ptr<float>() : nullptr);
  }
  return {out, memory};
}

}  // namespace

TORCH_LIBRARY_IMPL(phiflash, CPU, m) {
  m.impl("mamba_conv_step", mamba_conv_step);
  m.impl("mamba_ssm_step", mamba_ssm_step);
}

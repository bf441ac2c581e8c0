// phiflash's decode attention: a few queries per row against the cached K,V of differential attention, in float32,
// reading bf16 (or float32) K and V where they lie in the cache. torch's bf16 bmm, on a CPU without AVX-512 BF16
// (every AVX2 laptop), runs a scalar path: 4.8 ms a layer at 512 keys and 20 ms at 2,048 on a Zen 3 core pair,
// where reading those keys and values takes 0.1 and 0.5 ms. Upcasting to float32 first did not help (its small
// bmms read 6 GB/s).
//
// Layout (ops.split_pairs): k (2, B, P, S, dh): [0] the even heads (branch 1), [1] the odd ones (branch 2);
// v (B, P, S, 2dh): pair p holds [v_2p ‖ v_2p+1]. Query head 2(pG + g) + i is branch i's g-th query of key pair p,
// G = (H/2)/P. For each (branch i, row b, pair p, g):
//     s_j = scale * q · k[i, b, p, j]  (masked keys: -inf),  a = softmax(s),  out[b, p, i, g] = sum_j a_j v[b, p, j]
// out (T, B, P, 2, G, 2dh) in q's dtype, for T query positions each with its own mask row.
//
// Two paths, chosen at run time like the matmuls': AVX2 + FMA, and portable C++ (also AVX2's for other shapes).

#include "common.h"

#include <limits>
#include <vector>

namespace {

using namespace phiflash_kernels;

struct Shape {
  int64_t B, P, G, S, dh;
  int64_t k_stride[4];  // k's strides of dims 0..3 (dim 4 is contiguous)
  int64_t v_stride[3];  // v's strides of dims 0..2 (dim 3 is contiguous)
};

// sc (n) in place: exp(sc - max) / its sum; a -inf score (a masked key) becomes 0.
inline void softmax(float* sc, int64_t n) {
  float top = -std::numeric_limits<float>::infinity(), total = 0.0f;
  for (int64_t j = 0; j < n; ++j) top = std::max(top, sc[j]);
  for (int64_t j = 0; j < n; ++j) {
    sc[j] = std::exp(sc[j] - top);
    total += sc[j];
  }
  const float inv = 1.0f / total;
  for (int64_t j = 0; j < n; ++j) sc[j] *= inv;
}

// One (row b, pair p): both branches' G queries, their softmaxes, and the 2G outputs, each 2dh wide. The portable
// path, and the AVX2 path's for shapes it does not take.
template <typename T, typename O>
__attribute__((always_inline)) inline void attend_pair(const float* q, const T* k, const T* v, const bool* mask,
                                                       O* out, const Shape& sh, float scale, int64_t b,
                                                       int64_t p) {
  const int64_t S = sh.S, dh = sh.dh, G = sh.G, W = 2 * dh;
  std::vector<float> scores(2 * G * S), row(W), acc(2 * G * W, 0.0f);
  for (int i = 0; i < 2; ++i) {
    const T* kb = k + i * sh.k_stride[0] + b * sh.k_stride[1] + p * sh.k_stride[2];
    const float* qi = q + (b * 2 * sh.P * G + 2 * p * G + i) * dh;  // query g of this branch: qi + 2g·dh
    float* si = scores.data() + i * G * S;                          // its scores: si + g·S
    for (int64_t j = 0; j < S; ++j) {
      if (mask && !mask[b * S + j]) {
        for (int64_t g = 0; g < G; ++g) si[g * S + j] = -std::numeric_limits<float>::infinity();
        continue;
      }
      const T* kr = kb + j * sh.k_stride[3];
      for (int64_t d = 0; d < dh; ++d) row[d] = to_float(kr[d]);  // the key once, for all G queries
      for (int64_t g = 0; g < G; ++g) {
        const float* qv = qi + 2 * g * dh;
        float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t d = 0;
        for (; d + 8 <= dh; d += 8)
          for (int u = 0; u < 8; ++u) part[u] += qv[d + u] * row[d + u];
        float dot = 0.0f;
        for (; d < dh; ++d) dot += qv[d] * row[d];
        for (int u = 0; u < 8; ++u) dot += part[u];
        si[g * S + j] = dot * scale;
      }
    }
    for (int64_t g = 0; g < G; ++g) softmax(si + g * S, S);
  }
  const T* vb = v + b * sh.v_stride[0] + p * sh.v_stride[1];
  for (int64_t j = 0; j < S; ++j) {
    if (mask && !mask[b * S + j]) continue;
    const T* vr = vb + j * sh.v_stride[2];
    for (int64_t c = 0; c < W; ++c) row[c] = to_float(vr[c]);
    for (int64_t o = 0; o < 2 * G; ++o) {
      const float a = scores[o * S + j];
      float* out_o = acc.data() + o * W;
      for (int64_t c = 0; c < W; ++c) out_o[c] += a * row[c];
    }
  }
  O* ob = out + (b * sh.P + p) * 2 * G * W;
  for (int64_t c = 0; c < 2 * G * W; ++c) ob[c] = static_cast<O>(acc[c]);
}

#ifdef PHIFLASH_X86
// e^x for 8 floats: 2^n · e^r with n = round(x / ln 2), |r| ≤ ln 2 / 2, e^r by its degree-6 Taylor polynomial
// (relative error < 2e-7, below float32's rounding); x below -87 (a masked key's -inf included) gives 0.
__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  const __m256 low = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);  // ln 2 in two parts: r exact to float
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 e = _mm256_set1_ps(1.0f / 720);
  for (const float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(c));
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(low, _mm256_mul_ps(e, _mm256_castsi256_ps(pow2)));
}

// softmax with exp8, 8 scores at a time (the scalar one above for the tail).
__attribute__((target("avx2,fma"))) inline void softmax8(float* sc, int64_t n) {
  float top = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) top = std::max(top, sc[j]);
  const __m256 t = _mm256_set1_ps(top);
  __m256 total = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sc + j), t));
    _mm256_storeu_ps(sc + j, e);
    total = _mm256_add_ps(total, e);
  }
  float sum = hsum8(total);
  for (; j < n; ++j) {
    sc[j] = std::exp(sc[j] - top);
    sum += sc[j];
  }
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(sc + j, _mm256_mul_ps(_mm256_loadu_ps(sc + j), inv));
  for (; j < n; ++j) sc[j] *= 1.0f / sum;
}

// AVX2 for the model's shapes: NG = G queries per branch and key pair (1 or 2; the model has 2), dh a multiple of
// 8. Scores: each key converted once and dotted with the NG queries in 8-wide chunks. Values: 16 columns at a time
// for the 2·NG outputs held in registers, over blocks of 64 keys (16 KB of bf16 values: L1) whose rows are fetched
// whole during the block before, so the passes over a block's columns find them in L1.
template <int NG, typename T, typename O>
__attribute__((target("avx2,fma"))) void pair_avx2_g(const float* q, const T* k, const T* v, const bool* mask,
                                                      O* out, const Shape& sh, float scale, int64_t b, int64_t p) {
  constexpr int NO = 2 * NG;
  const int64_t S = sh.S, dh = sh.dh, W = 2 * dh;
  std::vector<float> scores(NO * S), acc(NO * W, 0.0f);
  for (int i = 0; i < 2; ++i) {
    const T* kb = k + i * sh.k_stride[0] + b * sh.k_stride[1] + p * sh.k_stride[2];
    const float* qi = q + (b * 2 * sh.P * NG + 2 * p * NG + i) * dh;  // query g of this branch: qi + 2g·dh
    float* si = scores.data() + i * NG * S;
    for (int64_t j = 0; j < S; ++j) {
      const T* kr = kb + j * sh.k_stride[3];
      __m256 a[NG];
      for (int g = 0; g < NG; ++g) a[g] = _mm256_setzero_ps();
      for (int64_t d = 0; d < dh; d += 8) {
        const __m256 kv = load8(kr + d);
        for (int g = 0; g < NG; ++g) a[g] = _mm256_fmadd_ps(_mm256_loadu_ps(qi + 2 * g * dh + d), kv, a[g]);
      }
      const bool off = mask && !mask[b * S + j];
      for (int g = 0; g < NG; ++g) si[g * S + j] = off ? -std::numeric_limits<float>::infinity() : hsum8(a[g]) * scale;
    }
  }
  for (int o = 0; o < NO; ++o) softmax8(scores.data() + o * S, S);
  const T* vb = v + b * sh.v_stride[0] + p * sh.v_stride[1];
  const int64_t row_bytes = W * static_cast<int64_t>(sizeof(T));
  for (int64_t j0 = 0; j0 < S; j0 += 64) {
    const int64_t j1 = std::min(S, j0 + 64);
    for (int64_t c = 0; c < W; c += 16) {
      __m256 lo[NO], hi[NO];
      for (int o = 0; o < NO; ++o) {
        lo[o] = _mm256_loadu_ps(acc.data() + o * W + c);
        hi[o] = _mm256_loadu_ps(acc.data() + o * W + c + 8);
      }
      for (int64_t j = j0; j < j1; ++j) {  // masked keys have probability 0, as in the matmul this replaces
        const T* vr = vb + j * sh.v_stride[2];
        if (c == 0 && j + 64 < S)
          for (int64_t at = 0; at < row_bytes; at += 64)
            _mm_prefetch(reinterpret_cast<const char*>(vb + (j + 64) * sh.v_stride[2]) + at, _MM_HINT_T0);
        const __m256 v0 = load8(vr + c), v1 = load8(vr + c + 8);
        for (int o = 0; o < NO; ++o) {
          const __m256 a = _mm256_broadcast_ss(scores.data() + o * S + j);
          lo[o] = _mm256_fmadd_ps(a, v0, lo[o]);
          hi[o] = _mm256_fmadd_ps(a, v1, hi[o]);
        }
      }
      for (int o = 0; o < NO; ++o) {
        _mm256_storeu_ps(acc.data() + o * W + c, lo[o]);
        _mm256_storeu_ps(acc.data() + o * W + c + 8, hi[o]);
      }
    }
  }
  O* ob = out + (b * sh.P + p) * NO * W;
  for (int64_t c = 0; c < NO * W; ++c) ob[c] = static_cast<O>(acc[c]);
}

template <typename T, typename O>
__attribute__((target("avx2,fma"))) void pair_avx2(const float* q, const T* k, const T* v, const bool* mask, O* out,
                                                    const Shape& sh, float scale, int64_t b, int64_t p) {
  if (sh.dh % 8 == 0 && sh.G == 2) return pair_avx2_g<2, T, O>(q, k, v, mask, out, sh, scale, b, p);
  if (sh.dh % 8 == 0 && sh.G == 1) return pair_avx2_g<1, T, O>(q, k, v, mask, out, sh, scale, b, p);
  attend_pair<T, O>(q, k, v, mask, out, sh, scale, b, p);
}
#endif

// Every (query position t, row b, pair p) is a task; position t's queries, mask row and outputs are slices of the
// (T, ...) buffers that decode_attention lays out, so the pair functions see one position at a time.
template <typename T, typename O>
void attend(int path, const at::Tensor& qf, const at::Tensor& k, const at::Tensor& v, const bool* mask,
            at::Tensor& out, const Shape& sh, int64_t n_pos, float scale) {
  const T* kp = reinterpret_cast<const T*>(k.data_ptr());
  const T* vp = reinterpret_cast<const T*>(v.data_ptr());
  const int64_t pairs = sh.B * sh.P, q_step = sh.B * 2 * sh.P * sh.G * sh.dh, out_step = q_step * 2;
  at::parallel_for(0, n_pos * pairs, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / pairs, b = i % pairs / sh.P, p = i % sh.P;
      const float* q = qf.data_ptr<float>() + t * q_step;
      const bool* m = mask ? mask + t * sh.B * sh.S : nullptr;
      O* o = reinterpret_cast<O*>(out.data_ptr()) + t * out_step;
#ifdef PHIFLASH_X86
      if (path >= AVX2) {
        pair_avx2<T, O>(q, kp, vp, m, o, sh, scale, b, p);
        continue;
      }
#endif
      attend_pair<T, O>(q, kp, vp, m, o, sh, scale, b, p);
    }
  });
}

// q (B, H, T, dh): T query positions per row (a decode step, or a speculative verify's few), each with its own
// mask row (B, 1, T, S). Returns (T, B, P, 2, G, 2dh).
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const c10::optional<at::Tensor>& mask, double scale, int64_t path) {
  TORCH_CHECK(q.dim() == 4, "decode_attention: q (B, H, T, dh)");
  TORCH_CHECK(k.dim() == 5 && k.size(0) == 2 && v.dim() == 4, "decode_attention: k (2, B, P, S, dh), v (B, P, S, 2dh)");
  const int64_t B = q.size(0), H = q.size(1), n_pos = q.size(2), dh = q.size(3), P = v.size(1), S = v.size(2);
  TORCH_CHECK(k.size(1) == B && k.size(2) == P && k.size(3) == S && k.size(4) == dh && v.size(0) == B &&
                  v.size(3) == 2 * dh && H % (2 * P) == 0,
              "decode_attention: shapes of q, k and v disagree");
  TORCH_CHECK(k.scalar_type() == v.scalar_type() &&
                  (k.scalar_type() == at::kBFloat16 || k.scalar_type() == at::kFloat),
              "decode_attention: k and v both bf16 or both float32");
  TORCH_CHECK(q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kFloat, "decode_attention: q bf16 or float32");
  TORCH_CHECK(k.stride(4) == 1 && v.stride(3) == 1, "decode_attention: k and v rows must be contiguous");
  if (path == AUTO) path = best_path();
  TORCH_CHECK(path_supported(path), "decode_attention: this CPU cannot run path ", path);
  at::Tensor m;
  if (mask.has_value()) {
    TORCH_CHECK(mask->scalar_type() == at::kBool && mask->numel() == B * n_pos * S,
                "decode_attention: mask (B, 1, T, S) bool");
    m = mask->reshape({B, n_pos, S}).transpose(0, 1).contiguous();  // (T, B, S)
  }
  const Shape sh{B, P, H / 2 / P, S, dh, {k.stride(0), k.stride(1), k.stride(2), k.stride(3)},
                 {v.stride(0), v.stride(1), v.stride(2)}};
  const auto qf = q.to(at::kFloat).permute({2, 0, 1, 3}).contiguous();  // (T, B, H, dh)
  auto out = at::empty({n_pos, B, P, 2, sh.G, 2 * dh}, q.options());
  const bool* mp = mask.has_value() ? m.data_ptr<bool>() : nullptr;
  const bool kv_bf16 = k.scalar_type() == at::kBFloat16, out_bf16 = q.scalar_type() == at::kBFloat16;
  with_types(kv_bf16, out_bf16, [&](auto t, auto o) {
    attend<typename decltype(t)::type, typename decltype(o)::type>(path, qf, k, v, mp, out, sh, n_pos,
                                                                   static_cast<float>(scale));
  });
  return out;
}

// What differential attention does with decode_attention's two branches (ops.differential_attention, §4.9):
// d = a1 − λ a2, an RMS norm over each head pair's 2dh (eps), times the sub-norm weight and (1 − λ_init), laid out
// as (B, T, H·dh): query pair j = pG + g is heads 2j, 2j+1. Rounded to a's dtype where the torch code's tensors are,
// so the two agree to float32 order of summation. One call where the torch code made ~16 small ops a layer.
template <typename T>
void combine(const T* a, float lam, float lambda_init, const T* w, float eps, T* out, int64_t n_pos, int64_t B,
             int64_t P, int64_t G, int64_t W) {
  auto r = round_to<T>;
  const float lam_t = r(lam), gain = 1.0f - lambda_init;
  std::vector<float> d(W);
  for (int64_t t = 0; t < n_pos; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t g = 0; g < G; ++g) {
          const T* a1 = a + ((((t * B + b) * P + p) * 2 + 0) * G + g) * W;
          const T* a2 = a + ((((t * B + b) * P + p) * 2 + 1) * G + g) * W;
          float ss = 0.0f;
          for (int64_t c = 0; c < W; ++c) {
            d[c] = r(to_float(a1[c]) - r(lam_t * to_float(a2[c])));
            ss += d[c] * d[c];
          }
          const float inv = 1.0f / std::sqrt(ss / static_cast<float>(W) + eps);
          T* o = out + ((b * n_pos + t) * P * G + p * G + g) * W;
          for (int64_t c = 0; c < W; ++c) o[c] = static_cast<T>(r(r(d[c] * inv) * to_float(w[c])) * gain);
        }
}

// a (T, B, P, 2, G, 2dh) from decode_attention; lam a float32 scalar tensor; w (2dh) in a's dtype. → (B, T, H·dh).
at::Tensor diff_combine(const at::Tensor& a, const at::Tensor& lam, double lambda_init, const at::Tensor& w,
                        double eps) {
  TORCH_CHECK(a.dim() == 6 && a.size(3) == 2 && a.is_contiguous(), "diff_combine: a (T, B, P, 2, G, 2dh)");
  TORCH_CHECK(lam.numel() == 1 && w.dim() == 1 && w.size(0) == a.size(5) && w.scalar_type() == a.scalar_type(),
              "diff_combine: lam one number, w (2dh) in a's dtype");
  TORCH_CHECK(a.scalar_type() == at::kBFloat16 || a.scalar_type() == at::kFloat, "diff_combine: bf16 or float32");
  const int64_t n_pos = a.size(0), B = a.size(1), P = a.size(2), G = a.size(4), W = a.size(5);
  auto out = at::empty({B, n_pos, P * G * W}, a.options());
  const float l = lam.to(at::kFloat).item<float>();
  const auto wc = w.contiguous();
  if (a.scalar_type() == at::kBFloat16) {
    using T = c10::BFloat16;
    combine<T>(a.data_ptr<T>(), l, static_cast<float>(lambda_init), wc.data_ptr<T>(), static_cast<float>(eps),
               out.data_ptr<T>(), n_pos, B, P, G, W);
  } else {
    combine<float>(a.data_ptr<float>(), l, static_cast<float>(lambda_init), wc.data_ptr<float>(),
                   static_cast<float>(eps), out.data_ptr<float>(), n_pos, B, P, G, W);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(phiflash, CPU, m) {
  m.impl("decode_attention", decode_attention);
  m.impl("diff_combine", diff_combine);
}

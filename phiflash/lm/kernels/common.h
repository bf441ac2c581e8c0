// What phiflash's kernels share: the activation rows quantized to int8 per block of 32, the paths and how one is
// chosen, and the x86 helpers that load and store 8 or 16 floats of bf16 or float32.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define PHIFLASH_X86 1
#endif

namespace phiflash_kernels {

constexpr int BLOCK = 32;  // inputs per activation block (and per weight block of the layout)
constexpr int TILE = 16;   // rows per weight tile
constexpr int MAX_M = 8;   // activation rows handled together (more are done 8 at a time)
// Bytes ahead of the weight being read that each block asks the cache for: without it one 2560x10240 matvec read
// 20 GB/s on two threads here, with it 25-34 (the hardware prefetcher alone does not keep enough lines in flight).
constexpr int PREFETCH = 4096;

// The activations of up to MAX_M rows, quantized: xq (m, K) int8, d and sum (m, K/32) float.
struct Quantized {
  const int8_t* xq;
  const float* d;
  const float* sum;
  int64_t K;
};

template <typename S>
inline float to_float(S v) { return static_cast<float>(v); }

// v rounded to T and back: where the torch code holds a T tensor, so do the kernels that replace it.
template <typename T>
inline float round_to(float v) { return static_cast<float>(static_cast<T>(v)); }

// ---- x86 helpers -----------------------------------------------------------------------------------------------

#ifdef PHIFLASH_X86

#define PF_CAT2(a, b) a##b
#define PF_CAT(a, b) PF_CAT2(a, b)

template <typename S>
__attribute__((target("avx2,fma"))) inline __m256 load8(const S* p);

template <>
__attribute__((target("avx2,fma"))) inline __m256 load8<float>(const float* p) { return _mm256_loadu_ps(p); }

template <>
__attribute__((target("avx2,fma"))) inline __m256 load8<c10::BFloat16>(const c10::BFloat16* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

// The sum of 8 floats.
__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

template <typename O>
__attribute__((target("avx2,fma"))) inline void store8(O* p, __m256 v) {
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  for (int i = 0; i < 8; ++i) p[i] = static_cast<O>(tmp[i]);
}

template <>
__attribute__((target("avx2,fma"))) inline void store8<float>(float* p, __m256 v) { _mm256_storeu_ps(p, v); }

template <typename S>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 load16(const S* p);

template <>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 load16<float>(const float* p) {
  return _mm512_loadu_ps(p);
}

template <>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 load16<c10::BFloat16>(
    const c10::BFloat16* p) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

template <typename O>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void store16(O* p, __m512 v) {
  alignas(64) float tmp[16];
  _mm512_store_ps(tmp, v);
  for (int i = 0; i < 16; ++i) p[i] = static_cast<O>(tmp[i]);
}

template <>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void store16<float>(float* p, __m512 v) {
  _mm512_storeu_ps(p, v);
}

#endif  // PHIFLASH_X86

// ---- dispatch ------------------------------------------------------------------------------------------------------

enum Path { AUTO = 0, PORTABLE = 1, AVX2 = 2, AVX2_VNNI = 3, AVX512 = 4, AVX512_VNNI = 5 };

// What this CPU can run, capped by torch's own capability (ATEN_CPU_CAPABILITY=avx2 on an AVX-512 machine makes
// phiflash take its AVX2 path too, so one switch tests both).
inline int best_path() {
#ifdef PHIFLASH_X86
  __builtin_cpu_init();
  const auto cap = at::get_cpu_capability();  // "AVX512", "AVX2", "DEFAULT", ...
  const bool avx512_ok = cap == "AVX512" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl");
  if (avx512_ok) return __builtin_cpu_supports("avx512vnni") ? AVX512_VNNI : AVX512;
  if ((cap == "AVX2" || cap == "AVX512") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return __builtin_cpu_supports("avxvnni") ? AVX2_VNNI : AVX2;
#endif
  return PORTABLE;
}

inline bool path_supported(int path) {
  if (path == PORTABLE) return true;
#ifdef PHIFLASH_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  switch (path) {
    case AVX2: return avx2;
    case AVX2_VNNI: return avx2 && __builtin_cpu_supports("avxvnni");
    case AVX512: return avx512;
    case AVX512_VNNI: return avx512 && __builtin_cpu_supports("avx512vnni");
  }
#endif
  return false;
}

#ifdef PHIFLASH_X86

// One block of 32 activations quantized as QuantizedRows' loop does, 8 lanes at a time (vcvtps2dq rounds to nearest,
// ties to even: nearbyint in the default rounding mode). The loop's std::nearbyint is a libm call without SSE4.1 in
// the compiler flags: 7.5 ns an activation, 60 us of a 10240-input matvec that reads its weights in ~1 ms.
template <typename X>
__attribute__((target("avx2,fma"))) inline void quantize_block_avx2(const X* x, int8_t* q, uint8_t* u, float* scale,
                                                                    float* total) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 v[4], amax = _mm256_setzero_ps(), s = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = load8(x + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], magnitude));
    s = _mm256_add_ps(s, v[i]);
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  const float top = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
  const __m256 inv = _mm256_set1_ps(top > 0.0f ? 127.0f / top : 0.0f);
  __m256i n[4];
  for (int i = 0; i < 4; ++i) n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));
  // pack 32 int32 (all within ±127) to int8: the packs work per 128-bit lane, the permute puts them back in order
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(n[0], n[1]), _mm256_packs_epi32(n[2], n[3]));
  const __m256i ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), ordered);
  if (u) _mm256_storeu_si256(reinterpret_cast<__m256i*>(u), _mm256_xor_si256(ordered, _mm256_set1_epi8(-128)));
  *scale = top / 127.0f;
  *total = hsum8(s);
}

#endif  // PHIFLASH_X86

// The activation rows of one call (M, K), bf16 or float32, quantized once per block of 32: d = max|x| / 127,
// xq = round(x / d), sum = the float sum of the block, and (with_unsigned, for int8's VNNI paths) xu = xq + 128.
// `simd`: the AVX2 version of the loop (x86 paths other than portable), equal to it but for the order of the
// block's sum. Read straight from a bf16 x, and all four in one allocation: a decode step makes ~130 such calls.
struct QuantizedRows {
  at::Tensor storage;
  const int8_t* xq;
  const uint8_t* xu;  // null without with_unsigned
  const float* d;
  const float* sum;

  QuantizedRows(const at::Tensor& x, bool with_unsigned, bool simd) {
    const int64_t M = x.size(0), K = x.size(1), blocks = K / BLOCK;
    // [d, sum] floats first, then xq and xu (K is a multiple of 32, so every part stays aligned)
    storage = at::empty({8 * M * blocks + (with_unsigned ? 2 : 1) * M * K}, x.options().dtype(at::kByte));
    uint8_t* base = storage.data_ptr<uint8_t>();
    float* scale = reinterpret_cast<float*>(base);
    float* total = scale + M * blocks;
    int8_t* q = reinterpret_cast<int8_t*>(base + 8 * M * blocks);
    uint8_t* u = with_unsigned ? base + 8 * M * blocks + M * K : nullptr;
    xq = q, xu = u, d = scale, sum = total;
    if (x.scalar_type() == at::kBFloat16)
      fill(x.data_ptr<c10::BFloat16>(), M, K, q, u, scale, total, simd);
    else
      fill(x.data_ptr<float>(), M, K, q, u, scale, total, simd);
  }

 private:
  template <typename X>
  static void fill(const X* x, int64_t M, int64_t K, int8_t* q, uint8_t* u, float* scale, float* total, bool simd) {
    (void)simd;  // no SIMD version off x86
    const int64_t blocks = K / BLOCK;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t at = m * K + b * BLOCK;
#ifdef PHIFLASH_X86
        if (simd) {
          quantize_block_avx2(x + at, q + at, u ? u + at : nullptr, scale + m * blocks + b, total + m * blocks + b);
          continue;
        }
#endif
        float amax = 0.0f, s = 0.0f;
        for (int i = 0; i < BLOCK; ++i) {
          const float v = to_float(x[at + i]);
          amax = std::max(amax, std::fabs(v));
          s += v;
        }
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int i = 0; i < BLOCK; ++i) {
          q[at + i] = static_cast<int8_t>(std::nearbyint(to_float(x[at + i]) * inv));
          if (u) u[at + i] = static_cast<uint8_t>(q[at + i] + 128);
        }
        scale[m * blocks + b] = amax / 127.0f;
        total[m * blocks + b] = s;
      }
  }
};

// f(rows, m0, t0, t1) for the passes over the weights that one call makes: up to MAX_M activation rows a pass
// (from row m0), its tiles split over torch's threads; a task is at least 16 tiles (256 rows), enough work to pay
// for waking a thread.
template <typename F>
void for_each_pass(int64_t M, int64_t tiles, const F& f) {
  for (int64_t m0 = 0; m0 < M; m0 += MAX_M) {
    const int rows = static_cast<int>(std::min<int64_t>(MAX_M, M - m0));
    at::parallel_for(0, tiles, 16, [&](int64_t t0, int64_t t1) { f(rows, m0, t0, t1); });
  }
}

// f(std::integral_constant<int, rows>{}): the kernels are compiled for each row count 1..MAX_M.
template <typename F>
void with_rows(int rows, const F& f) {
  switch (rows) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

template <typename T>
struct Type {
  using type = T;
};

// f(Type<scale type>{}, Type<output type>{}), each bf16 or float32.
template <typename F>
void with_types(bool bf16_scales, bool bf16_out, const F& f) {
  using B = c10::BFloat16;
  if (bf16_scales && bf16_out) f(Type<B>{}, Type<B>{});
  else if (bf16_scales) f(Type<B>{}, Type<float>{});
  else if (bf16_out) f(Type<float>{}, Type<B>{});
  else f(Type<float>{}, Type<float>{});
}

}  // namespace phiflash_kernels

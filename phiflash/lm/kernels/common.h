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

// The activation rows of one call, quantized once per block of 32: d = max|x| / 127, xq = round(x / d), sum = the
// float sum of the block, and (with_unsigned, for int8's VNNI paths) xu = xq + 128.
struct QuantizedRows {
  at::Tensor xq, xu, d, sum;

  QuantizedRows(const at::Tensor& xf, bool with_unsigned) {
    const int64_t M = xf.size(0), K = xf.size(1), blocks = K / BLOCK;
    xq = at::empty({M, K}, xf.options().dtype(at::kChar));
    xu = at::empty({with_unsigned ? M : 0, K}, xf.options().dtype(at::kByte));
    d = at::empty({M, blocks}, xf.options());
    sum = at::empty({M, blocks}, xf.options());
    const float* x = xf.data_ptr<float>();
    int8_t* q = xq.data_ptr<int8_t>();
    uint8_t* u = with_unsigned ? xu.data_ptr<uint8_t>() : nullptr;
    float* scale = d.data_ptr<float>();
    float* total = sum.data_ptr<float>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t at = m * K + b * BLOCK;
        float amax = 0.0f, s = 0.0f;
        for (int i = 0; i < BLOCK; ++i) {
          amax = std::max(amax, std::fabs(x[at + i]));
          s += x[at + i];
        }
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int i = 0; i < BLOCK; ++i) {
          q[at + i] = static_cast<int8_t>(std::nearbyint(x[at + i] * inv));
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

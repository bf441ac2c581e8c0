// phiflash's int8 decode matmul: y[m, n] = scale[n] * sum_b d[m, b] * sum_{k in b} w[n, k] * xq[m, k], with w int8
// per output row (symmetric) and x quantized to int8 per block of 32 on the fly (common.h), summed as integer dot
// products. torch's `_weight_int8pack_mm` multiplies in floats: it reads int8 at 15-20 GB/s here, this at the
// memory's rate.
//
// Layout ("tiles16", the checkpoint's int8 layout): rows in tiles of 16; a tile is 16 * K bytes, block after block
// of 32 inputs, 512 bytes a block: 8 chunks of 64 bytes; in chunk c, byte 4 * r + j holds w[r, 32b + 4c + j]. One
// 64-byte chunk is the 16 rows x 4 inputs one vpdpbusd sums into 16 lanes (AVX2: its 32-byte halves, 8 rows).
//
// The integer sums: vpdpbusd multiplies unsigned by signed bytes, so the VNNI paths take x as unsigned, xq + 128,
// and take 128 * sum_k w back out (that sum is one more vpdpbusd with bytes of 1, shared by every row of x).
// vpmaddubsw (AVX2) would overflow int16 there, so AVX2 multiplies |w| by xq with w's sign (vpsignb), pairs
// summed to int16 (at most 2 * 127 * 127) and widened to int32 at once.
//
// Paths as int4_mm's; AVX-512 without VNNI runs the AVX2 code (AVX-512 has no vpsignb).

#include "common.h"

namespace {

using namespace phiflash_kernels;

// x for int8: xq as signed (AVX2, portable) and as xq + 128 unsigned (VNNI), d per block.
struct Activations {
  const int8_t* xq;
  const uint8_t* xu;
  const float* d;
  int64_t K;
};

template <typename S, typename O>
void tiles8_portable(const int8_t* w, const S* scale, const Activations& x, int M, O* out, int64_t N, int64_t t0,
                     int64_t t1) {
  const int64_t K = x.K, blocks = K / BLOCK;
  for (int64_t t = t0; t < t1; ++t) {
    float acc[MAX_M][TILE] = {};
    const int8_t* wt = w + t * TILE * K;
    for (int64_t b = 0; b < blocks; ++b) {
      const int8_t* wb = wt + b * 512;
      for (int m = 0; m < M; ++m) {
        const int8_t* xb = x.xq + m * K + b * BLOCK;
        int32_t isum[TILE] = {};
        for (int c = 0; c < 8; ++c)
          for (int r = 0; r < TILE; ++r)
            for (int j = 0; j < 4; ++j) isum[r] += int32_t(wb[c * 64 + r * 4 + j]) * xb[4 * c + j];
        const float d = x.d[m * blocks + b];
        for (int r = 0; r < TILE; ++r) acc[m][r] += float(isum[r]) * d;
      }
    }
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < TILE; ++r) out[m * N + t * TILE + r] = static_cast<O>(acc[m][r] * to_float(scale[t * TILE + r]));
  }
}

#ifdef PHIFLASH_X86

#define PF_TARGET "avx2,fma"
#define PF_NAME tiles8_avx2
#define PF_WIDE 0
#define PF_VNNI 0
#include "int8_x86.inc"
#define PF_TARGET "avx2,fma,avxvnni"
#define PF_NAME tiles8_avx2_vnni
#define PF_WIDE 0
#define PF_VNNI 1
#include "int8_x86.inc"
#define PF_TARGET "avx512f,avx512bw,avx512vl,avx512vnni"
#define PF_NAME tiles8_avx512_vnni
#define PF_WIDE 1
#define PF_VNNI 1
#include "int8_x86.inc"

#endif  // PHIFLASH_X86

template <typename S, typename O, int M>
void run_tiles8(int path, const int8_t* w, const S* scale, const Activations& x, O* out, int64_t N, int64_t t0,
                int64_t t1) {
  switch (path) {
#ifdef PHIFLASH_X86
    case AVX512_VNNI: return tiles8_avx512_vnni<S, O, M>(w, scale, x, out, N, t0, t1);
    case AVX2_VNNI: return tiles8_avx2_vnni<S, O, M>(w, scale, x, out, N, t0, t1);
    case AVX512:  // no vpsignb in AVX-512: its AVX2 half
    case AVX2: return tiles8_avx2<S, O, M>(w, scale, x, out, N, t0, t1);
#endif
    default: return tiles8_portable<S, O>(w, scale, x, M, out, N, t0, t1);
  }
}

template <typename S, typename O>
void matmul8(int path, const at::Tensor& xf, const at::Tensor& w, const at::Tensor& scale, at::Tensor& out) {
  const int64_t K = xf.size(1), N = out.size(1);
  const QuantizedRows q(xf, path == AVX2_VNNI || path == AVX512_VNNI, path != PORTABLE);  // x + 128: vpdpbusd's unsigned side
  const int8_t* wp = w.data_ptr<int8_t>();
  const S* sp = reinterpret_cast<const S*>(scale.data_ptr());
  O* op = reinterpret_cast<O*>(out.data_ptr());
  for_each_pass(xf.size(0), N / TILE, [&](int rows, int64_t m0, int64_t t0, int64_t t1) {
    const Activations x{q.xq + m0 * K, q.xu ? q.xu + m0 * K : nullptr, q.d + m0 * (K / BLOCK), K};
    with_rows(rows, [&](auto m) { run_tiles8<S, O, decltype(m)::value>(path, wp, sp, x, op + m0 * N, N, t0, t1); });
  });
}

// x (..., K): any leading dimensions, out (..., N).
at::Tensor int8_mm(const at::Tensor& x_in, const at::Tensor& w, const at::Tensor& scale, int64_t path) {
  TORCH_CHECK(x_in.dim() >= 1 && w.dim() == 2 && scale.dim() == 1, "int8_mm: x (..., K), w (N, K), scale (N)");
  const int64_t K = x_in.size(-1), N = w.size(0);
  const auto x = x_in.reshape({-1, K}).contiguous();
  const int64_t M = x.size(0);
  TORCH_CHECK(w.scalar_type() == at::kChar && w.is_contiguous() && w.size(1) == K, "int8_mm: w must be int8 (N, K)");
  TORCH_CHECK(N % TILE == 0 && K % BLOCK == 0, "int8_mm: N a multiple of 16, K of 32");
  TORCH_CHECK(scale.is_contiguous() && scale.size(0) == N, "int8_mm: scale must be (N)");
  TORCH_CHECK(scale.scalar_type() == at::kBFloat16 || scale.scalar_type() == at::kFloat, "int8_mm: scale bf16 or float32");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kFloat, "int8_mm: x bf16 or float32");
  if (path == AUTO) path = best_path();
  TORCH_CHECK(path_supported(path), "int8_mm: this CPU cannot run path ", path);
  auto out = at::empty({M, N}, x.options());
  with_types(scale.scalar_type() == at::kBFloat16, x.scalar_type() == at::kBFloat16, [&](auto s, auto o) {
    matmul8<typename decltype(s)::type, typename decltype(o)::type>(path, x, w, scale, out);
  });
  auto sizes = x_in.sizes().vec();
  sizes.back() = N;
  return out.view(sizes);
}

}  // namespace

TORCH_LIBRARY_IMPL(phiflash, CPU, m) { m.impl("int8_mm", int8_mm); }

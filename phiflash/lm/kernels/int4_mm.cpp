// phiflash's int4 decode matmul: y[m, n] = sum_k x[m, k] * w[n, k] for a few rows m (a decode step, a
// speculative verify, samples), with w in int4 groups and x quantized to int8 per block of 32 on the fly, summed
// as integer dot products (llama.cpp's way of staying near the memory bound on CPUs without fast int4 floats).
//
// Weight w[n, k] = (q - 8) * scale[n, g] + zero[n, g] = q * scale + (zero - 8 * scale), q in 0..15, g = k / group.
// Activation x[m, k] ~ d[m, b] * xq[m, k], xq in -127..127, b = k / 32. So, per block b of 32 inputs,
//     sum_k w x = scale * d * sum_k q * xq  +  (zero - 8 * scale) * sum_k x
// with the integer sum exact and sum_k x taken from the float activations (not their quantized values).
//
// Layout ("tiles16", the checkpoint's int4 layout): rows in tiles of 16; a tile is 16 * K/2 bytes, block after
// block of 32 inputs, 256 bytes a block: 4 chunks of 64 bytes; in chunk c, byte 4 * r + j (row r of the tile,
// j = 0..3) holds q[r, 32b + 4c + j] in its low nibble and q[r, 32b + 16 + 4c + j] in its high nibble. So one
// 64-byte load, masked, is the 16 rows x 4 inputs that one vpdpbusd (AVX-512 VNNI) sums into 16 lanes, one lane
// per row: no horizontal sums, and the 32-byte halves are AVX2's 8-row version of the same.
// Scales: (N/16, K/group, 2, 16): for each tile and group, 16 scales then 16 zeros, bf16 or float32.
//
// Paths, chosen at run time (path argument 0) up to the CPU and torch's own capability ceiling, or forced:
// 1 portable C++, 2 AVX2 (vpmaddubsw + vpmaddwd), 3 AVX2 + AVX-VNNI (ymm vpdpbusd), 4 AVX-512BW, 5 AVX-512 VNNI.

#include "common.h"

namespace {

using namespace phiflash_kernels;

// One tile's scales for group g: 16 scale then 16 zero values.
template <typename S>
inline const S* tile_scales(const S* sz, int64_t tile, int64_t groups, int64_t g) {
  return sz + (tile * groups + g) * 2 * TILE;
}

// ---- portable ----------------------------------------------------------------------------------------------------

template <typename S, typename O>
void tiles_portable(const uint8_t* w, const S* sz, const Quantized& x, int M, O* out, int64_t N,
                    int64_t t0, int64_t t1, int group) {
  const int64_t K = x.K, blocks = K / BLOCK, groups = K / group, per_group = group / BLOCK;
  for (int64_t t = t0; t < t1; ++t) {
    float acc[MAX_M][TILE] = {};
    const uint8_t* wt = w + t * TILE * (K / 2);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t b = g * per_group; b < (g + 1) * per_group; ++b) {
        const uint8_t* wb = wt + b * 256;
        const S* s = tile_scales(sz, t, groups, g);
        for (int m = 0; m < M; ++m) {
          const int8_t* xb = x.xq + m * K + b * BLOCK;
          int32_t isum[TILE] = {};
          for (int c = 0; c < 4; ++c)
            for (int r = 0; r < TILE; ++r)
              for (int j = 0; j < 4; ++j) {
                const uint8_t byte = wb[c * 64 + r * 4 + j];
                isum[r] += int32_t(byte & 0xF) * xb[4 * c + j] + int32_t(byte >> 4) * xb[16 + 4 * c + j];
              }
          const float d = x.d[m * blocks + b], xs = x.sum[m * blocks + b];
          for (int r = 0; r < TILE; ++r) {
            const float scale = to_float(s[r]), zero = to_float(s[TILE + r]);
            acc[m][r] += float(isum[r]) * (scale * d) + (zero - 8.0f * scale) * xs;
          }
        }
      }
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < TILE; ++r) out[m * N + t * TILE + r] = static_cast<O>(acc[m][r]);
  }
}

#ifdef PHIFLASH_X86

#define PF_TARGET "avx2,fma"
#define PF_NAME tiles_avx2
#define PF_VNNI 0
#include "int4_avx2.inc"
#define PF_TARGET "avx2,fma,avxvnni"
#define PF_NAME tiles_avx2_vnni
#define PF_VNNI 1
#include "int4_avx2.inc"

#define PF_TARGET "avx512f,avx512bw,avx512vl"
#define PF_NAME tiles_avx512
#define PF_VNNI 0
#include "int4_avx512.inc"
#define PF_TARGET "avx512f,avx512bw,avx512vl,avx512vnni"
#define PF_NAME tiles_avx512_vnni
#define PF_VNNI 1
#include "int4_avx512.inc"

#endif  // PHIFLASH_X86

template <typename S, typename O, int M>
void run_tiles(int path, const uint8_t* w, const S* sz, const Quantized& x, O* out, int64_t N, int64_t t0,
               int64_t t1, int group) {
  switch (path) {
#ifdef PHIFLASH_X86
    case AVX512_VNNI: return tiles_avx512_vnni<S, O, M>(w, sz, x, out, N, t0, t1, group);
    case AVX512: return tiles_avx512<S, O, M>(w, sz, x, out, N, t0, t1, group);
    case AVX2_VNNI: return tiles_avx2_vnni<S, O, M>(w, sz, x, out, N, t0, t1, group);
    case AVX2: return tiles_avx2<S, O, M>(w, sz, x, out, N, t0, t1, group);
#endif
    default: return tiles_portable<S, O>(w, sz, x, M, out, N, t0, t1, group);
  }
}

template <typename S, typename O>
void matmul(int path, const at::Tensor& x, const at::Tensor& w, const at::Tensor& sz, at::Tensor& out, int group) {
  const int64_t K = x.size(1), N = out.size(1);
  const QuantizedRows q(x, false, path != PORTABLE);
  const uint8_t* wp = w.data_ptr<uint8_t>();
  const S* sp = reinterpret_cast<const S*>(sz.data_ptr());
  O* op = reinterpret_cast<O*>(out.data_ptr());
  for_each_pass(x.size(0), N / TILE, [&](int rows, int64_t m0, int64_t t0, int64_t t1) {
    const Quantized xq{q.xq + m0 * K, q.d + m0 * (K / BLOCK), q.sum + m0 * (K / BLOCK), K};
    with_rows(rows, [&](auto m) {
      run_tiles<S, O, decltype(m)::value>(path, wp, sp, xq, op + m0 * N, N, t0, t1, group);
    });
  });
}

// x (..., K): any leading dimensions (a layer's (B, T, K) as it comes), out (..., N).
at::Tensor int4_mm(const at::Tensor& x_in, const at::Tensor& w, const at::Tensor& sz, int64_t group, int64_t path) {
  TORCH_CHECK(x_in.dim() >= 1 && w.dim() == 2 && sz.dim() == 4,
              "int4_mm: x (..., K), w (N, K/2), sz (N/16, K/g, 2, 16)");
  const int64_t K = x_in.size(-1), N = w.size(0);
  const auto x = x_in.reshape({-1, K}).contiguous();
  const int64_t M = x.size(0);
  TORCH_CHECK(w.scalar_type() == at::kByte && w.is_contiguous() && w.size(1) * 2 == K,
              "int4_mm: w must be uint8 (N, K/2)");
  TORCH_CHECK(N % TILE == 0 && K % BLOCK == 0 && group % BLOCK == 0 && K % group == 0,
              "int4_mm: N a multiple of 16, K of the group size, the group size of 32");
  TORCH_CHECK(sz.is_contiguous() && sz.size(0) == N / TILE && sz.size(1) == K / group && sz.size(2) == 2 &&
                  sz.size(3) == TILE, "int4_mm: sz must be (N/16, K/group, 2, 16)");
  TORCH_CHECK(sz.scalar_type() == at::kBFloat16 || sz.scalar_type() == at::kFloat, "int4_mm: sz bf16 or float32");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kFloat, "int4_mm: x bf16 or float32");
  if (path == AUTO) path = best_path();
  TORCH_CHECK(path_supported(path), "int4_mm: this CPU cannot run path ", path);
  auto out = at::empty({M, N}, x.options());
  with_types(sz.scalar_type() == at::kBFloat16, x.scalar_type() == at::kBFloat16, [&](auto s, auto o) {
    matmul<typename decltype(s)::type, typename decltype(o)::type>(path, x, w, sz, out, group);
  });
  auto sizes = x_in.sizes().vec();
  sizes.back() = N;
  return out.view(sizes);
}

int64_t int4_best_path() { return best_path(); }
bool int4_path_supported(int64_t path) { return path_supported(static_cast<int>(path)); }

}  // namespace

TORCH_LIBRARY(phiflash, m) {
  m.def("int4_mm(Tensor x, Tensor w, Tensor sz, int group, int path) -> Tensor");
  m.def("int8_mm(Tensor x, Tensor w, Tensor scale, int path) -> Tensor");  // int8_mm.cpp
  m.def("bf16_mm(Tensor x, Tensor w, Tensor? bias, int path) -> Tensor");  // bf16_mm.cpp
  m.def("decode_attention(Tensor q, Tensor k, Tensor v, Tensor? mask, float scale, int path) -> Tensor");  // attention.cpp
  m.def("mamba_conv_step(Tensor xz, Tensor(a!) state, Tensor weight, Tensor? bias, int path) -> Tensor");  // mamba_step.cpp
  m.def("mamba_ssm_step(Tensor xdbc, Tensor c, Tensor xz, Tensor dt_w, Tensor dt_b, Tensor A, Tensor D, "
        "Tensor(a!) state, bool emit_memory, int path) -> (Tensor, Tensor)");  // mamba_step.cpp
  m.def("diff_combine(Tensor a, Tensor lam, float lambda_init, Tensor w, float eps) -> Tensor");  // attention.cpp
  m.def("int4_best_path() -> int");
  m.def("int4_path_supported(int path) -> bool");
}

TORCH_LIBRARY_IMPL(phiflash, CPU, m) { m.impl("int4_mm", int4_mm); }

TORCH_LIBRARY_IMPL(phiflash, CompositeExplicitAutograd, m) {
  m.impl("int4_best_path", int4_best_path);
  m.impl("int4_path_supported", int4_path_supported);
}

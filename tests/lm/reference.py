"""Naive twins of every fast path, written from docs/sambay-spec.md and sharing no code with phiflash.lm.sambay/ops.

They read the model's state dict by checkpoint name and compute in float64: a per-timestep scan, attention with
an explicit loop over queries and explicit key sets, no cache, the cross-decoder over every position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def scan_reference(dt, A, Bm, Cm, x, state=None):
    """Per-timestep selective scan in float64. Shapes as phiflash.lm.ops.scan_loop."""
    dt, A, Bm, Cm, x = (t.double() for t in (dt, A, Bm, Cm, x))
    Bsz, T, E = x.shape
    s = torch.zeros(Bsz, E, A.shape[1], dtype=torch.float64) if state is None else state.double().clone()
    ys = []
    for t in range(T):
        s = torch.exp(dt[:, t, :, None] * A) * s + dt[:, t, :, None] * Bm[:, t, None, :] * x[:, t, :, None]
        ys.append((s * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1), s


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _mamba(p, u, K):
    """Returns (output, y before the gate). u: (T, D) for one sequence."""
    T = u.shape[0]
    xz = u @ p["in_proj.weight"].T
    E = xz.shape[1] // 2
    x, z = xz[:, :E], xz[:, E:]
    w, b = p["conv1d.weight"][:, 0, :], p["conv1d.bias"]                       # (E, K)
    c = torch.zeros(T, E, dtype=u.dtype)
    for t in range(T):
        acc = b.clone()
        for k in range(K):
            s = t - (K - 1) + k
            if s >= 0:
                acc = acc + w[:, k] * x[s]
        c[t] = acc * torch.sigmoid(acc)
    N = p["A_log"].shape[1]
    R = p["dt_proj.weight"].shape[1]
    xdbl = c @ p["x_proj.weight"].T
    delta, Bm, Cm = xdbl[:, :R], xdbl[:, R:R + N], xdbl[:, R + N:]
    dt = F.softplus(delta @ p["dt_proj.weight"].T + p["dt_proj.bias"])
    A = -torch.exp(p["A_log"])
    y, _ = scan_reference(dt[None], A, Bm[None], Cm[None], c[None])
    y = y[0] + p["D"] * c
    o = y * (z * torch.sigmoid(z))
    return o @ p["out_proj.weight"].T, y


def _diff_attn(p, q, k, v, allowed, layer_idx, H, Hkv):
    """q (T, H·dh), k/v (S, Hkv·dh); allowed(t) -> list of key indices. Explicit loops over pairs and queries."""
    T = q.shape[0]
    dh = q.shape[1] // H
    G = H // Hkv
    q = q.view(T, H, dh)
    k = k.view(-1, Hkv, dh)
    v = v.view(-1, Hkv, dh)
    lam_init = 0.8 - 0.6 * math.exp(-0.3 * layer_idx)
    lam = (torch.exp((p["inner_cross_attn.lambda_q1"] * p["inner_cross_attn.lambda_k1"]).sum())
           - torch.exp((p["inner_cross_attn.lambda_q2"] * p["inner_cross_attn.lambda_k2"]).sum()) + lam_init)
    out = torch.zeros(T, H, dh, dtype=q.dtype)
    for j in range(H // 2):
        m = j // G
        for t in range(T):
            keys = allowed(t)
            branch = []
            for i in (0, 1):
                scores = torch.stack([q[t, 2 * j + i] @ k[s, 2 * m + i] for s in keys]) / math.sqrt(dh)
                P = torch.softmax(scores, 0)
                vals = torch.stack([torch.cat([v[s, 2 * m], v[s, 2 * m + 1]]) for s in keys])   # (S, 2dh)
                branch.append(P @ vals)
            a = branch[0] - lam * branch[1]
            a = a / torch.sqrt((a * a).mean() + 1e-5) * p["inner_cross_attn.subln.weight"] * (1 - lam_init)
            out[t, 2 * j], out[t, 2 * j + 1] = a[:dh], a[dh:]
    return out.reshape(T, H * dh) @ p["out_proj.weight"].T + p["out_proj.bias"]


def reference_logits(model, input_ids: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) float64 for every position, from the state dict alone."""
    cfg = model.config
    sd = {k: v.double() for k, v in model.state_dict().items()}
    L, H, Hkv, D = cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size
    eps = cfg.layer_norm_eps
    outs = []
    for ids in input_ids:
        h = sd["model.embed_tokens.weight"][ids]
        memory = kv = None
        for i in range(L):
            pre = f"model.layers.{i}."
            p = {k[len(pre) + 5:]: v for k, v in sd.items() if k.startswith(pre + "attn.")}
            u = _ln(h, sd[pre + "input_layernorm.weight"], sd[pre + "input_layernorm.bias"], eps)
            if i % 2 == 0 and i <= L // 2:
                a, y = _mamba(p, u, cfg.mamba_d_conv)
                if i == L // 2:
                    memory = y
            elif i % 2 == 0:
                g = u @ p["in_proj.weight"].T
                a = (g * torch.sigmoid(g) * memory) @ p["out_proj.weight"].T
            else:
                qkv = u @ p["Wqkv.weight"].T + p["Wqkv.bias"]
                q = qkv[:, :D]
                if i <= L // 2 + 1:
                    k, v = qkv[:, D:D + Hkv * D // H], qkv[:, D + Hkv * D // H:]
                    if i == L // 2 + 1:
                        kv = (k, v)
                else:
                    k, v = kv
                W = cfg.window(i)
                allowed = (lambda t: list(range(max(0, t - W + 1), t + 1))) if W else (lambda t: list(range(t + 1)))
                a = _diff_attn(p, q, k, v, allowed, i, H, Hkv)
            h = h + a
            vv = _ln(h, sd[pre + "post_attention_layernorm.weight"], sd[pre + "post_attention_layernorm.bias"], eps)
            gu = vv @ sd[pre + "mlp.fc1.weight"].T
            F_ = gu.shape[1] // 2
            g, up = gu[:, :F_], gu[:, F_:]
            h = h + (g * torch.sigmoid(g) * up) @ sd[pre + "mlp.fc2.weight"].T
        h = _ln(h, sd["model.final_layernorm.weight"], sd["model.final_layernorm.bias"], eps)
        outs.append(h @ sd["model.embed_tokens.weight"].T if cfg.tie_word_embeddings else h @ sd["lm_head.weight"].T)
    return torch.stack(outs)


def reference_generate(model, prompt: list[int], max_new_tokens: int, stop_ids=()) -> list[int]:
    """Greedy generation by full recompute with model.forward every step (no cache)."""
    ids = list(prompt)
    out = []
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0, -1]
        tok = int(torch.argmax(logits))
        out.append(tok)
        ids.append(tok)
        if tok in stop_ids:
            break
    return out


def ngram_match(history: list[int], k: int, n_max: int = 4) -> tuple[list[int], int]:
    """Up to k tokens that followed an earlier occurrence of the text's last n tokens, and n: the longest n ≤ n_max
    that occurred before (the latest occurrence with k tokens after it, else the longest continuation found).
    Reasoning traces restate equations and copy expressions, and the prompt is part of the history."""
    if k <= 0:
        return [], 0
    for n in range(min(n_max, len(history) - 1), 0, -1):
        tail, best = history[-n:], []
        for i in range(len(history) - n - 1, -1, -1):
            if history[i:i + n] == tail:
                follow = history[i + n:i + n + k]
                if len(follow) == k:
                    return follow, n
                best = max(best, follow, key=len)
        if best:
            return best, n
    return [], 0


def ngram_draft(history: list[int], k: int, n_max: int = 4) -> list[int]:
    return ngram_match(history, k, n_max)[0]

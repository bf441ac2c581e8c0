"""The model against the naive float64 reference (tests/reference.py), per dtype."""

import pytest
import torch
from reference import reference_logits

from phiflash.lm.testing import random_model

# Tolerances, as a fraction of the largest |logit| of the reference: float32 is exact up to accumulation order;
# bfloat16 carries ~3 significant digits through 8 layers.
TOL = {torch.float32: 1e-5, torch.bfloat16: 3e-2}


@pytest.fixture(scope="module")
def models(tiny_config):
    return {dt: random_model(tiny_config, seed=1, dtype=dt) for dt in TOL}


@pytest.mark.parametrize("dtype", list(TOL))
@pytest.mark.parametrize("batch,T", [(1, 1), (1, 8), (2, 21)])  # T=1, T=W, T>2W with W=8
def test_forward_matches_reference(models, dtype, batch, T):
    model = models[dtype]
    ids = torch.randint(0, model.config.vocab_size, (batch, T), generator=torch.Generator().manual_seed(T))
    ref = reference_logits(models[torch.float32], ids) if dtype == torch.float32 else \
        reference_logits(model, ids)
    out = model(ids).double()
    assert out.shape == (batch, T, model.config.vocab_size)
    err = (out - ref).abs().max() / ref.abs().max()
    assert err < TOL[dtype], f"relative error {err:.2e}"


def test_chunked_forward_matches_one_chunk(models):
    model = models[torch.float32]
    ids = torch.randint(0, model.config.vocab_size, (2, 23))
    whole = model(ids)
    chunked = model(ids, chunk=5)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


def test_causality(models):
    model = models[torch.float32]
    ids = torch.randint(0, model.config.vocab_size, (1, 20))
    base = model(ids)
    for t in (0, 7, 13, 19):
        changed = ids.clone()
        changed[0, t] = (changed[0, t] + 1) % model.config.vocab_size
        out = model(changed)
        assert torch.equal(out[:, :t], base[:, :t]), f"token {t} changed earlier logits"
        assert not torch.allclose(out[:, t], base[:, t]), f"token {t} changed nothing at its own position"


def test_yoco_prefill_equals_full_path_last_logits(models):
    model = models[torch.float32]
    ids = torch.randint(0, model.config.vocab_size, (2, 19))
    cache = model.new_cache(2, 32)
    last = model.prefill(ids, cache)
    torch.testing.assert_close(last, model(ids)[:, -1].float(), rtol=0, atol=1e-5)

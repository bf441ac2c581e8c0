"""Self-consistency (issue 16): samples from one prefill, answers grouped by the verdict code, SymPy's verdict over
any vote, consensus / split, early stop, and the record and summary that report them."""

import json

import pytest
from typer.testing import CliRunner

from phiflash.app import batch as B
from phiflash.app import consensus as C
from phiflash.app import record
from phiflash.app.cli import app
from phiflash.app.engines import auto_samples

runner = CliRunner()


def S(answer, verdict="unverifiable"):
    return C.Sample(answer, verdict=verdict)


WORDS = "Sam has some apples and gives two away. How many apples are left?"   # SymPy can't read it


def test_equal_answers_in_any_notation_are_one_group():
    samples = [S(r"\frac12"), S("0.5"), S("2"), S("1/2")]
    assert C.group(samples, WORDS) == [[0, 1, 3], [2]]
    verdict, pick, agreement, reason = C.decide(samples, WORDS, 4)
    assert verdict == C.CONSENSUS and pick == 0 and reason == "3 of 4 samples agree"
    assert agreement.to_dict(samples)["groups"][0] == {"answer": r"\frac12", "count": 3, "samples": [0, 1, 3]}


def test_no_three_quarters_is_split_with_the_candidates():
    verdict, _, _, reason = C.decide([S("5"), S("5"), S("7"), S(None)], WORDS, 4)
    assert verdict == C.SPLIT and reason == "no answer has 3 of 4 samples: 5 (2), 7 (1)"
    assert C.decide([S(None)] * 4, WORDS, 4)[0] == "unverifiable"


def test_sympy_wins_over_any_vote():
    samples = [S("x = 4", "wrong"), S("x = 4", "wrong"), S("x = 4", "wrong"), S("x = 3", "verified")]
    verdict, pick, agreement, _ = C.decide(samples, "2x = 6", 4)
    assert verdict == "verified" and pick == 3 and agreement.dropped == [0, 1, 2]
    verdict, _, _, reason = C.decide([S("x = 4", "wrong"), S("7"), S("7"), S("7")], "2x = 6", 4)
    assert verdict == C.CONSENSUS and "1 sample proven wrong by SymPy dropped" in reason
    assert C.decide([S("x = 4", "wrong")] * 2, "2x = 6", 2)[0] == "wrong"


def test_settled_once_the_rest_cannot_change_the_outcome():
    assert not C.settled([S("5"), S("5"), None, None], 4, WORDS)
    assert C.settled([S("5"), S("5.0"), S("5"), None], 4, WORDS)
    assert C.settled([S("x = 3", "verified"), None, None, None], 4, "2x = 6")


def test_default_sample_count_follows_what_sympy_can_check():
    assert auto_samples("2x + 3 = 11") == 1
    assert auto_samples(WORDS) == 4


def test_summary_counts_consensus_and_split_apart_from_verified():
    recs = [record.make("batch", verdict=v, answer="1") for v in ("verified", "consensus", "consensus", "split")]
    s = B.summarize(recs)
    assert (s["verified"], s["consensus"], s["split"], s["wrong"]) == (1, 2, 1, 0)


# ---- with a model ------------------------------------------------------------------------------------------------


def test_samples_prefill_once_and_report_every_sample(chat_checkpoint, monkeypatch, tmp_path):
    from phiflash.app.engines import PhiEngine
    from phiflash.lm.generate import SamplingParams
    eng = PhiEngine(chat_checkpoint, quantize="none")
    calls = []
    real = eng.model.prefill
    monkeypatch.setattr(eng.model, "prefill", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = eng.solve_samples(WORDS, 4, SamplingParams(temperature=1.0, seed=1), max_tokens=6)
    assert calls == [1]                                      # one prefill for the four rows
    rec = result.to_record("solve")
    assert record.problems(rec) == []
    assert len(rec["samples"]) == 4 and all(s["tokens"] <= 6 for s in rec["samples"])
    assert rec["agreement"]["of"] == 4 and rec["timings"]["samples"] == 4


def test_early_stop_ends_the_other_samples(chat_checkpoint, monkeypatch, tmp_path):
    """Sample 0 answers after 4 tokens, the others write on; once the finished samples settle the result, the
    others end as "early stop" (a scripted model: the tiny random one never stops on its own)."""
    from scripted import Scripted

    from phiflash.app.engines import PhiEngine
    from phiflash.lm.generate import GREEDY
    eng = PhiEngine(chat_checkpoint, quantize="none")
    tok = eng.tokenizer
    head, tail = tok.encode("So x is"), tok.encode(" one more step") * 4
    eng.model = Scripted(eng.model, head + [tok.stop_ids[0]] + tail, head + tok.encode(" then") + tail)
    monkeypatch.setattr(C, "settled", lambda done, k, problem: any(d is not None for d in done))
    result = eng.solve_samples(WORDS, 3, GREEDY, max_tokens=12)
    assert result.agreement["early_stop"] is True
    assert [s["finish_reason"] for s in result.samples] == ["stop", "early stop", "early stop"]
    assert [s["tokens"] for s in result.samples] == [len(head) + 1] * 3
    result = eng.solve_samples(WORDS, 3, GREEDY, max_tokens=12, early_stop=False)
    assert result.agreement["early_stop"] is False
    assert [(s["finish_reason"], s["tokens"]) for s in result.samples] == \
        [("stop", len(head) + 1), ("length", 12), ("length", 12)]


def test_solve_samples_on_the_command_line(chat_checkpoint):
    r = runner.invoke(app, ["solve", WORDS, "--model", str(chat_checkpoint), "--samples", "3", "--max-tokens", "5",
                            "--json", "--seed", "2", "--no-early-stop"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert len(rec["samples"]) == 3 and rec["verdict"] in record.VERDICTS
    r = runner.invoke(app, ["solve", "2x = 6", "--engine", "symbolic", "--samples", "4"])
    assert r.exit_code == 1 and "--samples only applies to the model" in r.stderr


@pytest.mark.parametrize("k", [1, 2])
def test_batch_with_samples_writes_records_in_the_schema(chat_checkpoint, tmp_path, k):
    f = tmp_path / "p.txt"
    f.write_text(WORDS + "\n")
    r = runner.invoke(app, ["batch", str(f), "--model", str(chat_checkpoint), "--samples", str(k), "--max-tokens",
                            "4", "--temperature", "0"])
    assert r.exit_code == 0, r.output
    (rec,) = [json.loads(x) for x in (tmp_path / "p.txt.results.jsonl").read_text().splitlines()]
    assert record.problems(rec) == [] and (rec["samples"] is None) == (k == 1)

"""`phiflash serve` (issue 26), against the real server: uvicorn on a free port in a thread of this process with the
tiny checkpoint, driven by the official `openai` client, raw HTTP for the error cases; one real process for the
command itself (slow tier)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import uvicorn
from scripted import Scripted

from phiflash.app.engines import PhiEngine, SymbolicEngine
from phiflash.app.server import MODEL_ID, Scheduler, Served, build_app
from phiflash.lm.generate import GREEDY, generate

ASK = [{"role": "user", "content": "What is 2+2?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A server on a free port, in a thread; stopped (and its scheduler) on exit."""

    def __init__(self, engine, **kw):
        sched = Scheduler(engine.model, engine.tokenizer, kw.pop("max_rows", 8), kw.pop("max_queue", 32)) \
            if engine.name == "phi" else None
        self.served = Served(engine, scheduler=sched, **kw)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(build_app(self.served), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))

    def __enter__(self):
        if self.served.scheduler:
            self.served.scheduler.start()
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.served.scheduler:
            self.served.scheduler.stop()

    def client(self, key: str = "none") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def engine(chat_checkpoint):
    return PhiEngine(chat_checkpoint, quantize="none", threads=1)


@pytest.fixture(scope="module")
def server(engine):
    with Running(engine) as s:
        yield s


def alone(engine, messages, n_tokens, **kw):
    """What the library gives the same conversation: the Completion(s)."""
    return generate(engine.model, [messages], GREEDY, max_new_tokens=n_tokens, tokenizer=engine.tokenizer,
                    **kw).run()


def test_models_and_health(server):
    models = server.client().models.list()
    assert [m.id for m in models.data] == [MODEL_ID] and models.data[0].model_extra["phiflash"]["engine"] == "phi"
    assert httpx.get(server.url + "/health").json() == {"status": "ok", "engine": "phi", "rows": 0, "waiting": 0}


def test_plain_and_streamed_give_what_the_library_gives(server, engine):
    want = alone(engine, ASK, 10)[0]
    c = server.client().chat.completions.create(model=MODEL_ID, messages=ASK, max_tokens=10, temperature=0)
    assert c.choices[0].message.content == want.answer and c.choices[0].finish_reason == "length"
    assert c.usage.prompt_tokens == want.prompt_tokens and c.usage.completion_tokens == 10
    assert c.choices[0].model_extra["phiflash"] is None            # cut at max_tokens: no final answer
    stream = server.client().chat.completions.create(model=MODEL_ID, messages=ASK, max_tokens=10, temperature=0,
                                                     stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == want.text and chunks[-1].usage.completion_tokens == 10 and chunks[-1].choices == []
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length"


def test_n_samples_stop_strings_and_seed(server, engine):
    client = server.client()
    c = client.chat.completions.create(model=MODEL_ID, messages=ASK, max_tokens=8, temperature=0, n=2)
    want = alone(engine, ASK, 8)[0].answer
    assert [ch.message.content for ch in c.choices] == [want, want] and c.usage.completion_tokens == 16
    stop = want[2:5]
    c = client.chat.completions.create(model=MODEL_ID, messages=ASK, max_tokens=8, temperature=0, stop=[stop])
    assert c.choices[0].message.content == want[:want.index(stop)].strip() and c.choices[0].finish_reason == "stop"
    a, b = (client.chat.completions.create(model=MODEL_ID, messages=ASK, max_tokens=8, seed=5, temperature=1.0)
            for _ in range(2))
    assert a.choices[0].message.content == b.choices[0].message.content


def test_reasoning_fields_and_the_verdict(engine):
    """A scripted model that reasons and answers: the reasoning goes in reasoning_content and reasoning, the answer
    in content, and SymPy's verdict on it in the phiflash extension (plain and streamed)."""
    tok = engine.tokenizer
    scripted = PhiEngine.__new__(PhiEngine)
    scripted.__dict__.update(engine.__dict__)
    scripted.model = Scripted(engine.model, tok.encode("<think> x+1=3 so x=2 </think>So \\boxed{2}.")
                              + [tok.stop_ids[0]])
    ask = [{"role": "user", "content": "Solve x+1=3"}]
    with Running(scripted) as s:
        c = s.client().chat.completions.create(model=MODEL_ID, messages=ask, max_tokens=60)
        msg = c.choices[0].message
        assert msg.content == "So \\boxed{2}." and "x=2" in msg.model_extra["reasoning_content"]
        assert msg.model_extra["reasoning"] == msg.model_extra["reasoning_content"]
        ext = c.choices[0].model_extra["phiflash"]
        assert ext["verdict"] == "verified" and ext["answer_latex"] == "2"
        assert 0 < c.usage.completion_tokens_details.reasoning_tokens < c.usage.completion_tokens
        chunks = list(s.client().chat.completions.create(model=MODEL_ID, messages=ask, max_tokens=60, stream=True))
        deltas = [ch.choices[0].delta for ch in chunks]
        assert "".join(d.content or "" for d in deltas).strip() == msg.content
        assert "x=2" in "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
        assert chunks[-1].choices[0].model_extra["phiflash"]["verdict"] == "verified"
        c = s.client().chat.completions.create(model=MODEL_ID, messages=ask, max_tokens=60, n=2)
        assert c.choices[1].model_extra["phiflash"]["agreement"]["of"] == 2


def test_concurrent_greedy_requests_each_get_their_tokens_alone(server, engine):
    asks = [[{"role": "user", "content": q}] for q in ("What is 2+2?", "Solve x^2=9", "Integrate x", "7*8?")]
    want = [alone(engine, a, 12)[0].answer for a in asks]

    def one(a):
        return server.client().chat.completions.create(model=MODEL_ID, messages=a, max_tokens=12,
                                                       temperature=0).choices[0].message.content
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(one, asks))
    assert got == want


def test_a_client_that_goes_away_frees_its_row(server):
    body = {"messages": ASK, "max_tokens": 30000, "stream": True, "temperature": 1.0}   # a minute of sampling
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i == 6:
                assert httpx.get(server.url + "/health").json()["rows"] == 1
                break                                      # httpx closes the connection here
    for _ in range(100):
        if httpx.get(server.url + "/health").json()["rows"] == 0:
            break
        time.sleep(0.05)
    assert httpx.get(server.url + "/health").json()["rows"] == 0


def test_a_client_that_gives_up_on_a_plain_request_frees_its_row(server):
    body = {"messages": ASK, "max_tokens": 30000, "temperature": 1.0}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/chat/completions", json=body, timeout=1.0)
    for _ in range(100):
        if httpx.get(server.url + "/health").json()["rows"] == 0:
            break
        time.sleep(0.05)
    assert httpx.get(server.url + "/health").json()["rows"] == 0


@pytest.mark.parametrize("body,status,words", [
    (b"{bad json", 400, "not valid JSON"),
    (json.dumps({"messages": ASK, "temperature": "hot"}).encode(), 400, "'temperature' must be"),
    (json.dumps({"messages": ASK, "n": 0}).encode(), 400, "'n' must be"),
    (json.dumps({"messages": "hi"}).encode(), 400, "'messages' must be"),
    (json.dumps({"messages": ASK, "max_tokens": 10 ** 9}).encode(), 400, "exceed the context"),
    (json.dumps({"model": "gpt-4o", "messages": ASK}).encode(), 404, "does not exist"),
    (b"x" * (2 << 20), 413, "over"),
])
def test_bad_requests_get_an_openai_error_body(server, body, status, words):
    r = httpx.post(server.url + "/v1/chat/completions", content=body, timeout=30)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert words in err["message"] and set(err) == {"message", "type", "param", "code"}


def test_unknown_fields_are_ignored_and_unknown_routes_are_404(server):
    r = httpx.post(server.url + "/v1/chat/completions", json={"messages": ASK, "max_tokens": 2, "logit_bias": {},
                                                              "user": "me", "frequency_penalty": 0}, timeout=30)
    assert r.status_code == 200
    r = httpx.get(server.url + "/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_api_key_and_a_full_server(engine):
    with Running(engine, api_key="sekret", max_rows=1, max_queue=0) as s:
        with pytest.raises(openai.AuthenticationError):
            s.client("wrong").models.list()
        assert httpx.get(s.url + "/v1/models").status_code == 401
        client = s.client("sekret")
        assert client.models.list().data[0].id == MODEL_ID
        long = {"messages": ASK, "max_tokens": 30000, "stream": True, "temperature": 1.0}
        for _ in range(5):   # the random model may end its reply at once, freeing the row: then try again
            with httpx.stream("POST", s.url + "/v1/chat/completions", json=long, timeout=30,
                              headers={"Authorization": "Bearer sekret"}) as r:
                lines = r.iter_lines()
                next(lines)
                try:
                    client.chat.completions.create(model=MODEL_ID, messages=ASK, max_tokens=2)
                except openai.RateLimitError:
                    break
                assert "data: [DONE]" in list(lines), "the server was full, yet a second request was answered"
        else:
            pytest.fail("the long request ended at once five times: the full server was never tried")


def test_without_weights_the_symbolic_engine_answers(tmp_path):
    with Running(SymbolicEngine()) as s:
        client = s.client()
        assert client.models.list().data[0].model_extra["phiflash"]["engine"] == "symbolic"
        c = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "x^2 = 9"}])
        assert "Answer:" in c.choices[0].message.content
        assert c.choices[0].model_extra["phiflash"]["verdict"] == "verified"
        c = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "tell me a joke"}])
        assert c.choices[0].model_extra["phiflash"]["verdict"] == "unverifiable"
        chunks = list(client.chat.completions.create(model=MODEL_ID, stream=True,
                                                     messages=[{"role": "user", "content": "2x = 8"}]))
        assert "x = 4" in "".join(ch.choices[0].delta.content or "" for ch in chunks)


@pytest.mark.slow
def test_the_serve_command_answers_and_drains_on_sigterm(chat_checkpoint):
    """The real command in a process: a port in use is one line; SIGTERM lets the request in flight finish (its
    stream ends with [DONE]), then the server exits by that signal, with no traceback."""
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "phiflash", "serve", "--model", str(chat_checkpoint), "--port",
                          str(port), "--quantize", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        busy = subprocess.run([sys.executable, "-m", "phiflash", "serve", "--engine", "symbolic", "--port",
                               str(port)], capture_output=True, text=True, timeout=60)
        assert busy.returncode == 1 and "choose another --port" in busy.stderr and "Traceback" not in busy.stderr
        body = {"messages": ASK, "max_tokens": 300, "stream": True, "temperature": 1.0}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            next(lines)
            p.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]" and '"finish_reason": "length"' in rest[-2]
        assert p.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Traceback" not in p.stderr.read()
    finally:
        p.kill()

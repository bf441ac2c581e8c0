"""`phiflash serve`: an OpenAI-compatible chat completions server, with verdicts.

Starlette routes, run by uvicorn. One scheduler thread owns the model and a running Generation (lm/generate.py):
requests join the batch between steps and their rows leave as they finish, so requests that arrive together decode
together. Each request reads its events from an asyncio queue the scheduler fills. Without weights the symbolic
engine answers through the same API.

Reasoning goes in `reasoning_content` (DeepSeek, llama.cpp) and `reasoning` (vLLM, Ollama); the answer in
`content`. Each choice carries `phiflash: {verdict, reason, expected, answer_latex, agreement}` when the reply
has a final answer (SymPy's verdict on it; `agreement` over the choices when n > 1), else null.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import PhiflashError
from ..lm.params import SamplingParams

MODEL_ID = "phi-4-mini-flash-reasoning"
MAX_N = 16


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.kind, self.param, self.code)


def error_response(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None) -> JSONResponse:
    """OpenAI's error body."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


# ---- the request, read and checked -------------------------------------------------------------------------------


@dataclass
class ChatRequest:
    messages: list[dict]
    params: SamplingParams
    max_tokens: int | None
    n: int = 1
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False

    @property
    def problem(self) -> str:
        """The last user message: what a verdict is about."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


def _typed(body: dict, name: str, kinds: tuple, check=None, why: str = ""):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds) or (check and not check(value)):
        raise ApiError(400, f"'{name}' must be {why}, got {json.dumps(value)[:60]}", param=name)
    return value


def read_request(body, model_id: str) -> ChatRequest:
    """The fields phiflash uses, checked; other fields are ignored, as OpenAI clients expect."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if model is not None and model != model_id:
        raise ApiError(404, f"The model '{model}' does not exist; this server serves '{model_id}'",
                       param="model", code="model_not_found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{i}] needs a role of system, user or assistant", param="messages")
        content = m.get("content")
        if isinstance(content, list):  # content parts: the text ones are the message
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string", param="messages")
        clean.append({"role": m["role"], "content": content})
    number = (int, float)
    temperature = _typed(body, "temperature", number, lambda v: 0 <= v <= 2, "a number in [0, 2]")
    top_p = _typed(body, "top_p", number, lambda v: 0 < v <= 1, "a number in (0, 1]")
    seed = _typed(body, "seed", (int,), None, "an integer")
    max_tokens = _typed(body, "max_completion_tokens", (int,), lambda v: v >= 1, "a positive integer")
    if max_tokens is None:
        max_tokens = _typed(body, "max_tokens", (int,), lambda v: v >= 1, "a positive integer")
    n = _typed(body, "n", (int,), lambda v: 1 <= v <= MAX_N, f"an integer from 1 to {MAX_N}") or 1
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, list) or len(stop) > 4 or
                             not all(isinstance(s, str) and s for s in stop)):
        raise ApiError(400, "'stop' must be a string or a list of up to 4 non-empty strings", param="stop")
    stream = _typed(body, "stream", (bool,), None, "true or false") or False
    options = _typed(body, "stream_options", (dict,), None, "an object") or {}
    card = SamplingParams()
    params = SamplingParams(temperature=card.temperature if temperature is None else float(temperature),
                            top_p=card.top_p if top_p is None else float(top_p), seed=seed)
    return ChatRequest(clean, params, max_tokens, n, tuple(stop or ()), stream,
                       bool(options.get("include_usage")))


# ---- the scheduler: one thread, one running batch ----------------------------------------------------------------


@dataclass
class Ticket:
    """One request in the scheduler: its prompt and settings, and where its events go."""
    prompt: list[int]
    request: ChatRequest
    max_tokens: int
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    rid: int | None = None
    cancelled: bool = False


class Busy(Exception):
    pass


class Scheduler:
    """Owns the model. Tickets wait in a bounded queue; up to max_rows rows decode at once, new requests joining the
    running batch at the next step. Events go to each ticket's asyncio queue, thread-safely."""

    def __init__(self, model, tokenizer, max_rows: int = 8, max_queue: int = 32):
        from ..lm.generate import Generation

        self.model, self.tokenizer, self.max_rows, self.max_queue = model, tokenizer, max_rows, max_queue
        self.g = Generation(model, tokenizer)
        self.waiting: queue.Queue[Ticket] = queue.Queue()
        self.live: dict[int, Ticket] = {}
        self.cancels: queue.Queue[Ticket] = queue.Queue()
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="phiflash-scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join(timeout=10)

    @property
    def load(self) -> dict:
        return {"rows": len(self.g.rows), "waiting": self.waiting.qsize()}

    def submit(self, ticket: Ticket) -> None:
        free = max(0, self.max_rows - len(self.g)) if self.g.busy else self.max_rows
        if self.waiting.qsize() >= self.max_queue + (1 if free >= ticket.request.n else 0):
            raise Busy(f"every row is busy and {self.max_queue} request(s) already wait: retry later")
        self.waiting.put(ticket)
        self.wake.set()

    def cancel(self, ticket: Ticket) -> None:
        ticket.cancelled = True
        self.cancels.put(ticket)
        self.wake.set()

    def _send(self, ticket: Ticket, item) -> None:
        ticket.loop.call_soon_threadsafe(ticket.events.put_nowait, item)

    def _admit(self) -> None:
        """The waiting requests that fit beside the rows decoding (one with n > max_rows runs alone)."""
        while not self.waiting.empty():
            n = self.waiting.queue[0].request.n
            if self.g.busy and len(self.g) + n > self.max_rows:
                return
            t = self.waiting.get()
            if t.cancelled:
                continue
            r = t.request
            try:
                t.rid = self.g.add(t.prompt, r.params, max_new_tokens=t.max_tokens, samples=r.n, stop=r.stop,
                                   speculate=r.n == 1)
            except PhiflashError as e:
                self._send(t, e)
                continue
            self.live[t.rid] = t

    def _run(self) -> None:
        while not self.stopping:
            while not self.cancels.empty():
                t = self.cancels.get()
                if t.rid is not None and t.rid in self.live:
                    self.g.cancel(t.rid)      # its rows leave the batch; nobody reads the events
                    del self.live[t.rid]
            self._admit()
            if not self.g.busy:
                self.wake.wait(timeout=0.5)
                self.wake.clear()
                continue
            try:
                events = self.g.step()
            except Exception as e:  # noqa: BLE001 - the requests in flight get the error; the server goes on
                from ..lm.generate import Generation
                for t in self.live.values():
                    self._send(t, PhiflashError(f"generation failed: {e}"))
                self.live.clear()
                self.g = Generation(self.model, self.tokenizer)
                continue
            by_ticket: dict[int, list] = {}
            for e in events:
                if e.request in self.live:
                    by_ticket.setdefault(e.request, []).append(e)
            for rid, evs in by_ticket.items():
                self._send(self.live[rid], evs)
            for rid in [rid for rid in self.live if not any(r.request == rid for r in self.g.rows)]:
                del self.live[rid]


# ---- the app -----------------------------------------------------------------------------------------------------


@dataclass
class Served:
    engine: object                      # PhiEngine or SymbolicEngine
    model_id: str = MODEL_ID
    api_key: str | None = None
    max_body: int = 1 << 20
    scheduler: Scheduler | None = None
    started: float = field(default_factory=time.time)


def _extensions(engine, problem: str, completions) -> list[dict | None]:
    """Each choice's phiflash extension: SymPy's verdict on its final answer (None without one), and with n > 1
    how the choices' answers group (consensus.py) — each completion graded once."""
    from . import consensus as C

    graded = [engine.sample(problem, c) for c in completions]
    agreement = None
    if len(graded) > 1:
        samples = [s for s, _ in graded]
        verdict, _, groups, reason = C.decide(samples, problem, len(samples))
        agreement = {"verdict": verdict, "reason": reason or None, **groups.to_dict(samples)}
    return [None if r.answer is None else {"verdict": r.verdict, "reason": r.reason or None, "expected": r.expected,
                                           "answer_latex": r.answer_latex, "agreement": agreement}
            for _, r in graded]


def _usage(prompt_tokens: int, completions) -> dict:
    out = sum(len(c.token_ids) for c in completions)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": out, "total_tokens": prompt_tokens + out,
            "completion_tokens_details": {"reasoning_tokens": sum(c.reasoning_tokens for c in completions)}}


def _finish(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def build_app(served: Served) -> Starlette:
    async def guard(request: Request) -> None:
        if served.api_key is not None:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {served.api_key}":
                raise ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer KEY'",
                               kind="authentication_error", code="invalid_api_key")

    async def models(request: Request) -> Response:
        await guard(request)
        return JSONResponse({"object": "list", "data": [
            {"id": served.model_id, "object": "model", "created": int(served.started), "owned_by": "phiflash",
             "phiflash": {"engine": served.engine.name}}]})

    async def health(request: Request) -> Response:
        load = served.scheduler.load if served.scheduler else {"rows": 0, "waiting": 0}
        return JSONResponse({"status": "ok", "engine": served.engine.name, **load})

    async def chat(request: Request) -> Response:
        await guard(request)
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > served.max_body:
            raise ApiError(413, f"the request body is over {served.max_body} bytes")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > served.max_body:
                raise ApiError(413, f"the request body is over {served.max_body} bytes")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ApiError(400, f"the request body is not valid JSON ({e})") from None
        req = read_request(body, served.model_id)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": cid, "created": created, "model": served.model_id}
        if served.scheduler is None:
            return await _symbolic(served, req, head)
        return await _model(served, req, head, request)

    async def not_found(request: Request, exc) -> Response:
        return error_response(404, f"no route {request.method} {request.url.path}", code="not_found")

    async def api_error(request: Request, exc: ApiError) -> Response:
        return exc.response()

    async def method_not_allowed(request: Request, exc) -> Response:
        return error_response(405, f"{request.method} is not allowed on {request.url.path}")

    async def internal(request: Request, exc: Exception) -> Response:  # a bug: the client gets one line
        return error_response(500, f"internal error ({type(exc).__name__}: {exc})", kind="server_error")

    return Starlette(routes=[Route("/v1/models", models), Route("/health", health),
                             Route("/v1/chat/completions", chat, methods=["POST"])],
                     exception_handlers={404: not_found, 405: method_not_allowed, ApiError: api_error,
                                         Exception: internal})


async def _symbolic(served: Served, req: ChatRequest, head: dict) -> Response:
    """The symbolic engine's steps and answer as the reply; its verdict in the extension."""
    from .engines import Refused

    engine = served.engine
    try:
        r = await asyncio.to_thread(engine.solve, req.problem)
        lines = [f"{i}. {s.get('text', '')}" for i, s in enumerate(r.steps or [], 1)]
        content = "\n".join(lines + [f"Answer: {r.answer}"])
        ext = {"verdict": r.verdict, "reason": r.reason or None, "expected": r.expected,
               "answer_latex": r.answer_latex, "agreement": None}
    except (Refused, PhiflashError) as e:
        content, ext = f"The symbolic engine cannot answer this: {e}", {
            "verdict": "unverifiable", "reason": str(e), "expected": None, "answer_latex": None, "agreement": None}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
             "completion_tokens_details": {"reasoning_tokens": 0}}
    choices = [{"index": i, "finish_reason": "stop", "phiflash": ext,
                "message": {"role": "assistant", "content": content, "reasoning_content": None, "reasoning": None}}
               for i in range(req.n)]
    if not req.stream:
        return JSONResponse({**head, "object": "chat.completion", "choices": choices, "usage": usage})

    async def sse() -> AsyncIterator[str]:
        for c in choices:
            yield _chunk(head, c["index"], {"role": "assistant", "content": content})
            yield _chunk(head, c["index"], {}, "stop", ext)
        if req.include_usage:
            yield _data({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"
    return StreamingResponse(sse(), media_type="text/event-stream")


def _data(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _chunk(head: dict, index: int, delta: dict, finish: str | None = None, ext: dict | None = None) -> str:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    if finish is not None:
        choice["phiflash"] = ext
    return _data({**head, "object": "chat.completion.chunk", "choices": [choice]})


async def _model(served: Served, req: ChatRequest, head: dict, http: Request) -> Response:
    from ..lm.generate import check_context

    sched, engine = served.scheduler, served.engine
    tok = engine.tokenizer
    prompt = tok.encode_chat(req.messages)
    limit = tok.model_max_length or engine.model.config.max_context
    max_tokens = req.max_tokens or max(1, limit - len(prompt))
    try:
        check_context(len(prompt), max_tokens, limit)
    except PhiflashError:
        raise ApiError(400, f"the messages ({len(prompt)} tokens) plus max_tokens ({max_tokens}) exceed the "
                            f"context of {limit} tokens", param="messages", code="context_length_exceeded") from None
    ticket = Ticket(prompt, req, max_tokens, asyncio.get_running_loop())
    try:
        sched.submit(ticket)
    except Busy as e:
        raise ApiError(429, str(e), kind="rate_limit_error", code="busy") from None

    async def events() -> AsyncIterator:
        """The ticket's events until every choice finished; an error from the scheduler is raised."""
        finished = 0
        while finished < req.n:
            item = await ticket.events.get()
            if isinstance(item, Exception):
                raise item
            for e in item:
                finished += e.kind == "finish"
                yield e

    if req.stream:
        async def sse() -> AsyncIterator[str]:
            done = {}
            try:
                for i in range(req.n):
                    yield _chunk(head, i, {"role": "assistant", "content": ""})
                async for e in events():
                    if e.kind == "text":
                        key = "content" if e.section == "answer" else None
                        delta = {key: e.text} if key else {"reasoning_content": e.text, "reasoning": e.text}
                        yield _chunk(head, e.sample, delta)
                    elif e.kind == "finish":
                        done[e.sample] = e.completion
                        if req.n == 1:
                            (ext,) = await asyncio.to_thread(_extensions, engine, req.problem, [e.completion])
                            yield _chunk(head, e.sample, {}, _finish(e.finish_reason), ext)
                if req.n > 1:  # the agreement needs every choice: their finish chunks come together
                    comps = [done[i] for i in range(req.n)]
                    exts = await asyncio.to_thread(_extensions, engine, req.problem, comps)
                    for i, (c, ext) in enumerate(zip(comps, exts)):
                        yield _chunk(head, i, {}, _finish(c.finish_reason), ext)
                if req.include_usage:
                    yield _data({**head, "object": "chat.completion.chunk", "choices": [],
                                 "usage": _usage(len(prompt), list(done.values()))})
                yield "data: [DONE]\n\n"
            except PhiflashError as err:
                yield _data({"error": {"message": str(err), "type": "server_error", "param": None, "code": None}})
            finally:
                if len(done) < req.n:     # the client went away (or an error): its rows leave the batch
                    sched.cancel(ticket)
        return StreamingResponse(sse(), media_type="text/event-stream")

    done: dict = {}

    async def collect() -> None:
        async for e in events():
            if e.kind == "finish":
                done[e.sample] = e.completion

    task = asyncio.create_task(collect())
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            if not task.done() and await http.is_disconnected():
                task.cancel()
                sched.cancel(ticket)
                return Response(status_code=499)
        task.result()
    except PhiflashError as e:
        raise ApiError(500, str(e), kind="server_error") from None
    comps = [done[i] for i in range(req.n)]
    exts = await asyncio.to_thread(_extensions, engine, req.problem, comps)
    choices = []
    for i, (c, ext) in enumerate(zip(comps, exts)):
        choices.append({"index": i, "finish_reason": _finish(c.finish_reason), "phiflash": ext, "logprobs": None,
                        "message": {"role": "assistant", "content": c.answer,
                                    "reasoning_content": c.reasoning or None, "reasoning": c.reasoning or None}})
    return JSONResponse({**head, "object": "chat.completion", "choices": choices,
                         "usage": _usage(len(prompt), comps)})

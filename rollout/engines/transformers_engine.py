"""The transformers engine: a token-by-token decode loop with continuous batching, for policies vLLM cannot
serve on this device.

Requests join the running batch while it runs: waiting prompts are prefilled (left-padded) and their cache rows
merged into the batch's `DynamicCache` (attention keys/values are left-padded to a common length and masked,
Mamba conv/recurrent states are per row); rows that finish are handed back at once and removed from the batch.
Removing and merging rows each copy the whole cache, so finished rows are removed once a quarter of the batch
is done (or new rows merge), and new rows merge once enough of them wait (an eighth of `max_batch`) or the batch
has drained. Requests with the same prompt in one prefill (the samples of a GRPO group) share one forward row,
whose cache row is copied to each. So an episode's next turn rarely waits for the rest of a batch, and a batch
spends few steps on rows that are done. Left padding was checked to give the same logits as unpadded generation
for the hybrid Mamba presets, and the tests compare the behaviour logprobs of merged rows with the learner's
recomputation.

Deliberately simplified: one batch shares temperature and top-p (other requests wait until it drains), and a
cache whose layers are not plain attention or Mamba layers (e.g. sliding-window attention) is served without
merging: new requests wait until the running batch has drained. Sampling uses a `torch.Generator` owned by the
engine, seeded from the first request of each batch.

With `update_in_flight=True`, weight updates land between two decode steps (as vLLM's engine takes them
between its steps): the running rows go on under the new weights with the cache the old ones computed, so a
completion can span policy versions. Each token's behaviour logprob is the one it was sampled with, and a
completion's `version` is the oldest weights it used. By default an update waits for the running batch to
finish and holds new requests back meanwhile, so each completion comes from one version.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
from transformers.cache_utils import DynamicLayer, LinearAttentionLayer
from transformers.generation.logits_process import TopPLogitsWarper

from rollout.engines import cpu_decode
from rollout.engines.base import Generation, GenParams, ThreadEngine, weight_items
from rollout.engines.sampling import sample_rows

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class _Request:
    prompt_ids: list[int]
    params: GenParams
    future: asyncio.Future = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    version: int = 0

    def resolve(self, value: Generation | BaseException) -> None:
        """Hand the result (or the error) to the waiting coroutine, from the engine thread."""
        _settle(self.loop, self.future, value)


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future, value: object) -> None:
    """From the engine thread, complete `future` on its loop with `value` (an exception: fail it), unless it is
    already done (e.g. cancelled)."""

    def _set() -> None:
        if future.done():
            return
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)

    loop.call_soon_threadsafe(_set)


def _left_pad(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    pad = length - x.shape[dim]
    if pad <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = pad
    return torch.cat([x.new_zeros(shape), x], dim=dim)


def merge_rows(cache: DynamicCache, mask: torch.Tensor, new: DynamicCache, new_mask: torch.Tensor) -> torch.Tensor:
    """Append `new`'s batch rows to `cache` in place and return the merged attention mask. Attention keys and
    values are left-padded (and masked) to the longer of the two; Mamba states are per row. ValueError for caches
    `mergeable` rejects or whose layers differ in what they hold."""
    length = max(mask.shape[1], new_mask.shape[1])
    for a, b in zip(cache.layers, new.layers, strict=True):
        if type(a) is DynamicLayer and type(b) is DynamicLayer:
            if a.is_initialized and b.is_initialized:
                a.keys = torch.cat([_left_pad(a.keys, length, -2), _left_pad(b.keys, length, -2)])
                a.values = torch.cat([_left_pad(a.values, length, -2), _left_pad(b.values, length, -2)])
            elif a.is_initialized or b.is_initialized:
                raise ValueError("attention layer initialised in one cache only")
        elif type(a) is LinearAttentionLayer and type(b) is LinearAttentionLayer:
            for i in range(a.number_of_states):
                if a.is_conv_states_initialized[i] != b.is_conv_states_initialized[i]:
                    raise ValueError("conv state initialised in one cache only")
                if a.is_conv_states_initialized[i]:
                    a.conv_states[i] = torch.cat([a.conv_states[i], b.conv_states[i]])
                if a.is_recurrent_states_initialized[i] != b.is_recurrent_states_initialized[i]:
                    raise ValueError("recurrent state initialised in one cache only")
                if a.is_recurrent_states_initialized[i]:
                    a.recurrent_states[i] = torch.cat([a.recurrent_states[i], b.recurrent_states[i]])
        else:
            raise ValueError(f"cache layer {type(a).__name__}")
    return torch.cat([_left_pad(mask, length, 1), _left_pad(new_mask, length, 1)])


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Each token's position among its row's real tokens (left padding does not count), as `generate` computes
    them; rotary attention needs them, Nemotron-H's attention has no positions."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def mergeable(cache: DynamicCache) -> bool:
    """Whether `merge_rows` can add rows to this cache (plain attention and Mamba layers only)."""
    return all(type(layer) in (DynamicLayer, LinearAttentionLayer) for layer in cache.layers)


class TransformersEngine(ThreadEngine):
    """Serve a Hugging Face checkpoint directory with `transformers`, batching continuously."""

    name = "transformers"

    def __init__(
        self,
        path: str | Path,
        dtype: str = "float32",
        max_batch: int = 32,
        seed: int = 0,
        device: str | None = None,
        continuous: bool = True,
        update_in_flight: bool = False,
        decode_kernels: bool = True,
    ):
        """`continuous=False` makes new requests wait until the running batch has drained (micro-batching, the
        comparison point of benchmarks/continuous_batching.py); `update_in_flight=False` makes weight updates
        wait for it (see the module docstring); `decode_kernels` installs `rollout.engines.cpu_decode` on CPU."""
        super().__init__()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], local_files_only=True)
        self.model.to(self.device).eval()
        self.decode_kernels = decode_kernels and self.device == "cpu"
        if self.decode_kernels:
            cpu_decode.install()
            cpu_decode.use_fast_attention(self.model)
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.eos_id = tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_id
        self.max_batch = max_batch
        self.continuous = continuous
        self._seed = seed
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._serving = False
        self._updates_waiting = 0
        self.update_in_flight = update_in_flight
        self._updates: list[tuple[list[tuple[str, torch.Tensor]], int, asyncio.Future, asyncio.AbstractEventLoop]] = []
        self._generator = torch.Generator(self.device)
        self.stats = {
            "batches": 0,
            "decode_steps": 0,
            "joined_running_batch": 0,
            "row_steps": 0,
            "shared_prefill_rows": 0,
            "prefill_s": 0.0,
            "decode_s": 0.0,
        }
        """Counters: batches started, decode steps, requests that joined a running batch, generated tokens (live
        rows summed over decode steps), requests whose prompt another request of the same prefill computed, and
        seconds in prefill and decode forward passes."""

    # ---- request side (event loop) ----

    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:
        loop = asyncio.get_running_loop()
        req = _Request(list(prompt_ids), params, loop.create_future(), loop)
        with self._lock:
            self._pending.append(req)
        self._kick()
        return await req.future

    def _kick(self) -> None:
        """Start the serving loop on the engine thread unless it runs or a weight update waits."""
        with self._lock:
            start = bool(self._pending) and not self._serving and not self._updates_waiting
            if start:
                self._serving = True
        if start:
            self._thread.submit(self._serve)

    async def update_weights(self, weights, version: int) -> None:  # noqa: D102 (Engine API)
        if self.update_in_flight:
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            with self._lock:
                self._updates.append((weight_items(weights), int(version), done, loop))
            # The serving loop applies it before its next decode step; when the engine is idle this job does.
            self._thread.submit(self._apply_updates)
            await done
            return
        with self._lock:
            self._updates_waiting += 1  # the running batch admits nobody new and drains
        try:
            await super().update_weights(weights, version)
        finally:
            with self._lock:
                self._updates_waiting -= 1
            self._kick()

    def _take(self, n: int, sampling: tuple[float, float] | None) -> list[_Request]:
        """Up to n pending requests with these (temperature, top_p) (the first one's when None); nothing while a
        weight update waits."""
        with self._lock:
            if self._updates_waiting or n <= 0:
                return []
            self._pending = [r for r in self._pending if not r.future.cancelled()]
            if not self._pending:
                return []
            first = self._pending[0].params
            taken = self._matching(sampling or (first.temperature, first.top_p))[:n]
            for r in taken:
                self._pending.remove(r)
            return taken

    # ---- engine thread ----

    def _apply_updates(self) -> None:
        """Load the weight updates that wait, in the order they came (between decode steps, or when idle)."""
        with self._lock:
            updates, self._updates = self._updates, []
        for items, version, done, loop in updates:
            try:
                self._load_weights(items)
                self.version = version
                result: BaseException | None = None
            except Exception as exc:  # a bad update fails its caller, not the running batch
                result = exc
            _settle(loop, done, result)

    def _serve(self) -> None:
        try:
            while True:
                self._apply_updates()
                batch = self._take(self.max_batch, None)
                if not batch:
                    break
                try:
                    with cpu_decode.enabled() if self.decode_kernels else contextlib.nullcontext():
                        self._run_batch(batch)  # appends the requests that join it, so a failure reaches them too
                except Exception as exc:  # infrastructure failure: every episode of the batch sees it
                    for r in batch:
                        r.resolve(exc)
        finally:
            with self._lock:
                self._serving = False
        self._kick()  # requests that arrived while the loop was stopping

    def _prefill(self, batch: list[_Request]) -> tuple[DynamicCache, torch.Tensor, torch.Tensor]:
        """Run the prompts (left-padded); returns their cache, attention mask and last-position logits.

        Requests with the same prompt (a GRPO group's samples of one task) share one row of the forward pass;
        its cache row is then copied to each of them."""
        rows: dict[tuple[int, ...], int] = {}
        order = [rows.setdefault(tuple(r.prompt_ids), len(rows)) for r in batch]
        prompts = list(rows)
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) :] = 1
        for r in batch:
            r.version = self.version
        ids, mask = ids.to(self.device), mask.to(self.device)
        cache = DynamicCache(config=self.model.config)
        t0 = time.perf_counter()
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions(mask),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache, logits = out.past_key_values, out.logits[:, -1].float()
        if len(prompts) < len(batch):
            idx = torch.tensor(order, device=self.device)
            cache.reorder_cache(idx)
            mask, logits = mask[idx], logits[idx]
            self.stats["shared_prefill_rows"] += len(batch) - len(prompts)
        self.stats["prefill_s"] += time.perf_counter() - t0
        return cache, mask, logits

    @torch.no_grad()
    def _run_batch(self, batch: list[_Request]) -> None:
        self.stats["batches"] += 1
        seed = batch[0].params.seed
        self._generator.manual_seed(seed if seed is not None else self._seed * 1_000_003 + self.stats["batches"])
        temperature, top_p = batch[0].params.temperature, batch[0].params.top_p
        top_p_warper = TopPLogitsWarper(top_p) if top_p < 1.0 else None
        rows: list[_Request | None] = list(batch)
        cache, mask, logits = self._prefill(batch)
        merging = self.continuous and mergeable(cache)
        while rows:
            if self._updates:  # new weights for the next forward pass; sampled tokens so far keep their logprobs
                self._apply_updates()
            scores = logits / temperature
            logp = torch.log_softmax(scores, dim=-1)
            probs = logp.exp() if top_p_warper is None else torch.softmax(top_p_warper(None, scores), dim=-1)
            nxt = sample_rows(probs, self._generator)
            chosen = logp.gather(1, nxt[:, None])[:, 0].tolist()
            self.stats["decode_steps"] += 1  # counted before any row is handed back
            self.stats["row_steps"] += sum(r is not None for r in rows)
            for i, (r, tok, lp) in enumerate(zip(rows, nxt.tolist(), chosen, strict=True)):
                if r is None:  # finished earlier, waiting for the next compaction
                    continue
                r.tokens.append(tok)
                r.logprobs.append(lp)
                if tok == self.eos_id or len(r.tokens) >= r.params.max_new_tokens:
                    reason = "stop" if tok == self.eos_id else "length"
                    r.resolve(Generation(r.tokens, r.logprobs, reason, r.version))
                    rows[i] = None
                elif r.future.cancelled():
                    rows[i] = None
            keep = [i for i, r in enumerate(rows) if r is not None]
            # Removing rows and merging new ones each copy the whole cache, so they wait until a quarter of
            # the rows are done, or enough requests wait to be worth a merge.
            joining = []
            if merging and (not keep or self._waiting((temperature, top_p)) >= self._join_threshold(len(keep))):
                joining = self._take(self.max_batch - len(keep), (temperature, top_p))
            if len(keep) < len(rows) and (not keep or joining or len(rows) - len(keep) >= max(1, len(rows) // 4)):
                if keep:
                    idx = torch.tensor(keep, device=self.device)
                    cache.reorder_cache(idx)
                    rows, mask, nxt = [rows[i] for i in keep], mask[idx], nxt[idx]
                    start = int((mask.sum(0) > 0).nonzero()[0])  # columns padded in every row left
                    if start and merging:
                        self._trim(cache, start)
                        mask = mask[:, start:]
                else:
                    rows = []
            batch += joining
            if joining:
                self.stats["joined_running_batch"] += len(joining)
                new_cache, new_mask, new_logits = self._prefill(joining)
            if rows:
                mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
                t0 = time.perf_counter()
                out = self.model(
                    input_ids=nxt[:, None],
                    attention_mask=mask,
                    position_ids=positions(mask)[:, -1:],
                    past_key_values=cache,
                    use_cache=True,
                )
                self.stats["decode_s"] += time.perf_counter() - t0
                logits = out.logits[:, -1].float()
                if joining:
                    mask = merge_rows(cache, mask, new_cache, new_mask)
                    logits = torch.cat([logits, new_logits])
                    rows += joining
            elif joining:
                rows, cache, mask, logits = list(joining), new_cache, new_mask, new_logits

    def _join_threshold(self, live: int) -> int:
        """How many compatible requests must wait before they are merged into a batch of `live` running rows."""
        free = self.max_batch - live
        return max(1, min(free, self.max_batch // 8)) if free > 0 else self.max_batch + 1

    def _waiting(self, sampling: tuple[float, float]) -> int:
        """Pending requests with these (temperature, top_p)."""
        with self._lock:
            return len(self._matching(sampling))

    def _matching(self, sampling: tuple[float, float]) -> list[_Request]:
        """Pending, not cancelled requests with these (temperature, top_p); the caller holds the lock."""
        return [
            r for r in self._pending if (r.params.temperature, r.params.top_p) == sampling and not r.future.cancelled()
        ]

    @staticmethod
    def _trim(cache: DynamicCache, start: int) -> None:
        """Drop the first `start` key/value positions (masked in every row) from the attention layers."""
        for layer in cache.layers:
            if type(layer) is DynamicLayer and layer.is_initialized:
                layer.keys, layer.values = layer.keys[..., start:, :], layer.values[..., start:, :]

    def _load_weights(self, items: list[tuple[str, torch.Tensor]]) -> None:
        params = dict(self.model.named_parameters())
        unknown = [n for n, _ in items if n not in params]
        if unknown:
            raise KeyError(f"update_weights: the served model has no parameters named {unknown[:5]}")
        with torch.no_grad():
            for name, tensor in items:
                params[name].copy_(tensor.to(params[name].device, params[name].dtype))

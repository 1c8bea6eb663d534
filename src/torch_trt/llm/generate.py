"""``CausalLM``: a compiled decoding step, its static KV cache and greedy ``generate``.

Generation runs the compiled step once for the prompt (all its tokens at once) and once per new
token. Rows of a batch are left-padded to one length, as Hugging Face does: padding slots are
hidden by ``pad_mask`` and a row's positions count from its first real token, so each row
decodes exactly as it would alone.

Example:
    >>> lm = torch_trt.llm.compile_causal_lm(model, max_seq_len=64, runtime="reference")
    >>> out = lm.generate(input_ids, max_new_tokens=8)        # [batch, prompt + 8]
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, overload

import torch

from torch_trt.errors import InputShapeError
from torch_trt.llm.model import CacheSpec
from torch_trt.llm.report import CausalLMReport


class Generation(NamedTuple):
    """``generate(..., output_logits=True)``: the sequences and each new token's logits."""

    sequences: torch.Tensor  # [batch, prompt + new], int64
    logits: torch.Tensor  # [batch, new, vocab], the raw logits each token was chosen from


class CausalLM:
    """A causal LM compiled by :func:`torch_trt.llm.compile_causal_lm`.

    Attributes:
        step: the compiled :class:`~torch_trt.llm.model.DecoderStep` (a ``CompiledModule``).
        config: the model's ``transformers`` config.
        max_batch, max_seq_len: the limits it was compiled for.
        caches: the KV cache, ``[max_batch, heads, max_seq_len, head_dim]`` per layer (keys
            then values), allocated on the first ``generate``.
    """

    def __init__(
        self,
        step: torch.nn.Module,
        config: Any,
        specs: list[CacheSpec],
        max_batch: int,
        max_seq_len: int,
        report: CausalLMReport,
    ) -> None:
        self.step = step
        self.config = config
        self.specs = specs
        self.max_batch = max_batch
        self.max_seq_len = max_seq_len
        self.caches: list[torch.Tensor] = []
        self._torch_trt_report = report  # what torch_trt.report(lm) returns

    def cache_views(self, batch: int, device: torch.device) -> list[torch.Tensor]:
        """The first ``batch`` sequences of the cache (contiguous views the engine writes)."""
        if not self.caches or self.caches[0].device != device:
            self.caches = [
                torch.zeros(s.shape(self.max_batch, self.max_seq_len), dtype=s.dtype, device=device)
                for s in self.specs
            ]
        return [c[:batch] for c in self.caches]

    @overload
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        eos_token_id: int | None = None,
        attention_mask: torch.Tensor | None = None,
        pad_token_id: int | None = None,
        output_logits: Literal[False] = False,
    ) -> torch.Tensor: ...

    @overload
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        eos_token_id: int | None = None,
        attention_mask: torch.Tensor | None = None,
        pad_token_id: int | None = None,
        *,
        output_logits: Literal[True],
    ) -> Generation: ...

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        eos_token_id: int | None = None,
        attention_mask: torch.Tensor | None = None,
        pad_token_id: int | None = None,
        output_logits: bool = False,
    ) -> torch.Tensor | Generation:
        """Greedy decoding of up to ``max_new_tokens`` tokens after ``input_ids``.

        Args:
            input_ids: ``[batch, prompt]`` int64, rows left-padded to one length.
            max_new_tokens: tokens to add; prompt + new tokens must fit ``max_seq_len``.
            eos_token_id: a row stops at this token; later positions get ``pad_token_id``,
                and generation ends when every row has stopped.
            attention_mask: ``[batch, prompt]``, 0 at padding (default: no padding).
            pad_token_id: the filler after a row's end (default: ``eos_token_id``).
            output_logits: also return the logits each new token was chosen from.

        Returns:
            ``[batch, prompt + new]`` int64 (as ``model.generate(..., do_sample=False)``), or a
            :class:`Generation` with the logits.

        Raises:
            InputShapeError: more rows than ``max_batch``, or prompt + ``max_new_tokens`` past
                ``max_seq_len``.
        """
        batch, prompt = self._check(input_ids, max_new_tokens, attention_mask)
        positions, pad_mask, caches = self._prompt(input_ids, attention_mask)
        logits = self.step(input_ids, positions, _scalar(0, input_ids), pad_mask, caches)
        tokens, scores = [], []
        done = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        filler = eos_token_id if pad_token_id is None else pad_token_id
        for t in range(max_new_tokens):
            token = logits.argmax(-1)
            if eos_token_id is not None:
                token = torch.where(done, torch.full_like(token, filler or 0), token)
                done = done | (token == eos_token_id)
            tokens.append(token)
            scores.append(logits)
            if t + 1 == max_new_tokens or bool(done.all()):
                break
            positions = positions[:, -1:] + 1
            start = _scalar(prompt + t, input_ids)
            logits = self.step(token[:, None], positions, start, pad_mask, caches)
        new = torch.stack(tokens, 1) if tokens else input_ids[:, :0]
        sequences = torch.cat([input_ids, new], 1)
        if output_logits:
            vocab = logits.shape[-1]
            stacked = torch.stack(scores, 1) if scores else logits.new_zeros(batch, 0, vocab)
            return Generation(sequences, stacked)
        return sequences

    def _prompt(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """The prompt's positions, the padding mask over cache slots and the zeroed cache."""
        batch, prompt = input_ids.shape
        mask = (
            torch.ones_like(input_ids)
            if attention_mask is None
            else attention_mask.to(input_ids.device, torch.int64)
        )
        caches = self.cache_views(batch, input_ids.device)
        for c in caches:
            c.zero_()
        pad_mask = torch.ones(batch, self.max_seq_len, dtype=torch.bool, device=input_ids.device)
        pad_mask[:, :prompt] = mask.bool()
        # Hugging Face's positions: counted over real tokens, padding at position 1.
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        return positions, pad_mask, caches

    def _check(
        self, input_ids: torch.Tensor, max_new_tokens: int, attention_mask: torch.Tensor | None
    ) -> tuple[int, int]:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            raise InputShapeError("input_ids must be a [batch, prompt] tensor of token ids")
        if input_ids.dtype != torch.int64:
            raise InputShapeError(f"input_ids must be int64 token ids, got {input_ids.dtype}")
        batch, prompt = input_ids.shape
        if attention_mask is not None and tuple(attention_mask.shape) != (batch, prompt):
            raise InputShapeError(
                f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids "
                f"{(batch, prompt)}"
            )
        if not 1 <= batch <= self.max_batch:
            raise InputShapeError(
                f"a batch of {batch} sequences does not fit max_batch={self.max_batch}; split "
                f"the batch or compile with a larger max_batch"
            )
        if prompt < 1 or max_new_tokens < 0:
            raise InputShapeError(
                f"need a prompt of at least 1 token and max_new_tokens >= 0, got {prompt} and "
                f"{max_new_tokens}"
            )
        if prompt + max_new_tokens > self.max_seq_len:
            raise InputShapeError(
                f"a prompt of {prompt} tokens (padding included) plus max_new_tokens="
                f"{max_new_tokens} needs {prompt + max_new_tokens} cache positions, more than "
                f"max_seq_len={self.max_seq_len}; shorten the prompt or compile with a larger "
                "max_seq_len"
            )
        return batch, prompt

    def __repr__(self) -> str:
        return (
            f"CausalLM({self._torch_trt_report.model}, max_batch={self.max_batch}, "
            f"max_seq_len={self.max_seq_len})"
        )


def _scalar(value: int, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.int64, device=like.device)

"""ResNet-18 and a 2-layer BERT through every ir of torch_trt.compile: documented result type,
one engine, outputs equal to eager (fp32 rel. error < 1e-4). Each compile happens once per module
(module-scoped fixtures), the tests read the results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error

RESNET_IRS = ["default", "dynamo", "fx", "ts-script", "ts-trace", "torch_compile"]
BERT_IRS = ["default", "dynamo", "ts-trace", "torch_compile"]
RETURNS: dict[str, type] = {
    "default": torch.fx.GraphModule,
    "dynamo": torch.fx.GraphModule,
    "fx": torch.fx.GraphModule,
    "ts-script": torch.jit.ScriptModule,
    "ts-trace": torch.jit.ScriptModule,
    "torch_compile": torch._dynamo.eval_frame.OptimizedModule,
}


def _compile(model: torch.nn.Module, ir: str, **kwargs: Any) -> Any:
    if ir == "ts-script":
        return torch_trt.compile(torch.jit.script(model), runtime="reference", **kwargs)
    if ir == "ts-trace":
        return torch_trt.compile(model, ir="ts", ts_method="trace", runtime="reference", **kwargs)
    if ir == "torch_compile":
        torch._dynamo.reset()
    return torch_trt.compile(model, ir=ir, runtime="reference", **kwargs)


def _one_engine(compiled: Any, ir: str) -> None:
    if ir == "torch_compile":
        return  # torch.compile's module carries no compile report of its own
    rep = torch_trt.report(compiled)
    assert [f"{p.node}: {p.reason} {p.detail}" for p in rep.fallbacks] == []
    assert rep.engines == 1


@pytest.fixture(scope="module")
def resnet() -> tuple[torch.nn.Module, torch.Tensor]:
    """ResNet-18 with trained-like batch-norm statistics, and an input."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    return randomize_norm_stats(tvm.resnet18().eval()), torch.randn(1, 3, 224, 224)


@pytest.fixture(scope="module")
def resnet_compiled(
    resnet: tuple[torch.nn.Module, torch.Tensor],
) -> Callable[[str], Any]:
    """ResNet-18 compiled per ir, on first request."""
    model, x = resnet
    cache: dict[str, Any] = {}

    def get(ir: str) -> Any:
        if ir not in cache:
            cache[ir] = _compile(model, ir, inputs=[x])
        return cache[ir]

    return get


@pytest.mark.parametrize("ir", RESNET_IRS)
def test_resnet(
    resnet: tuple[torch.nn.Module, torch.Tensor], resnet_compiled: Callable[[str], Any], ir: str
) -> None:
    """ResNet-18 through each ir: the documented type, one engine, eager-equal output."""
    model, x = resnet
    compiled = resnet_compiled(ir)
    assert isinstance(compiled, RETURNS[ir])
    _one_engine(compiled, ir)
    with torch.no_grad():
        assert rel_error(compiled(x), model(x)) < FP32_RTOL


@pytest.mark.parametrize("ir", ["ts-script", "ts-trace"])
def test_resnet_torchscript_saves_and_loads_elsewhere(
    resnet: tuple[torch.nn.Module, torch.Tensor],
    resnet_compiled: Callable[[str], Any],
    jit_load_elsewhere: Callable[..., Any],
    ir: str,
) -> None:
    """Scripted and traced ResNet-18: torch.jit.save, torch.jit.load in a fresh process after
    import torch_trt, engines byte-identical, output still eager-equal."""
    model, x = resnet
    got = jit_load_elsewhere(resnet_compiled(ir), (x,))
    with torch.no_grad():
        assert rel_error(got, model(x)) < FP32_RTOL


def _bert() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    import transformers

    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=512,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 512, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 10:] = 0
    return model, ids, mask


@pytest.fixture(scope="module")
def bert() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A 2-layer Hugging Face BERT, input ids and a padding mask."""
    return _bert()


def _hidden(out: Any) -> list[torch.Tensor]:
    if isinstance(out, dict):
        return [out["last_hidden_state"], out["pooler_output"]]
    return [out.last_hidden_state, out.pooler_output]


@pytest.mark.parametrize("ir", BERT_IRS)
def test_bert(bert: tuple[torch.nn.Module, torch.Tensor, torch.Tensor], ir: str) -> None:
    """2-layer BERT through each ir (TorchScript by tracing: scripting HF models fails in
    torch.jit itself): the documented type, one engine, eager-equal outputs."""
    model, ids, mask = bert
    compiled = _compile(model, ir, inputs=[ids], kwarg_inputs={"attention_mask": mask})
    assert isinstance(compiled, RETURNS[ir])
    _one_engine(compiled, ir)
    with torch.no_grad():
        got = _hidden(compiled(ids, attention_mask=mask))
        want = _hidden(model(ids, attention_mask=mask))
    for g, w in zip(got, want, strict=True):
        assert rel_error(g, w) < FP32_RTOL


def test_hf_bert_fx_names_symbolic_tracing_limits(
    bert: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    """Hugging Face BERT is not symbolically traceable: ir='fx' gives the documented error."""
    model, ids, _ = bert
    with pytest.raises(torch_trt.CaptureError) as info:
        torch_trt.compile(model, ir="fx", inputs=[ids])
    assert str(info.value).startswith("torch.fx.symbolic_trace could not trace BertModel")
    assert "Use ir='dynamo'" in str(info.value)


class TinyBert(torch.nn.Module):
    """A 2-layer BERT encoder (embeddings, masked self-attention, GELU feed-forward, post-norm,
    tanh pooler) written to be symbolically traceable."""

    def __init__(self, vocab: int = 512, hidden: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.heads = heads
        self.word = torch.nn.Embedding(vocab, hidden)
        self.pos = torch.nn.Embedding(64, hidden)
        self.norm = torch.nn.LayerNorm(hidden)
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(hidden, 3 * hidden) for _ in range(layers))
        self.out = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.norm1 = torch.nn.ModuleList(torch.nn.LayerNorm(hidden) for _ in range(layers))
        self.ff = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.Linear(hidden, 2 * hidden),
                torch.nn.GELU(),
                torch.nn.Linear(2 * hidden, hidden),
            )
            for _ in range(layers)
        )
        self.norm2 = torch.nn.ModuleList(torch.nn.LayerNorm(hidden) for _ in range(layers))
        self.pool = torch.nn.Linear(hidden, hidden)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, s = ids.shape[0], ids.shape[1]
        h = self.norm(self.word(ids) + self.pos(torch.arange(s, device=ids.device)))
        bias = (1.0 - mask[:, None, None, :].to(h.dtype)) * -10000.0
        for qkv, out, norm1, ff, norm2 in zip(
            self.qkv, self.out, self.norm1, self.ff, self.norm2, strict=True
        ):
            q, k, v = qkv(h).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            h = norm1(h + out(a.transpose(1, 2).reshape(b, s, -1)))
            h = norm2(h + ff(h))
        return h, torch.tanh(self.pool(h[:, 0]))


def test_tiny_bert_fx(bert: tuple[torch.nn.Module, torch.Tensor, torch.Tensor]) -> None:
    """A traceable 2-layer BERT through ir='fx': a GraphModule, one engine, eager-equal."""
    _, ids, mask = bert
    torch.manual_seed(0)
    model = TinyBert().eval()
    compiled = _compile(model, "fx", inputs=[ids, mask])
    assert isinstance(compiled, torch.fx.GraphModule)
    _one_engine(compiled, "fx")
    with torch.no_grad():
        got, want = compiled(ids, mask), model(ids, mask)
    for g, w in zip(got, want, strict=True):
        assert rel_error(g, w) < FP32_RTOL

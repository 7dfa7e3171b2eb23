"""Regional compilation (genrec.lm.compile): same loss and gradients as eager, one graph for all
layers and batch widths, parameter names unchanged."""

from __future__ import annotations

import copy

import pytest
import torch
from lm_helpers import DynamoGraphs
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from genrec.lm import compile_decoder_layers
from genrec.sft.loss import IGNORE, response_loss

ARCHS = {
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    "llama": (LlamaConfig, LlamaForCausalLM),  # SmolLM2's architecture
}


def _model(arch: str, layers: int = 3):
    config_cls, model_cls = ARCHS[arch]
    torch.manual_seed(0)
    return model_cls(
        config_cls(
            vocab_size=50,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
    )


def _batch(width: int, padded: bool, seed: int):
    """4 right-padded rows (row 1 two tokens short when ``padded``); loss on the last 3 tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (4, width), generator=g)
    mask = torch.ones_like(ids)
    labels = torch.full_like(ids, IGNORE)
    labels[:, -3:] = ids[:, -3:]
    if padded:
        mask[1, -2:] = 0
        labels[1, -3:] = IGNORE
        labels[1, -5:-2] = ids[1, -5:-2]
    return ids, mask, labels


def _step(model, ids, mask, labels):
    """One training forward/backward as SFT runs it (no KV cache); loss and gradients."""
    model.zero_grad()
    out = model(input_ids=ids, attention_mask=mask, use_cache=False)
    loss = response_loss(out, labels)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_compiled_layers_train_like_eager_with_one_graph(arch):
    import torch._dynamo

    torch._dynamo.reset()
    eager = _model(arch)
    compiled = copy.deepcopy(eager)
    assert compile_decoder_layers(compiled) == 3
    # padded batches of three widths, then one without padding (attention mask None inside)
    batches = [(7, True), (11, True), (9, True), (8, False)]
    with DynamoGraphs() as graphs:
        for i, (width, padded) in enumerate(batches):
            args = _batch(width, padded, seed=i)
            loss_e, grads_e = _step(eager, *args)
            loss_c, grads_c = _step(compiled, *args)
            torch.testing.assert_close(loss_c, loss_e, rtol=1e-5, atol=1e-5)
            assert grads_c.keys() == grads_e.keys()
            for name in grads_e:
                torch.testing.assert_close(grads_c[name], grads_e[name], rtol=1e-4, atol=1e-5)
    # one graph serves all three layers and every width; the unpadded batch adds one
    assert 1 <= graphs.compiled <= 2  # with a KV cache: one per layer and batch kind (6 here)
    # compiled in place: the state dict (and so save_pretrained) keeps its names
    assert list(compiled.state_dict()) == list(eager.state_dict())


def test_model_without_decoder_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="no decoder layers"):
        compile_decoder_layers(torch.nn.Linear(2, 2))


def test_missing_c_compiler_is_a_clear_error(monkeypatch):
    import genrec.lm.compile as compile_module

    monkeypatch.setattr(compile_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="sft.compile: true needs a C compiler"):
        compile_decoder_layers(_model("qwen2"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_graphs_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="sft.cuda_graphs: true needs a CUDA GPU"):
        compile_decoder_layers(_model("llama"), cuda_graphs=True)


@pytest.mark.gpu
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_cuda_graph_layers_train_and_evaluate_like_eager(arch):
    """Layers replayed as CUDA graphs: training steps and no_grad evaluations in turn,
    over widths that come back (replays), give eager's losses and gradients, and no
    graph was skipped."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    torch._dynamo.reset()
    counters.clear()
    eager = _model(arch).cuda()
    graphed = copy.deepcopy(eager)
    compile_decoder_layers(graphed, cuda_graphs=True)
    batches = [(8, True), (16, True), (8, True), (16, True), (8, True), (16, True), (8, True)]
    for i, (width, padded) in enumerate(batches):
        args = [t.cuda() for t in _batch(width, padded, seed=i)]
        loss_e, grads_e = _step(eager, *args)
        loss_g, grads_g = _step(graphed, *args)
        torch.testing.assert_close(loss_g, loss_e, rtol=1e-4, atol=1e-5)
        for name in grads_e:
            torch.testing.assert_close(grads_g[name], grads_e[name], rtol=1e-3, atol=1e-5)
        with torch.no_grad():  # evaluation between steps: a forward without a backward
            ids, mask, labels = args
            out_e = eager(input_ids=ids, attention_mask=mask, use_cache=False)
            out_g = graphed(input_ids=ids, attention_mask=mask, use_cache=False)
            torch.testing.assert_close(
                response_loss(out_g, labels), response_loss(out_e, labels), rtol=1e-4, atol=1e-5
            )
    assert not counters["inductor"]["cudagraph_skips"]

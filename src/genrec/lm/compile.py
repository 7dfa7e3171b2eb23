"""Regional compilation: ``torch.compile`` each decoder layer, not the whole model.

A 135M-parameter model trains on ~100-token examples with little work per
kernel, so an eager step is bound by the host launching a few thousand small
kernels (norms, rotary embeddings, activations, residual adds: several per
layer, forward and backward). Compiling one decoder layer fuses those into a
handful of Triton kernels and replaces the per-op Python dispatch with one call
per layer. Every layer of a model runs the same code, so Dynamo compiles it
once and reuses the graph for all of them (``inline_inbuilt_nn_modules``: the
weights are graph inputs): compile time is that of one layer, not of the
whole model, and the embedding, the attention-mask construction and the loss
stay eager.

``dynamic=True`` marks batch and sequence length symbolic from the first call,
so length-grouped batches of every width share one graph (a batch without
padding, whose attention mask is ``None``, and evaluation under ``no_grad`` add
one graph each). ``nn.Module.compile`` compiles in place: parameter names and
``save_pretrained`` are unchanged.

With ``cuda_graphs`` the compiled layers run as CUDA graphs (``mode=
"reduce-overhead"``): compiled, a layer still launches ~80 Triton kernels per
step through Inductor's Python wrapper, a few milliseconds of host time per layer
that an H200 finishes sooner than the host issues them; a graph replay issues a
layer's kernels in one call. A graph has fixed shapes: graphs are recorded per
(batch size, width) for every layer position, forward, backward and evaluation
(and for a batch without padding); pad batch widths to a multiple
(``sft.pad_to_multiple_of``) to keep their number small. Graphs of sibling shapes
share one memory pool (torch's CUDA graph trees). Each model forward starts a new
graph generation, and a gradient is a graph output that the next generation
overwrites, so gradients cannot accumulate over micro-batches (``train_sft``
refuses ``cuda_graphs`` with gradient accumulation).

The layers must be called without a KV cache (``use_cache=False``: the
Trainer's default, and what :class:`genrec.sft.loss.ResponseCollator` passes):
a cache object indexed by each layer's ``layer_idx`` would specialise the graph
per layer.
"""

from __future__ import annotations

import logging
import os
import shutil

log = logging.getLogger(__name__)


def check_compiler() -> None:
    """Fail early, naming ``sft.compile``, where ``torch.compile`` could not build kernels.

    Inductor compiles C++ (CPU) or Triton kernels whose launchers need a C compiler;
    without one the first training step would fail deep inside torch.
    """
    import torch

    compilers = [os.environ.get("CC"), "cc", "gcc", "clang"]
    if not any(c and shutil.which(c) for c in compilers):
        raise RuntimeError(
            "sft.compile: true needs a C compiler (cc, gcc or clang on PATH, or $CC); "
            "install one or set sft.compile: false"
        )
    if torch.cuda.is_available():
        try:
            import triton  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(
                "sft.compile: true on a GPU needs the triton package; "
                "install it or set sft.compile: false"
            ) from exc


def decoder_layers(model):
    """The ``nn.ModuleList`` of decoder blocks of a Hugging Face causal LM."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if layers is None or len(layers) == 0:
        raise ValueError(
            f"{type(model).__name__}: no decoder layers found (expected model.get_decoder().layers)"
        )
    return layers


def _new_graph_generation(module, args):
    import torch

    torch.compiler.cudagraph_mark_step_begin()


def compile_decoder_layers(model, dynamic: bool = True, cuda_graphs: bool = False) -> int:
    """Compile every decoder layer of ``model`` in place (as CUDA graphs with
    ``cuda_graphs``); return how many."""
    import torch

    check_compiler()
    if cuda_graphs and not torch.cuda.is_available():
        raise RuntimeError("sft.cuda_graphs: true needs a CUDA GPU; set it to false here")
    layers = decoder_layers(model)
    mode = "reduce-overhead" if cuda_graphs else None
    for layer in layers:
        layer.compile(dynamic=dynamic, mode=mode)
    if cuda_graphs:
        # Every layer is its own compiled call. Without a pending backward (evaluation
        # under no_grad) torch would start a new graph generation at each layer and
        # free the previous layer's output, the next one's input: one model forward
        # is one generation.
        model.register_forward_pre_hook(_new_graph_generation)
    log.info(
        "torch.compile: %d decoder layers (regional, dynamic=%s, mode=%s)",
        len(layers), dynamic, mode or "default",
    )  # fmt: skip
    return len(layers)

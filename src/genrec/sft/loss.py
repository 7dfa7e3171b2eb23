"""SFT loss on response tokens only, with logits computed only where a response can be.

A causal LM computes ``vocab``-wide logits at every position, then the loss
keeps the few response positions (a SID is 4-5 tokens of an ~90-token example).
For SmolLM2 (49k vocabulary) that head is a fifth of the model's FLOPs and its
float32 logits dominate peak memory. :class:`ResponseCollator` pads a batch on
the right as ``DataCollatorForSeq2Seq`` does and adds ``logits_to_keep``: the
number of trailing positions from the first one that predicts a response token
of any row. The model then runs its head on that slice only, and
:func:`response_loss` (the Trainer's ``compute_loss_func``) is the same
per-token mean over response tokens as transformers' own causal-LM loss:

    loss = sum_{b,t: y[b,t] != -100} -log p(y[b,t] | x[b,<t]) / N

with N the Trainer's ``num_items_in_batch`` (response tokens over all
gradient-accumulation micro-batches and devices) or, without it, the batch's
own count. Values and gradients equal the full-logits loss up to float rounding
(the same forward pass; the head sees fewer rows).

The collator also passes ``use_cache=False``. The Trainer already runs the
model without a KV cache (it sets ``config.use_cache`` from
``TrainingArguments.use_cache``, False by default in transformers 5); the batch
says so itself for any other caller, since a cache both costs host time and
keeps :func:`genrec.lm.compile.compile_decoder_layers` from sharing one graph
across layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


class ResponseCollator:
    """Right-pad a batch (labels with -100), set ``logits_to_keep`` to the response span
    and ``use_cache`` to False."""

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        from transformers import DataCollatorForSeq2Seq

        if tokenizer.padding_side != "right":
            raise ValueError("ResponseCollator needs tokenizer.padding_side == 'right'")
        self.pad = DataCollatorForSeq2Seq(
            tokenizer,
            padding=True,
            label_pad_token_id=IGNORE,
            pad_to_multiple_of=pad_to_multiple_of,
            return_tensors="pt",
        )

    def __call__(self, features: list[dict]) -> dict:
        batch = self.pad(features)
        batch["logits_to_keep"] = logits_to_keep(batch["labels"])
        batch["use_cache"] = False
        return batch


def logits_to_keep(labels: torch.Tensor) -> int:
    """Trailing positions whose logits predict every target of ``labels`` (B, L); at least 2.

    The logit at position t predicts the token at t + 1, so the first target at
    position p needs the logits from p - 1 on: ``L - (p - 1)`` positions.
    """
    length = labels.shape[1]
    targets = (labels[:, 1:] != IGNORE).any(dim=0).nonzero()
    if len(targets) == 0:
        return 2
    return length - int(targets[0])


def response_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Cross-entropy over response tokens from logits of the last ``k`` positions.

    ``outputs.logits`` is (B, k, V) for positions ``L - k .. L - 1`` of the
    (B, L) ``labels``; the loss is the summed token loss over
    ``num_items_in_batch`` (or the batch's response-token count when None).
    """
    logits = outputs.logits
    k, length = logits.shape[1], labels.shape[1]
    if k > length:
        raise ValueError(f"logits cover {k} positions, labels only {length}")
    targets = labels[:, length - k + 1 :].to(logits.device)
    loss = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    if num_items_in_batch is None:
        num_items_in_batch = (targets != IGNORE).sum()
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(loss.device)
    return loss / num_items_in_batch

"""Trie-constrained rollouts for trl's ``GRPOTrainer`` (its ``rollout_func``).

trl calls ``rollout(prompts, trainer)`` with each prompt already repeated G
times consecutively (G = ``num_generations`` in training,
``num_generations_eval`` in evaluation) and expects one completion per element.
:class:`ConstrainedRollout` generates once per group (``prompts[::G]``) with
:func:`genrec.decode.constrained_generate`:

- ``beam``: beam search with G beams returns G distinct valid SIDs, best first;
  a completion's ``rank`` is its beam rank;
- ``sample``: G constrained samples at ``temperature``; ``rank`` orders them
  by their sequence log-probability under the current policy (ties keep the
  sampling order).

The trie constraint lives in a logits processor built for each call, so every
rollout (training or evaluation, whatever ran before) is constrained. Besides
the ids, the rollout returns per completion ``item_id`` (-1 if not a valid SID;
mapped from token ids, never from decoded text), ``rank`` and ``group`` (an id
shared by the G completions of one prompt); trl hands these to the rewards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch

from genrec.decode import SidTrie, constrained_generate
from genrec.lm import encode_prompt

log = logging.getLogger(__name__)


class RolloutCollapsed(RuntimeError):
    """A rollout batch without a single valid SID: the policy is broken."""


class ConstrainedRollout:
    """``rollout_func`` producing G valid SIDs per prompt (see the module doc)."""

    def __init__(
        self,
        tokenizer,
        item_tokens: Mapping[int, Sequence[int]],
        mode: str = "beam",
        temperature: float = 1.0,
        max_prompt_length: int | None = None,
    ):
        if mode not in ("beam", "sample"):
            raise ValueError(f"rl.rollout must be 'beam' or 'sample', got {mode!r}")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; SID completions end with EOS")
        self.tokenizer = tokenizer
        self.mode = mode
        self.temperature = float(temperature)
        self.max_prompt_length = max_prompt_length
        self.eos = int(tokenizer.eos_token_id)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos
        self.trie = SidTrie.from_token_ids(item_tokens, self.eos)
        self._prompt_cache: dict[str, list[int]] = {}
        self.calls = 0  # generate calls, for the run log
        self.invalid = 0  # completions that were not a valid SID (should stay 0)

    def encode(self, prompt: str) -> list[int]:
        ids = self._prompt_cache.get(prompt)
        if ids is None:
            ids = encode_prompt(self.tokenizer, prompt, self.max_prompt_length)
            self._prompt_cache[prompt] = ids
        return ids

    def _completion(self, row: torch.Tensor) -> list[int]:
        """Generated ids up to and including the first EOS (padding dropped)."""
        ids = row.tolist()
        if self.eos in ids:
            return ids[: ids.index(self.eos) + 1]
        return [t for t in ids if t != self.pad] or [self.eos]

    @torch.no_grad()
    def _sequence_logprobs(self, model, prompt_ids, completions) -> list[float]:
        """Sum of the policy's token log-probabilities of each completion (unconstrained)."""
        from genrec.decode import left_pad

        seqs = [list(p) + list(c) for p, c in zip(prompt_ids, completions, strict=True)]
        ids, mask = left_pad(seqs, self.pad, model.device)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1] / self.temperature, dim=-1)
        token_lp = logp.gather(2, ids[:, 1:, None]).squeeze(2)
        out = []
        width = ids.shape[1]
        for i, c in enumerate(completions):
            out.append(float(token_lp[i, width - 1 - len(c) :].sum()))
        return out

    def _generate(self, model, prompt_ids: list[list[int]], g: int):
        """``(completions, items, ranks)``: G completions per prompt (prompt-major), their
        item ids (-1 if invalid) and their ranks within the group."""
        if self.mode == "beam":
            out = constrained_generate(
                model, self.tokenizer, prompt_ids, self.trie, num_beams=g, num_return_sequences=g
            )
        else:
            out = constrained_generate(
                model,
                self.tokenizer,
                prompt_ids,
                self.trie,
                num_beams=1,
                num_return_sequences=g,
                do_sample=True,
                temperature=self.temperature,
            )
        completions = [self._completion(row) for row in out.sequences.cpu()]
        items = out.item_ids.reshape(-1).tolist()
        if self.mode == "beam":
            return completions, items, [k % g for k in range(len(completions))]
        rep_prompts = [prompt_ids[k // g] for k in range(len(completions))]
        lp = self._sequence_logprobs(model, rep_prompts, completions)
        ranks = []
        for k in range(len(prompt_ids)):
            grp = lp[k * g : (k + 1) * g]
            order = sorted(range(g), key=lambda j, grp=grp: -grp[j])
            rank_of = {j: r for r, j in enumerate(order)}
            ranks += [rank_of[j] for j in range(g)]
        return completions, items, ranks

    def __call__(self, prompts: list, trainer) -> dict:
        model = trainer.accelerator.unwrap_model(trainer.model)
        g = trainer.num_generations if model.training else trainer.num_generations_eval
        if len(prompts) % g:
            raise ValueError(f"rollout got {len(prompts)} prompts, not a multiple of G = {g}")
        unique = prompts[::g]
        for k, p in enumerate(unique):
            if any(q != p for q in prompts[k * g : (k + 1) * g]):
                raise ValueError(
                    "rollout prompts are not grouped in runs of G identical prompts; "
                    "rl.per_device_batch_size must be a multiple of rl.num_generations"
                )
        prompt_ids = [self.encode(p) for p in unique]
        was_training = model.training
        model.eval()
        try:
            # the trainer's mixed precision (bf16 autocast on a GPU), as in its scoring passes:
            # without it beam search over the fp32 master weights runs fp32 matmuls
            with trainer.accelerator.autocast():
                completions, items, ranks = self._generate(model, prompt_ids, g)
        finally:
            model.train(was_training)
        rep_prompts = [prompt_ids[k // g] for k in range(len(completions))]
        self.calls += 1
        n_invalid = sum(1 for i in items if i < 0)
        self.invalid += n_invalid
        if n_invalid == len(items):
            raise RolloutCollapsed(
                f"every one of the {len(items)} rollout completions is an invalid SID, e.g. "
                f"{self.tokenizer.convert_ids_to_tokens(completions[0])}: the policy is broken "
                "(non-finite weights or logits); stopping before a model is written"
            )
        if n_invalid:
            bad = next(c for c, i in zip(completions, items, strict=True) if i < 0)
            log.warning(
                "%d of %d rollout completions are not valid SIDs, e.g. %s",
                n_invalid,
                len(items),
                self.tokenizer.convert_ids_to_tokens(bad),
            )
        return {
            "prompt_ids": rep_prompts,
            "completion_ids": completions,
            "logprobs": None,
            "item_id": items,
            "rank": ranks,
            "group": [k // g for k in range(len(completions))],
        }

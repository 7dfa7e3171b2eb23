"""Trie-constrained beam search that runs each prompt through the model once.

``model.generate`` copies every prompt ``num_beams`` times before the first forward
pass, so a 120-token prompt is prefilled 50 times although a SID is only 3-4 tokens
long. :func:`prefill_beam_search` prefills the batch of prompts once, copies the KV
cache to the beams (``DynamicCache.batch_repeat_interleave``) and then takes the few
decode steps itself, one token for every beam per step.

The search is the one ``generate`` runs (transformers 5, ``_beam_search``), step for
step: log-softmax of the float32 logits, the trie mask (:mod:`genrec.decode.trie`),
the top ``2 * num_beams`` continuations over all beams of a prompt, running beams
without EOS, finished beams (EOS or the length limit) kept when they are among the
top ``num_beams`` candidates, scores divided by ``length ** length_penalty``, and the
same early-stop heuristic (``early_stopping=False``). So the ranked SIDs are those of
:func:`genrec.decode.constrained_generate`, up to float differences between a batch
of ``n`` prompt rows and one of ``n * num_beams`` rows, which can only swap beams of
(nearly) equal score.
"""

from __future__ import annotations

import torch

from genrec.decode.trie import SidTrie

NEG = -1.0e9


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x[b, idx[b, j], ...]`` for ``x`` of shape ``[B, N, ...]`` and ``idx`` ``[B, M]``."""
    while idx.dim() < x.dim():
        idx = idx.unsqueeze(-1)
    return x.gather(1, idx.expand(*idx.shape[:2], *x.shape[2:]))


def _cache_argument(model) -> str:
    """``cache`` (transformers >= 5.2x) or ``past_key_values`` (older 5.x)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _forward(model, input_ids, attention_mask, cache=None, cache_arg="past_key_values"):
    position_ids = attention_mask.long().cumsum(-1) - 1
    position_ids = position_ids.masked_fill(attention_mask == 0, 1)[:, -input_ids.shape[1] :]
    kwargs = {} if cache is None else {cache_arg: cache}
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=True,
        logits_to_keep=1,
        **kwargs,
    )
    new_cache = getattr(out, "cache", None)
    if new_cache is None:
        new_cache = out.past_key_values
    return out.logits[:, -1, :].to(torch.float32), new_cache


@torch.no_grad()
def prefill_beam_search(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    trie: SidTrie,
    num_beams: int,
    num_return_sequences: int,
    pad_token_id: int,
    length_penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search over valid SIDs for left-padded prompts ``input_ids`` ``[B, P]``.

    Returns ``(sequences, scores)``: ``sequences`` ``[B * num_return_sequences, T]``
    the generated tokens (EOS and pad included, prompt excluded), best first per
    prompt, and their beam scores ``[B, num_return_sequences]``.
    """
    B = input_ids.shape[0]
    K = int(num_beams)
    T = int(trie.max_len)
    eos = int(trie.eos_token_id)
    device = input_ids.device
    keep = 2 * K  # one EOS token: max(2, 1 + n_eos) * num_beams, as generate
    top_mask = torch.arange(keep, device=device) < K

    cache_arg = _cache_argument(model)  # once per call, not per decode step
    logits, cache = _forward(model, input_ids, attention_mask)
    cache.batch_repeat_interleave(K)
    mask = attention_mask.repeat_interleave(K, dim=0)
    logits = logits.repeat_interleave(K, dim=0)
    V = logits.shape[-1]

    running = torch.full((B, K, T), pad_token_id, dtype=torch.long, device=device)
    running_scores = torch.zeros((B, K), dtype=torch.float32, device=device)
    running_scores[:, 1:] = NEG
    sequences = running.clone()
    scores = torch.full((B, K), NEG, dtype=torch.float32, device=device)
    finished = torch.zeros((B, K), dtype=torch.bool, device=device)
    improvable = torch.ones((B, 1), dtype=torch.bool, device=device)
    batch_offset = (torch.arange(B, device=device) * K)[:, None]

    for t in range(T):
        log_probs = torch.log_softmax(logits, dim=-1)
        state = trie.walk(running.view(B * K, T)[:, :t])
        allowed = trie.allowed_tokens(state, t)
        masked = torch.full_like(log_probs, float("-inf"))
        masked.scatter_(1, allowed, log_probs.gather(1, allowed))
        acc = (masked.view(B, K, V) + running_scores[:, :, None]).view(B, K * V)
        topk_scores, topk_idx = torch.topk(acc, k=keep)
        beam = topk_idx // V
        tokens = topk_idx % V
        topk_seqs = _gather(running, beam).clone()
        topk_seqs[:, :, t] = tokens
        hits = (tokens == eos) | (t + 1 >= T)

        # running beams of the next step: the best K continuations without EOS
        run_scores = topk_scores + hits.to(torch.float32) * NEG
        nxt = torch.topk(run_scores, k=K).indices
        running = _gather(topk_seqs, nxt)
        running_scores = _gather(run_scores, nxt)
        source = _gather(beam, nxt)

        # finished beams: new ones only from the top K candidates, while improvable
        fin = topk_scores / float(t + 1) ** length_penalty
        fin = fin + (~improvable).to(torch.float32) * NEG
        fin = fin + (~(hits & top_mask[None, :])).to(torch.float32) * NEG
        merged_idx = torch.topk(torch.cat([scores, fin], dim=1), k=K).indices
        sequences = _gather(torch.cat([sequences, topk_seqs], dim=1), merged_idx)
        scores = _gather(torch.cat([scores, fin], dim=1), merged_idx)
        finished = _gather(torch.cat([finished, hits & top_mask[None, :]], dim=1), merged_idx)

        best_running = running_scores[:, :1] / float(t + 1) ** length_penalty
        worst_finished = torch.where(finished, scores.min(dim=1, keepdim=True).values, NEG)
        improvable = improvable & (best_running > worst_finished).any(dim=-1, keepdim=True)
        if not bool(improvable.any()) or bool(hits.all()) or t + 1 >= T:
            break
        cache.reorder_cache((source + batch_offset).view(-1))
        mask = torch.cat([mask, mask.new_ones((B * K, 1))], dim=1)
        step_ids = running[:, :, t].reshape(B * K, 1)
        logits, cache = _forward(model, step_ids, mask, cache, cache_arg)

    n = int(num_return_sequences)
    return sequences[:, :n].reshape(B * n, T), scores[:, :n]

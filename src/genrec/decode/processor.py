"""``LogitsProcessor`` that restricts generation to valid SIDs (prefix-trie constrained)."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from genrec.decode.trie import SidTrie


class TrieConstrainedLogitsProcessor(LogitsProcessor):
    """Mask every token that does not continue a valid SID (then EOS at a complete SID).

    Stateless per ``generate`` call: the trie position of each row is derived
    from ``input_ids[:, prompt_len:]`` (the generated tokens; the prompt is
    left-padded to ``prompt_len``), never from re-tokenising text. Each call
    is a handful of tensor ops on the trie's device (a walk of ``T``
    ``searchsorted`` look-ups, one gather and one scatter): no Python loop over
    rows, no ``.item()``/``.tolist()``, no host synchronisation.

    Works for beam search and sampling alike. HF applies custom processors
    before temperature/top-k/top-p, so those only choose among valid tokens.
    """

    def __init__(self, trie: SidTrie, prompt_len: int):
        self.trie = trie
        self.prompt_len = int(prompt_len)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_len :]
        if generated.device != self.trie.device:
            self.trie.to(generated.device)
        state = self.trie.walk(generated)
        allowed = self.trie.allowed_tokens(state, generated.shape[1])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, allowed, scores.gather(1, allowed))

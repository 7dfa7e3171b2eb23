"""A prefix trie over all valid SIDs, stored as tensors for constrained decoding.

Every item's SID token ids followed by EOS form one path from the root. Nodes
get global integer ids (root = 0); the edges are kept as one table sorted by
``(parent, token)``:

* ``edge_keys[e] = parent * key_base + token`` (sorted, so a transition is a
  ``torch.searchsorted``),
* ``edge_child[e]`` the node the edge leads to, ``edge_token[e]`` its token,
* ``node_ptr[n] : node_ptr[n + 1]`` the edges leaving node ``n`` (CSR layout),
* ``node_item[n]`` the item id of a terminal node (reached by EOS), else -1.

A walk over generated tokens is therefore ``T`` vectorised look-ups for ``T``
tokens, with no Python loop over rows and no host synchronisation. The state
of a row is a node id; ``-1`` marks a dead row (a token outside the trie).
Terminal nodes (after EOS) are sticky: later tokens (padding) leave them put.

SIDs may differ in length (an extra disambiguation level); a SID that is a
prefix of another simply allows both EOS and the continuation at its node.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

DEAD = -1


class SidTrie:
    """Prefix trie over token-id sequences (SIDs), each ending in ``eos_token_id``.

    Build it with :meth:`from_token_ids` (``{item_id: [token ids]}``) or
    :meth:`from_sids_table` (a ``sids.parquet`` table plus a tokenizer).
    """

    def __init__(
        self, sequences: Sequence[Sequence[int]], item_ids: Sequence[int], eos_token_id: int
    ):
        if len(sequences) == 0:
            raise ValueError("cannot build a SID trie from zero items")
        if len(sequences) != len(item_ids):
            raise ValueError(f"{len(sequences)} sequences but {len(item_ids)} item ids")
        eos = int(eos_token_id)
        children: list[dict[int, int]] = [{}]
        depth = [0]
        node_item = [DEAD]
        for item, seq in zip(item_ids, sequences, strict=True):
            seq = [int(t) for t in seq]
            if not seq:
                raise ValueError(f"item {item}: empty SID")
            if eos in seq:
                raise ValueError(f"item {item}: SID token ids {seq} contain the EOS id {eos}")
            node = 0
            for tok in [*seq, eos]:
                nxt = children[node].get(tok)
                if nxt is None:
                    nxt = len(children)
                    children[node][tok] = nxt
                    children.append({})
                    depth.append(depth[node] + 1)
                    node_item.append(DEAD)
                node = nxt
            if node_item[node] != DEAD:
                raise ValueError(
                    f"items {node_item[node]} and {item} have the same SID token ids {seq}; "
                    "SIDs must be unique"
                )
            node_item[node] = int(item)

        parents, tokens, childs = [], [], []
        for p, ch in enumerate(children):
            for tok in sorted(ch):
                parents.append(p)
                tokens.append(tok)
                childs.append(ch[tok])
        parents_a = np.asarray(parents, dtype=np.int64)
        tokens_a = np.asarray(tokens, dtype=np.int64)
        self.n_nodes = len(children)
        self.n_items = len(sequences)
        self.eos_token_id = eos
        self.key_base = int(tokens_a.max()) + 1
        fanout = np.bincount(parents_a, minlength=self.n_nodes)
        depth_a = np.asarray(depth, dtype=np.int64)
        #: number of tokens of the longest path, EOS included (= max_new_tokens)
        self.max_len = int(depth_a.max())
        #: per depth t: the largest number of children of a node at depth t (>= 1)
        self.fanout_by_depth = [
            max(1, int(fanout[depth_a == t].max(initial=0))) for t in range(self.max_len + 1)
        ]
        self.edge_keys = torch.from_numpy(parents_a * self.key_base + tokens_a)
        self.edge_token = torch.from_numpy(tokens_a)
        self.edge_child = torch.as_tensor(childs, dtype=torch.int64)
        self.node_ptr = torch.from_numpy(np.concatenate([[0], np.cumsum(fanout)]).astype(np.int64))
        self.node_item = torch.as_tensor(node_item, dtype=torch.int64)
        self.node_terminal = self.node_item >= 0
        self.device = torch.device("cpu")
        self._item_tokens = {
            int(i): [int(t) for t in s] for i, s in zip(item_ids, sequences, strict=True)
        }
        log.info(
            "SID trie: %d items, %d nodes, %d edges, max length %d (+EOS), fan-out by depth %s",
            self.n_items,
            self.n_nodes,
            len(tokens),
            self.max_len - 1,
            self.fanout_by_depth[:-1],
        )

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_token_ids(cls, item_tokens: Mapping[int, Sequence[int]], eos_token_id: int) -> SidTrie:
        """Trie from ``{item_id: [token id per SID level]}``."""
        items = sorted(item_tokens)
        return cls([item_tokens[i] for i in items], items, eos_token_id)

    @classmethod
    def from_sids_table(cls, sids, tokenizer) -> SidTrie:
        """Trie from a ``sids.parquet`` table (``item_id``, ``tokens``) and the model's tokenizer.

        Every SID code token must be a single token of ``tokenizer``
        (``genrec.lm.sid_token_ids`` raises a clear error otherwise).
        """
        from genrec.lm import sid_token_ids

        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; constrained decoding needs one")
        return cls.from_token_ids(sid_token_ids(tokenizer, sids), tokenizer.eos_token_id)

    # ------------------------------------------------------------------ device
    def to(self, device) -> SidTrie:
        """Move the tables to ``device`` (in place); returns ``self``."""
        device = torch.device(device)
        if device != self.device:
            for name in (
                "edge_keys",
                "edge_token",
                "edge_child",
                "node_ptr",
                "node_item",
                "node_terminal",
            ):
                setattr(self, name, getattr(self, name).to(device))
            self.device = device
        return self

    def item_token_ids(self, item_id: int) -> list[int]:
        """The SID token ids of ``item_id`` (without EOS)."""
        return list(self._item_tokens[int(item_id)])

    # ------------------------------------------------------------------ walking
    def step(self, state: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Next node of each row after ``tokens`` (``[R]``); dead rows stay dead, terminal stay."""
        alive = state >= 0
        safe = state.clamp(min=0)
        in_range = (tokens >= 0) & (tokens < self.key_base)
        key = safe * self.key_base + tokens.clamp(0, self.key_base - 1)
        pos = torch.searchsorted(self.edge_keys, key).clamp(max=self.edge_keys.numel() - 1)
        found = alive & in_range & (self.edge_keys[pos] == key)
        nxt = torch.where(found, self.edge_child[pos], torch.full_like(state, DEAD))
        terminal = alive & self.node_terminal[safe]
        return torch.where(terminal, state, nxt)

    def walk(self, tokens: torch.Tensor) -> torch.Tensor:
        """Node reached by each row of generated ``tokens`` (``[R, T]``) from the root."""
        state = torch.zeros(tokens.shape[0], dtype=torch.int64, device=tokens.device)
        for t in range(tokens.shape[1]):
            state = self.step(state, tokens[:, t])
        return state

    def allowed_tokens(self, state: torch.Tensor, depth: int) -> torch.Tensor:
        """``[R, F]`` token ids allowed next (rows padded by repeating an allowed id).

        ``depth`` is the number of tokens generated so far (a host int: every
        live, non-terminal row is at that depth). Dead and terminal rows allow
        only EOS, so sampling never sees an all ``-inf`` row.
        """
        fan = self.fanout_by_depth[min(depth, self.max_len)]
        safe = state.clamp(min=0)
        start = self.node_ptr[safe]
        count = torch.where(state >= 0, self.node_ptr[safe + 1] - start, torch.zeros_like(start))
        offs = torch.arange(fan, device=state.device)
        idx = start[:, None] + torch.minimum(offs[None, :], (count - 1).clamp(min=0)[:, None])
        idx = idx.clamp(max=self.edge_token.numel() - 1)
        toks = self.edge_token[idx]
        return torch.where(count[:, None] > 0, toks, torch.full_like(toks, self.eos_token_id))

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """Item id of each row of generated ``tokens`` (``[R, T]``); -1 if not a complete SID."""
        state = self.walk(tokens.to(self.device))
        return torch.where(
            state >= 0, self.node_item[state.clamp(min=0)], torch.full_like(state, DEAD)
        )

"""Response-only logits (genrec.sft.loss): same loss and gradients as transformers' own."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Qwen2Config, Qwen2ForCausalLM

from genrec.sft.loss import ResponseCollator, logits_to_keep, response_loss


def _model():
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return Qwen2ForCausalLM(cfg).float()


class _Tok:
    """What DataCollatorForSeq2Seq needs of a tokenizer: pad() on right-padded features."""

    padding_side = "right"
    pad_token_id = 0

    def pad(
        self, features, padding=True, max_length=None, pad_to_multiple_of=None, return_tensors="pt"
    ):
        width = max(len(f["input_ids"]) for f in features)
        if pad_to_multiple_of:
            width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
        ids = [f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features]
        mask = [f["attention_mask"] + [0] * (width - len(f["attention_mask"])) for f in features]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}


def _features(spec, seed=1):
    """Examples of (prompt length, response length) with random ids."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n_prompt, n_resp in spec:
        ids = torch.randint(1, 64, (n_prompt + n_resp,), generator=g).tolist()
        out.append(
            {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "labels": [-100] * n_prompt + ids[n_prompt:],
            }
        )
    return out


def _loss_and_grads(model, batch, response_only, num_items=None):
    model.zero_grad()
    batch = dict(batch)
    labels = batch.pop("labels")
    if response_only:
        out = model(**batch)
        loss = response_loss(out, labels, num_items_in_batch=num_items)
    else:
        batch.pop("logits_to_keep", None)
        kw = {} if num_items is None else {"num_items_in_batch": num_items}
        loss = model(**batch, labels=labels, **kw).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize(
    "spec",
    [
        [(10, 3), (4, 9), (17, 2)],  # SID and title responses of different prompt lengths
        [(1, 1)],  # one-token prompt and response
        [(30, 5), (30, 5)],  # equal lengths, no padding
    ],
)
@pytest.mark.parametrize("num_items", [None, 40])
def test_response_only_loss_equals_full_logits_loss(spec, num_items):
    model = _model()
    batch = ResponseCollator(_Tok())(_features(spec))
    full_loss, full_grads = _loss_and_grads(model, batch, response_only=False, num_items=num_items)
    loss, grads = _loss_and_grads(model, batch, response_only=True, num_items=num_items)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, full_loss, rtol=1e-5, atol=1e-6)
    for name, g in full_grads.items():
        torch.testing.assert_close(grads[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_logits_kept_cover_the_response_span_only():
    feats = _features([(10, 3), (40, 5)])
    batch = ResponseCollator(_Tok())(feats)
    width = batch["input_ids"].shape[1]
    assert width == 45
    # first target at position 10 (row 0): logits from position 9 on
    assert batch["logits_to_keep"] == width - 9
    assert logits_to_keep(torch.full((2, 5), -100)) == 2
    # the Seq2Seq collator pads labels the same way
    plain = DataCollatorForSeq2Seq(_Tok(), padding=True, label_pad_token_id=-100)(feats)
    assert torch.equal(plain["labels"], batch["labels"])
    out = _model()(input_ids=batch["input_ids"], logits_to_keep=batch["logits_to_keep"])
    assert out.logits.shape[1] == width - 9


def test_training_batches_build_no_kv_cache():
    """model(**batch) with the collator's batch builds no KV cache (the model alone would)."""
    model = _model().train()
    batch = ResponseCollator(_Tok())(_features([(5, 2), (8, 3)]))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    assert model(**inputs).past_key_values is None
    inputs.pop("use_cache")
    assert model(**inputs).past_key_values is not None


def test_left_padding_is_refused():
    tok = _Tok()
    tok.padding_side = "left"
    with pytest.raises(ValueError, match="padding_side"):
        ResponseCollator(tok)


def test_real_tokenizer_batch(tmp_path):
    """With the project's tokenizer the collator output feeds the model directly."""
    from sft_helpers import make_tables

    from genrec.lm import train_scratch_tokenizer

    tables = make_tables()
    tok = train_scratch_tokenizer(tables["items"]["title"].tolist(), 300)
    tok.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    tok.padding_side = "right"
    feats = _features([(6, 2), (12, 4)])
    batch = ResponseCollator(tok)(feats)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["logits_to_keep"] == 16 - 5

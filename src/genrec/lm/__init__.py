"""Language models over Semantic-ID tokens (SFT, RL and evaluation share these).

Public helpers:

- :func:`load_model_and_tokenizer` ``(path, device="cpu", dtype="auto")``: load an
  SFT/RL ``save_pretrained`` directory for inference (left-padding tokenizer).
- :func:`sid_token_ids` ``(tokenizer, sids_table)``: ``{item_id: [token ids]}``.
- :func:`encode_prompt` ``(tokenizer, text)``: prompt token ids exactly as SFT saw them.
- :func:`build_model_and_tokenizer`, :func:`freeze_llm`: used by SFT.
- :func:`compile_decoder_layers` ``(model)``: ``torch.compile`` each decoder layer (``sft.compile``).
"""

from genrec.lm.compile import compile_decoder_layers, decoder_layers
from genrec.lm.model import (
    build_model_and_tokenizer,
    freeze_llm,
    load_model_and_tokenizer,
    resolve_dtype,
)
from genrec.lm.tokenizer import (
    add_sid_tokens,
    check_sid_encoding,
    encode_example,
    encode_prompt,
    prompt_token_limit,
    read_prompt_limit,
    response_text,
    sid_token_ids,
    sid_vocabulary,
    strip_sid_tokens,
    train_scratch_tokenizer,
    write_prompt_limit,
)

__all__ = [
    "add_sid_tokens",
    "build_model_and_tokenizer",
    "compile_decoder_layers",
    "decoder_layers",
    "check_sid_encoding",
    "encode_example",
    "encode_prompt",
    "prompt_token_limit",
    "read_prompt_limit",
    "freeze_llm",
    "load_model_and_tokenizer",
    "resolve_dtype",
    "response_text",
    "sid_token_ids",
    "sid_vocabulary",
    "strip_sid_tokens",
    "train_scratch_tokenizer",
    "write_prompt_limit",
]

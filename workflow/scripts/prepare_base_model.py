"""Convert lm.base_model into a save_pretrained directory (genrec.lm.base.convert_base_model)."""

import os

from genrec.lm.base import convert_base_model
from genrec.logging import setup_logging

os.environ.setdefault("HF_HUB_OFFLINE", "1")
setup_logging(snakemake.log[0])
convert_base_model(snakemake.params.base_model, snakemake.output.model)

"""On the synthetic demo data (next item = a preferred successor most of the time) a
sequence model must beat the popularity list by a wide margin."""

import yaml
from outputs_helpers import stage_outputs

from genrec.baselines import popularity, sasrec
from genrec.baselines.params import PopularityParams, SasrecParams
from genrec.baselines.sasrec.stage import OUTPUTS
from genrec.config import validate_config
from genrec.data.params import DataParams
from genrec.data.pipeline import OUTPUTS as DATA_OUTPUTS
from genrec.data.pipeline import prepare
from genrec.data.synthetic import write_synthetic


def test_sasrec_beats_popularity_on_demo_data(tmp_path, repo_root):
    cfg = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    cfg = validate_config(cfg, repo_root / "config/schema.yaml")
    syn = {**cfg["datasets"]["demo"]["synthetic"], "n_users": 400, "n_items": 150}
    write_synthetic(tmp_path / "r.json.gz", tmp_path / "m.json.gz", **syn)
    d = stage_outputs(tmp_path / "data", DATA_OUTPUTS)
    prepare(tmp_path / "r.json.gz", tmp_path / "m.json.gz", DataParams.from_config(cfg, "demo"), d)
    ks = [1, 5, 10, 20]
    pop = popularity.run(
        d["train"], d["test"], d["items_parquet"],
        tmp_path / "pop/predictions.parquet", tmp_path / "pop/metrics.json",
        PopularityParams.from_config(cfg), ks,
    )  # fmt: skip
    # the demo config's SASRec, capped at 5 epochs to keep the test short
    params = SasrecParams.from_config(cfg, "demo").replace(max_epochs=5)
    sas = sasrec.train_and_evaluate(
        d["train"], d["valid"], d["test"], d["items_parquet"],
        stage_outputs(tmp_path / "sasrec", OUTPUTS), params, ks, threads=2,
    )  # fmt: skip
    print(pop, sas)
    assert sas["n"] == pop["n"] > 100
    assert sas["HR@10"] > 2 * pop["HR@10"]
    assert sas["NDCG@10"] > 2 * pop["NDCG@10"]
    assert sas["HR@10"] > 0.3

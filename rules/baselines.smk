# Baselines on the same split and metric code as the generative model:
# popularity (no torch) and SASRec (torch; GPU-capable). Outputs: docs/design.md.
from genrec.baselines.params import sasrec_params


rule baseline_popularity:
    input:
        train="results/{dataset}/data/train.parquet",
        test="results/{dataset}/data/test.parquet",
        items_parquet="results/{dataset}/data/items.parquet",
    output:
        predictions="results/{dataset}/baselines/popularity/predictions.parquet",
        metrics="results/{dataset}/baselines/popularity/metrics.json",
    log:
        "results/{dataset}/logs/baselines/baseline_popularity.log",
    benchmark:
        "results/{dataset}/benchmarks/baselines/baseline_popularity.tsv"
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    params:
        popularity=lambda wc: config["baselines"]["popularity"],
        ks=lambda wc: config["eval"]["ks"],
    script:
        "../workflow/scripts/baseline_popularity.py"


rule baseline_sasrec:
    input:
        train="results/{dataset}/data/train.parquet",
        valid="results/{dataset}/data/valid.parquet",
        test="results/{dataset}/data/test.parquet",
        items_parquet="results/{dataset}/data/items.parquet",
    output:
        model="results/{dataset}/baselines/sasrec/model.pt",
        config="results/{dataset}/baselines/sasrec/sasrec_config.json",
        curve="results/{dataset}/baselines/sasrec/training_curve.json",
        curve_png=report(
            "results/{dataset}/baselines/sasrec/training_curve.png",
            caption="../report/sasrec_curve.rst",
            category="Training curves",
            labels={"dataset": "{dataset}", "model": "SASRec"},
        ),
        predictions="results/{dataset}/baselines/sasrec/predictions.parquet",
        metrics="results/{dataset}/baselines/sasrec/metrics.json",
    log:
        "results/{dataset}/logs/baselines/baseline_sasrec.log",
    benchmark:
        "results/{dataset}/benchmarks/baselines/baseline_sasrec.tsv"
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    threads: 2
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["sasrec"],
    params:
        sasrec=lambda wc: sasrec_params(
            config["baselines"]["sasrec"],
            data_params(config, wc.dataset)["max_history"],
            config["resources"]["gpu"]["sasrec"],
        ),
        ks=lambda wc: config["eval"]["ks"],
    script:
        "../workflow/scripts/baseline_sasrec.py"

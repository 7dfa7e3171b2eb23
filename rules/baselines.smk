# Baselines on the same split and metric code as the generative model:
# popularity (no torch) and SASRec (torch; GPU-capable). Outputs: docs/design.md.


rule baseline_popularity:
    input:
        train=results("data/train.parquet"),
        test=results("data/test.parquet"),
        items_parquet=results("data/items.parquet"),
    output:
        predictions=results("baselines/popularity/predictions.parquet"),
        metrics=results("baselines/popularity/metrics.json"),
    log:
        logs("baselines/baseline_popularity.log"),
    benchmark:
        benchmarks("baselines/baseline_popularity.tsv")
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=table_job_resource("mem_mb"),
        runtime=table_job_resource("runtime"),
    params:
        popularity=lambda wc: tracked(PopularityParams.from_config(config)),
        ks=lambda wc: config["eval"]["ks"],
    script:
        "../workflow/scripts/baseline_popularity.py"


rule baseline_sasrec:
    input:
        train=results("data/train.parquet"),
        valid=results("data/valid.parquet"),
        test=results("data/test.parquet"),
        items_parquet=results("data/items.parquet"),
    output:
        model=results("baselines/sasrec/model.pt"),
        config=results("baselines/sasrec/sasrec_config.json"),
        curve=results("baselines/sasrec/training_curve.json"),
        curve_png=report(
            results("baselines/sasrec/training_curve.png"),
            caption="../report/sasrec_curve.rst",
            category="Training curves",
            labels={"dataset": "{dataset}", "model": "SASRec"},
        ),
        predictions=results("baselines/sasrec/predictions.parquet"),
        metrics=results("baselines/sasrec/metrics.json"),
    log:
        logs("baselines/baseline_sasrec.log"),
    benchmark:
        benchmarks("baselines/baseline_sasrec.tsv")
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
        sasrec=lambda wc: tracked(SasrecParams.from_config(config, wc.dataset)),
        ks=lambda wc: config["eval"]["ks"],
    script:
        "../workflow/scripts/baseline_sasrec.py"

# SFT stage: the pretrained backbone (once), the task mixture (datasets) and Trainer
# fine-tuning of the SID LM.


rule prepare_base_model:
    input:
        unpack(lambda wc: base_model_source(config)),
    output:
        model=directory("results/models/{base}"),
    log:
        "results/models/logs/prepare_base_model.{base}.log",
    benchmark:
        "results/models/benchmarks/prepare_base_model.{base}.tsv"
    wildcard_constraints:
        base="[^/]+",
    conda:
        "../envs/torch.yaml"
    threads: 1
    params:
        base_model=config["lm"]["base_model"],
    script:
        "../workflow/scripts/prepare_base_model.py"


rule build_sft_datasets:
    input:
        train="results/{dataset}/data/train.parquet",
        valid="results/{dataset}/data/valid.parquet",
        items_parquet="results/{dataset}/data/items.parquet",
        sids="results/{dataset}/sid/{method}/sids.parquet",
    output:
        directory("results/{dataset}/sft/{method}/datasets"),
    log:
        "results/{dataset}/logs/sft/build_sft_datasets.{method}.log",
    benchmark:
        "results/{dataset}/benchmarks/sft/build_sft_datasets.{method}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        sft=lambda wc: {
            "tasks": config["sft"]["tasks"],
            "max_valid_samples": config["sft"]["max_valid_samples"],
        },
        seed=lambda wc: config["sft"]["seed"],
    script:
        "../workflow/scripts/build_sft_datasets.py"


rule train_sft:
    input:
        unpack(lambda wc: base_model_input(config)),
        datasets="results/{dataset}/sft/{method}/datasets",
        sids="results/{dataset}/sid/{method}/sids.parquet",
    output:
        model=directory("results/{dataset}/sft/{method}/model"),
        loss_json="results/{dataset}/sft/{method}/loss.json",
        loss_png=report(
            "results/{dataset}/sft/{method}/loss.png",
            caption="../report/sft_loss.rst",
            category="Training",
            subcategory="SFT",
            labels={"dataset": "{dataset}", "SID method": "{method}"},
        ),
    log:
        "results/{dataset}/logs/sft/train_sft.{method}.log",
    benchmark:
        "results/{dataset}/benchmarks/sft/train_sft.{method}.tsv"
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    # the tiny demo model runs fastest on one core; raise with --set-threads train_sft=N
    threads: 1
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["sft"],
    params:
        lm=lambda wc: config["lm"],
        sft=lambda wc: {
            k: v
            for k, v in config["sft"].items()
            if k not in ("tasks", "max_valid_samples", "seed")
        },
        seed=lambda wc: config["sft"]["seed"],
        checkpoint_dir="checkpoints/{dataset}/sft/{method}",
    script:
        "../workflow/scripts/train_sft.py"

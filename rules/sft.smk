# SFT stage: the pretrained backbone (once), the task mixture (datasets) and Trainer
# fine-tuning of the SID LM.


rule prepare_base_model:
    input:
        unpack(lambda wc: base_model_source(config)),
    output:
        model=directory(models("{base}")),
    log:
        models("logs/prepare_base_model.{base}.log"),
    benchmark:
        models("benchmarks/prepare_base_model.{base}.tsv")
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
        train=results("data/train.parquet"),
        valid=results("data/valid.parquet"),
        items_parquet=results("data/items.parquet"),
        sids=results("sid/{method}/sids.parquet"),
    output:
        directory(results("sft/{method}/datasets")),
    log:
        logs("sft/build_sft_datasets.{method}.log"),
    benchmark:
        benchmarks("sft/build_sft_datasets.{method}.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        sft=lambda wc: tracked(SftDataParams.from_config(config)),
    script:
        "../workflow/scripts/build_sft_datasets.py"


rule train_sft:
    input:
        unpack(lambda wc: base_model_input(config)),
        datasets=results("sft/{method}/datasets"),
        sids=results("sid/{method}/sids.parquet"),
    output:
        model=directory(results("sft/{method}/model")),
        loss_json=results("sft/{method}/loss.json"),
        loss_png=report(
            results("sft/{method}/loss.png"),
            caption="../report/sft_loss.rst",
            category="Training",
            subcategory="SFT",
            labels={"dataset": "{dataset}", "SID method": "{method}"},
        ),
    log:
        logs("sft/train_sft.{method}.log"),
    benchmark:
        benchmarks("sft/train_sft.{method}.tsv")
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    # one core per training process (the tiny demo model runs fastest on one) and DataLoader worker
    threads: lambda wc: sft_threads(config)
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["sft"],
    params:
        sft=lambda wc: tracked(SftTrainParams.from_config(config)),
        checkpoint_dir="checkpoints/{dataset}/sft/{method}",
    script:
        "../workflow/scripts/train_sft.py"

# Data stage: synthetic raw data (demo) and raw reviews -> samples/split/items.
SYNTHETIC_DATASETS = [ds for ds in datasets(config) if is_synthetic(config, ds)]


rule synthetic_data:
    output:
        reviews="resources/{dataset}/{dataset}_5.json.gz",
        meta="resources/{dataset}/meta_{dataset}.json.gz",
    log:
        logs("data/synthetic_data.log"),
    benchmark:
        benchmarks("data/synthetic_data.tsv")
    wildcard_constraints:
        dataset=name_regex(SYNTHETIC_DATASETS),
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        synthetic=lambda wc: config["datasets"][wc.dataset]["synthetic"],
    script:
        "../workflow/scripts/synthetic_data.py"


rule prepare_data:
    input:
        unpack(lambda wc: raw_inputs(config, wc.dataset)),
    output:
        train=results("data/train.parquet"),
        valid=results("data/valid.parquet"),
        test=results("data/test.parquet"),
        items_parquet=results("data/items.parquet"),
        id_maps=results("data/id_maps.json"),
        stats=results("data/stats.json"),
    log:
        logs("data/prepare_data.log"),
    benchmark:
        benchmarks("data/prepare_data.tsv")
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=prepare_data_resource(config, "mem_mb"),
        runtime=prepare_data_resource(config, "runtime"),
    params:
        data=lambda wc: tracked(DataParams.from_config(config, wc.dataset)),
    script:
        "../workflow/scripts/prepare_data.py"

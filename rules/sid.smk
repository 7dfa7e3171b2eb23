# SID stage: embeddings -> unique Semantic IDs per method, plus the MiniOneRec export.
#   results/{dataset}/sid/{method}/sids.parquet index.json sid_stats.json code_usage.png
#   results/{dataset}/sid/{method}/minionerec/


rule build_sids:
    input:
        unpack(sid_warm_start),
        embeddings="results/{dataset}/embed/embeddings.npy",
        items_parquet="results/{dataset}/data/items.parquet",
    output:
        sids="results/{dataset}/sid/{method}/sids.parquet",
        index="results/{dataset}/sid/{method}/index.json",
        stats="results/{dataset}/sid/{method}/sid_stats.json",
        codebooks="results/{dataset}/sid/{method}/codebooks.npz",
        usage=report(
            "results/{dataset}/sid/{method}/code_usage.png",
            caption="../report/sid_usage.rst",
            category="Semantic IDs",
            labels={"dataset": "{dataset}", "SID method": "{method}"},
        ),
    log:
        "results/{dataset}/logs/sid/build_sids.{method}.log",
    benchmark:
        "results/{dataset}/benchmarks/sid/build_sids.{method}.tsv"
    wildcard_constraints:
        method="rqvae|rqkmeans|rqkmeans_balanced|rqkmeans_plus",
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    threads: 2
    resources:
        gpu=lambda wc: (
            config["resources"]["gpu"]["sid"]
            if wc.method in ("rqvae", "rqkmeans_plus")
            else 0
        ),
    params:
        sid=lambda wc: sid_params(config, wc.method),
    script:
        "../workflow/scripts/build_sids.py"


rule import_sids:
    input:
        index_json=lambda wc: sid_import_json(config),
        items_parquet="results/{dataset}/data/items.parquet",
    output:
        sids="results/{dataset}/sid/import/sids.parquet",
        index="results/{dataset}/sid/import/index.json",
        stats="results/{dataset}/sid/import/sid_stats.json",
        usage=report(
            "results/{dataset}/sid/import/code_usage.png",
            caption="../report/sid_usage.rst",
            category="Semantic IDs",
            labels={"dataset": "{dataset}", "SID method": "import"},
        ),
    log:
        "results/{dataset}/logs/sid/build_sids.import.log",
    benchmark:
        "results/{dataset}/benchmarks/sid/build_sids.import.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        sid=lambda wc: {
            "codebook_sizes": config["sid"]["codebook_sizes"],
            "seed": config["sid"]["seed"],
            "import": {
                "keys": config["sid"]["import"]["keys"],
                "id_map": config["sid"]["import"]["id_map"],
            },
        },
    script:
        "../workflow/scripts/import_sids.py"


rule export_minionerec:
    input:
        sids="results/{dataset}/sid/{method}/sids.parquet",
        items_parquet="results/{dataset}/data/items.parquet",
        train="results/{dataset}/data/train.parquet",
        valid="results/{dataset}/data/valid.parquet",
        test="results/{dataset}/data/test.parquet",
    output:
        directory("results/{dataset}/sid/{method}/minionerec"),
    log:
        "results/{dataset}/logs/sid/export_minionerec.{method}.log",
    benchmark:
        "results/{dataset}/benchmarks/sid/export_minionerec.{method}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        name=lambda wc: wc.dataset,
    script:
        "../workflow/scripts/export_minionerec.py"

# SID stage: embeddings -> unique Semantic IDs per method, plus the MiniOneRec export.
#   results/{dataset}/sid/{method}/sids.parquet index.json sid_stats.json code_usage.png
#   results/{dataset}/sid/{method}/minionerec/


rule build_sids:
    input:
        unpack(sid_warm_start),
        embeddings=results("embed/embeddings.npy"),
        items_parquet=results("data/items.parquet"),
    output:
        sids=results("sid/{method}/sids.parquet"),
        index=results("sid/{method}/index.json"),
        stats=results("sid/{method}/sid_stats.json"),
        codebooks=results("sid/{method}/codebooks.npz"),
        usage=report(
            results("sid/{method}/code_usage.png"),
            caption="../report/sid_usage.rst",
            category="Semantic IDs",
            labels={"dataset": "{dataset}", "SID method": "{method}"},
        ),
    log:
        logs("sid/build_sids.{method}.log"),
    benchmark:
        benchmarks("sid/build_sids.{method}.tsv")
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
        sid=lambda wc: tracked(SidParams.from_config(config, wc.method)),
    script:
        "../workflow/scripts/build_sids.py"


rule import_sids:
    input:
        index_json=lambda wc: sid_import_json(config),
        items_parquet=results("data/items.parquet"),
    output:
        sids=results("sid/import/sids.parquet"),
        index=results("sid/import/index.json"),
        stats=results("sid/import/sid_stats.json"),
        usage=report(
            results("sid/import/code_usage.png"),
            caption="../report/sid_usage.rst",
            category="Semantic IDs",
            labels={"dataset": "{dataset}", "SID method": "import"},
        ),
    log:
        logs("sid/build_sids.import.log"),
    benchmark:
        benchmarks("sid/build_sids.import.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        sid=lambda wc: tracked(SidParams.from_config(config, "import")),
    script:
        "../workflow/scripts/import_sids.py"


rule export_minionerec:
    input:
        sids=results("sid/{method}/sids.parquet"),
        items_parquet=results("data/items.parquet"),
        train=results("data/train.parquet"),
        valid=results("data/valid.parquet"),
        test=results("data/test.parquet"),
    output:
        directory(results("sid/{method}/minionerec")),
    log:
        logs("sid/export_minionerec.{method}.log"),
    benchmark:
        benchmarks("sid/export_minionerec.{method}.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    params:
        name=lambda wc: wc.dataset,
    script:
        "../workflow/scripts/export_minionerec.py"

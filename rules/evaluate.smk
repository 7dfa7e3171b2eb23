# Generative evaluation: trie-constrained beam search over valid SIDs, HR@K / NDCG@K.
# The test split gives the reported numbers; the valid split (second rule) is for
# model selection, which must never look at test.


rule evaluate_generative:
    input:
        model=results("{stage}/{method}/model"),
        sids=results("sid/{method}/sids.parquet"),
        samples=results("data/test.parquet"),
    output:
        predictions=results("eval/{method}/{stage}/predictions.parquet"),
        metrics=results("eval/{method}/{stage}/metrics.json"),
    log:
        logs("evaluate/evaluate_generative.{method}.{stage}.log"),
    benchmark:
        benchmarks("evaluate/evaluate_generative.{method}.{stage}.tsv")
    wildcard_constraints:
        dataset="[^/]+",
        method="[^/]+",
        stage="sft|rl",
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    threads: 2
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["evaluate"],
    params:
        eval=lambda wc: tracked(EvalParams.from_config(config, "test")),
        split="test",
    script:
        "../workflow/scripts/evaluate_generative.py"


use rule evaluate_generative as evaluate_generative_valid with:
    input:
        model=results("{stage}/{method}/model"),
        sids=results("sid/{method}/sids.parquet"),
        samples=results("data/valid.parquet"),
    output:
        predictions=results("eval/{method}/{stage}/valid/predictions.parquet"),
        metrics=results("eval/{method}/{stage}/valid/metrics.json"),
    log:
        logs("evaluate/evaluate_generative_valid.{method}.{stage}.log"),
    benchmark:
        benchmarks("evaluate/evaluate_generative_valid.{method}.{stage}.tsv")
    params:
        eval=lambda wc: tracked(EvalParams.from_config(config, "valid")),
        split="valid",

# Embedding stage: item texts -> results/{dataset}/embed/embeddings.npy (row i = item_id i).


rule embed_items:
    input:
        items_parquet="results/{dataset}/data/items.parquet",
    output:
        embeddings="results/{dataset}/embed/embeddings.npy",
        stats="results/{dataset}/embed/embed_stats.json",
    log:
        "results/{dataset}/logs/embed/embed_items.log",
    benchmark:
        "results/{dataset}/benchmarks/embed/embed_items.tsv"
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    threads: 2
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["embed"],
    params:
        embed=lambda wc: config["embed"],
    script:
        "../workflow/scripts/embed_items.py"

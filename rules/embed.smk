# Embedding stage: item texts -> results/{dataset}/embed/embeddings.npy (row i = item_id i).


rule embed_items:
    input:
        items_parquet=results("data/items.parquet"),
    output:
        embeddings=results("embed/embeddings.npy"),
        stats=results("embed/embed_stats.json"),
    log:
        logs("embed/embed_items.log"),
    benchmark:
        benchmarks("embed/embed_items.tsv")
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    threads: 2
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["embed"],
    params:
        embed=lambda wc: tracked(EmbedParams.from_config(config)),
    script:
        "../workflow/scripts/embed_items.py"

# RL stage: GRPO (trl) from the SFT model with trie-constrained rollouts.
# Checkpoints go to checkpoints/{dataset}/rl/{method}/ (undeclared: a rerun resumes).


rule train_rl:
    input:
        unpack(lambda wc: rl_reward_inputs(config, wc.dataset)),
        sft_model=results("sft/{method}/model"),
        train=results("data/train.parquet"),
        items_parquet=results("data/items.parquet"),
        sids=results("sid/{method}/sids.parquet"),
    output:
        model=directory(results("rl/{method}/model")),
        history=results("rl/{method}/history.json"),
        curves=report(
            results("rl/{method}/rl_curves.png"),
            caption="../report/rl_curves.rst",
            category="Training",
            subcategory="RL",
            labels={"dataset": "{dataset}", "SID method": "{method}"},
        ),
    log:
        logs("rl/train_rl.{method}.log"),
    benchmark:
        benchmarks("rl/train_rl.{method}.tsv")
    wildcard_constraints:
        dataset="[^/]+",
        method="[^/]+",
    conda:
        "../envs/torch.yaml"
    container:
        config["containers"]["gpu"]
    threads: 2
    resources:
        gpu=lambda wc: config["resources"]["gpu"]["rl"],
    params:
        rl=lambda wc: tracked(RlParams.from_config(config)),
        checkpoint_dir="checkpoints/{dataset}/rl/{method}",
    script:
        "../workflow/scripts/train_rl.py"

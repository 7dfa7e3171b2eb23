from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/embed.smk"
include: "rules/sid.smk"
include: "rules/sft.smk"
include: "rules/baselines.smk"
include: "rules/evaluate.smk"
include: "rules/rl.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(config),

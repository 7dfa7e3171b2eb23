# Summary table over every model (baselines + generative stages) and the plots
# shown by `snakemake --report report.html`.
rule summarize_metrics:
    input:
        metrics=lambda wc: metrics_files(config, wc.dataset),
        predictions=lambda wc: predictions_files(config, wc.dataset),
    output:
        csv=results("metrics.csv"),
        png=report(
            results("metrics.png"),
            caption="../report/metrics_plot.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "figure": "HR@K and NDCG@K curves"},
        ),
        html=report(
            results("metrics.html"),
            caption="../report/metrics_table.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "figure": "metrics table"},
        ),
    log:
        logs("report/summarize_metrics.log"),
    benchmark:
        benchmarks("report/summarize_metrics.tsv")
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    params:
        ks=lambda wc: config["eval"]["ks"],
        report=lambda wc: tracked(ReportParams.from_config(config)),
    script:
        "../workflow/scripts/summarize_metrics.py"


# Paired bootstrap intervals (genrec.eval.bootstrap): SFT+RL - SFT on the valid and the
# test split, each generative model / SASRec on test. Settings are chosen on valid; the
# test rows are read once, for the final table.
rule compare_models:
    input:
        test_metrics=lambda wc: split_metrics_files(config, wc.dataset, "test"),
        test_predictions=lambda wc: predictions_files(config, wc.dataset, "test"),
        valid_metrics=lambda wc: split_metrics_files(config, wc.dataset, "valid"),
        valid_predictions=lambda wc: predictions_files(config, wc.dataset, "valid"),
    output:
        csv=report(
            results("comparisons.csv"),
            caption="../report/comparisons.rst",
            category="Metrics",
            labels={"dataset": "{dataset}", "figure": "paired intervals"},
        ),
    log:
        logs("report/compare_models.log"),
    benchmark:
        benchmarks("report/compare_models.tsv")
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    params:
        ks=lambda wc: config["eval"]["ks"],
        bootstrap=lambda wc: tracked(BootstrapParams.from_config(config)),
    script:
        "../workflow/scripts/compare_models.py"


# Runs after the summary (so after every evaluation and training job) and reads
# whatever benchmark TSVs exist under results/{dataset}/benchmarks/ at that time.
rule plot_runtimes:
    input:
        results("metrics.csv"),
        results("manifest.json"),
    output:
        png=report(
            results("runtimes.png"),
            caption="../report/runtimes.rst",
            category="Run times",
            labels={"dataset": "{dataset}", "figure": "run time per job"},
        ),
        csv=results("runtimes.csv"),
    log:
        logs("report/plot_runtimes.log"),
    benchmark:
        benchmarks("report/plot_runtimes.tsv")
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    params:
        bench_dir=lambda wc: benchmarks("", wc.dataset),
        dpi=lambda wc: config["report"]["dpi"],
    script:
        "../workflow/scripts/plot_runtimes.py"


# The results page (genrec.report.results) finds the rule behind each benchmark file,
# and the JSON files that job wrote, through this manifest: the benchmark and output
# patterns of every rule, read from Snakemake's rule objects when the job is planned
# (every rule is defined by then). A renamed output changes the params, so the
# manifest is rewritten. Its benchmark file sits under benchmarks/ like every job's;
# plot_runtimes waits for the manifest, so runtimes.png always lists this job too.
rule write_manifest:
    output:
        json=results("manifest.json"),
    log:
        logs("report/write_manifest.log"),
    benchmark:
        benchmarks("report/write_manifest.tsv")
    wildcard_constraints:
        dataset=name_regex(datasets(config)),
    conda:
        "../envs/data.yaml"
    params:
        rules=lambda wc: {
            r.name: {
                "benchmark": str(getattr(rules, r.name).benchmark),
                "outputs": [str(o) for o in getattr(rules, r.name).output],
                "wildcard_constraints": {
                    **workflow.wildcard_constraints,
                    **r.wildcard_constraints,
                },
            }
            for r in workflow.rules
            if r.benchmark
        },
    script:
        "../workflow/scripts/write_manifest.py"

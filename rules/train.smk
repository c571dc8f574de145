# Stage 3: NAS-Bench-201 cells trained with the benchmark's recipe ("standard": Kaiming init,
# its fixed rate) and the principled one (eq. 4 init, eq. 8 rate from the base cell's measured
# maximal rate). A job is a shard of cells x every seed.


rule train_nb201:
    input:
        base=lambda wc: (
            expand("results/base_lr/{dataset}/{base}/seed{seed}.csv", dataset=wc.dataset, base=NB201_BASE, seed=SEEDS)
            if wc.recipe == "principled"
            else []
        ),
    output:
        table="results/nb201/{dataset}/{recipe}/shard{shard}.csv",
    params:
        cells=lambda wc: shard(NB201_CELLS, int(wc.shard), NB201["shard_size"]),
        model={"C": NB201["C"], "N": NB201["N"]},
        recipe=lambda wc: nb201_recipe(wc.recipe),
        seeds=SEEDS,
        run=run_settings(),
        code=CODE_TRAIN,
    log:
        "logs/train_nb201/{dataset}/{recipe}/shard{shard}.log",
    benchmark:
        "benchmarks/train_nb201/{dataset}/{recipe}/shard{shard}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=config["gpus_per_job"],
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_nb201.py"


rule aggregate_nb201:
    input:
        lambda wc: expand(
            "results/nb201/{dataset}/{recipe}/shard{shard}.csv",
            dataset=wc.dataset,
            recipe=NB201["recipes"],
            shard=range(NB201_SHARDS),
        ),
    output:
        table="results/tables/nb201_{dataset}.csv",
    params:
        code=CODE_ANALYSIS,
    log:
        "logs/aggregate_nb201/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/aggregate_nb201.py"

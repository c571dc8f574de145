# Stage 3: NAS-Bench-201 cells trained with the benchmark's recipe ("standard": Kaiming init,
# its fixed rate) and the principled one (eq. 4 init, eq. 8 rate from the base cell's measured
# maximal rate), or an ablation (principled_init, principled_lr: one of the two). A job is a
# shard of cells x every seed.


rule train_nb201:
    input:
        base=lambda wc: (
            [f"results/base_lr/{wc.dataset}/{NB201_BASE}.csv"]
            if wc.recipe in BASE_LR_RECIPES
            else []
        ),
        data=data_ready,
    output:
        table="results/nb201/{dataset}/{recipe}/shard{shard}.csv",
    params:
        cells=lambda wc: shard(recipe_cells(wc.recipe), int(wc.shard), NB201["shard_size"]),
        model={"C": NB201["C"], "N": NB201["N"]},
        recipe=lambda wc: nb201_recipe(wc.recipe),
        seeds=SEEDS,
        run=run_settings(),
        data_root=DATA_ROOT,
        code=CODE["train_nb201"],
    log:
        "logs/train_nb201/{dataset}/{recipe}/shard{shard}.log",
    benchmark:
        "benchmarks/train_nb201/{dataset}/{recipe}/shard{shard}.tsv"
    # one core per concurrent training (archscale.trainpool splits the threads among them)
    threads: NB201["concurrent"]
    retries: NB201["oom_retries"]
    resources:
        mem_mb=8000,
        # its trainings in waves of nb201.concurrent, each nb201.epochs long (walltime section)
        runtime=lambda wc: walltime_minutes(
            math.ceil(len(shard(recipe_cells(wc.recipe), int(wc.shard), NB201["shard_size"])) * len(SEEDS)
                      / NB201["concurrent"]) * NB201["epochs"],
            config["walltime"]["train_epoch_s"],
        ),
        gpu=config["gpus_per_job"],
        # nb201.batch_size on the first attempt, halved on each retry (e.g. after running out of
        # device memory). A resource, not a param: params are a rerun trigger, resources are not.
        batch_size=lambda wc, attempt: max(1, NB201["batch_size"] // 2 ** (attempt - 1)),
        # (cell, seed) trainings at once on the job's device; a resource too: it changes no number
        concurrent=NB201["concurrent"],
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_nb201.py"


rule nats_published:
    output:
        table="results/nats/{dataset}.csv",
    params:
        path=NATS_PATH,
        cells=NB201_CELLS,
        code=CODE["nats_published"],
    log:
        "logs/nats_published/{dataset}.log",
    benchmark:
        "benchmarks/nats_published/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/nats_published.py"


rule aggregate_nb201:
    input:
        runs=nb201_runs,
        nats=nats_inputs,
    output:
        table="results/tables/nb201_{dataset}.csv",
    params:
        code=CODE["aggregate_nb201"],
    log:
        "logs/aggregate_nb201/{dataset}.log",
    benchmark:
        "benchmarks/aggregate_nb201/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/aggregate_nb201.py"

# The "true" maximal learning rate of sampled targets, by the same batched grid search as the
# base, to test eq. 8/9's prediction (figs. 2, 3, 5-7). A job is a shard of architectures x
# every seed.


rule true_max_lr:
    input:
        data=data_ready,
    output:
        table="results/lr/{exp}/{dataset}/k{kernel}/measured_shard{shard}.csv",
    params:
        model=lambda wc: {
            "family": EXPERIMENTS[wc.exp]["family"],
            "width": EXPERIMENTS[wc.exp]["width"],
            "kernel_size": int(wc.kernel),
            "activation": EXPERIMENTS[wc.exp]["activation"],
        },
        archs=lambda wc: shard(exp_archs(wc.exp), int(wc.shard), config["shard_size"]),
        seeds=SEEDS,
        search=search_settings(),
        run=run_settings(),
        data_root=DATA_ROOT,
        code=CODE["true_max_lr"],
    log:
        "logs/true_max_lr/{exp}/{dataset}/k{kernel}/shard{shard}.log",
    benchmark:
        "benchmarks/true_max_lr/{exp}/{dataset}/k{kernel}/shard{shard}.tsv"
    group:
        "lr_grid"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=lambda wc: grid_runtime(len(shard(exp_archs(wc.exp), int(wc.shard), config["shard_size"]))),
        gpu=config["gpus_per_job"],
        lr_chunk=GRID_CHUNK,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/true_max_lr.py"


rule aggregate_lr:
    input:
        predicted=lambda wc: expand(
            "results/lr/{exp}/{dataset}/k{kernel}/predicted.csv",
            exp=wc.exp,
            dataset=wc.dataset,
            kernel=EXPERIMENTS[wc.exp]["kernel_sizes"],
        ),
        measured=lambda wc: expand(
            "results/lr/{exp}/{dataset}/k{kernel}/measured_shard{shard}.csv",
            exp=wc.exp,
            dataset=wc.dataset,
            kernel=EXPERIMENTS[wc.exp]["kernel_sizes"],
            shard=range(n_shards(exp_archs(wc.exp), config["shard_size"])),
        ),
        # the base network's grid, one per kernel size (params.kernels): its rate under each
        # criterion scales into the predictions
        base=lambda wc: [
            f"results/base_lr/{wc.dataset}/{exp_base(wc.exp, k)}.csv" for k in EXPERIMENTS[wc.exp]["kernel_sizes"]
        ],
    output:
        table="results/tables/lr_{exp}_{dataset}.csv",
    params:
        kernels=lambda wc: EXPERIMENTS[wc.exp]["kernel_sizes"],
        **criteria_settings(),
        code=CODE["aggregate_lr"],
    log:
        "logs/aggregate_lr/{exp}_{dataset}.log",
    benchmark:
        "benchmarks/aggregate_lr/{exp}_{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/aggregate_lr.py"

# Stage 1: the maximal learning rate of each shallow base network (L = 1: input -> hidden ->
# output), one batched grid search per seed, every seed in one job (there are few bases).


rule base_lr_search:
    input:
        data=data_ready,
    output:
        table="results/base_lr/{dataset}/{family}_{act}_w{width}_k{kernel}.csv",
    params:
        base=base_params,
        seeds=SEEDS,
        run=run_settings(),
        data_root=DATA_ROOT,
        code=CODE["base_lr_search"],
    log:
        "logs/base_lr_search/{dataset}/{family}_{act}_w{width}_k{kernel}.log",
    benchmark:
        "benchmarks/base_lr_search/{dataset}/{family}_{act}_w{width}_k{kernel}.tsv"
    group:
        "lr_grid"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=grid_runtime(1),
        gpu=config["gpus_per_job"],
        lr_chunk=GRID_CHUNK,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/base_lr_search.py"

# Stage 2: eq. 8/9 predicted rate of every target of an experiment from its base's measured
# maximal rate (geometric mean over seeds). The torch env: residual families' path depths come
# from tracing their networks (archscale.trace); DAG codes are counted without torch.


rule scaled_lrs:
    input:
        base=lambda wc: f"results/base_lr/{wc.dataset}/{exp_base(wc.exp, wc.kernel)}.csv",
    output:
        table="results/lr/{exp}/{dataset}/k{kernel}/predicted.csv",
    params:
        family=lambda wc: EXPERIMENTS[wc.exp]["family"],
        archs=lambda wc: exp_archs(wc.exp),
        code=CODE["scaled_lrs"],
    log:
        "logs/scaled_lrs/{exp}/{dataset}/k{kernel}.log",
    benchmark:
        "benchmarks/scaled_lrs/{exp}/{dataset}/k{kernel}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/scaled_lrs.py"

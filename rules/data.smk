# Dataset downloads: one job per dataset that has files to fetch (CIFAR-10/100, through
# torchvision), planned only when the config says download: true. It verifies the files' md5s
# (downloading them when missing or corrupt) and writes a small marker; the training and grid
# jobs of that dataset wait for it (common.smk's data_ready), so no two jobs ever download at
# once. With download: false there is no such job: the Snakefile's pre-flight check has made
# sure the files are there, and jobs read them directly. ImageNet16-120 cannot be downloaded.
#
# A checkpoint, not a rule, so the waiting jobs need not list the marker as an input: their
# inputs are the same whether download is true or false, and flipping it re-runs no training
# or grid job. The marker's path does not depend on data_root; the params do, so a new
# data_root fetches again, into the new folder.


checkpoint fetch_dataset:
    output:
        marker="results/data/{dataset}.verified",
    params:
        root=config["data_root"],
        code=CODE["fetch_dataset"],
    wildcard_constraints:
        dataset="|".join(DOWNLOADABLE),
    log:
        "logs/fetch_dataset/{dataset}.log",
    benchmark:
        "benchmarks/fetch_dataset/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/fetch_dataset.py"

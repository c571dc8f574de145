# Stage 4: tidy tables -> the paper's figures (PDF + PNG) and tables (CSV + LaTeX + Markdown).


rule plot_lr_experiment:
    input:
        table="results/tables/lr_{exp}_{dataset}.csv",
    output:
        pdf=report("figures/{exp}_{dataset}.pdf", category="Learning rates", caption="../report/lr_figure.rst"),
        png="figures/{exp}_{dataset}.png",
    params:
        exp="{exp}",
        dataset="{dataset}",
        code=CODE_PLOTS,
    log:
        "logs/plot_lr_experiment/{exp}_{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/plot_lr_experiment.py"


rule plot_nb201:
    input:
        tables=expand("results/tables/nb201_{dataset}.csv", dataset=NB201["datasets"]),
    output:
        pdf=report("figures/fig4_nb201.pdf", category="NAS-Bench-201", caption="../report/fig4.rst"),
        png="figures/fig4_nb201.png",
    params:
        datasets=NB201["datasets"],
        code=CODE_PLOTS,
    log:
        "logs/plot_nb201/fig4.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/plot_nb201.py"


rule tables:
    input:
        lr=lr_tables(),
        nb201=expand("results/tables/nb201_{dataset}.csv", dataset=NB201["datasets"]),
    output:
        lr_csv=report("figures/table_lr_correlation.csv", category="Tables", caption="../report/tables.rst"),
        lr_tex="figures/table_lr_correlation.tex",
        lr_md="figures/table_lr_correlation.md",
        nb201_csv=report("figures/table_nb201.csv", category="Tables", caption="../report/tables.rst"),
        nb201_tex="figures/table_nb201.tex",
        nb201_md="figures/table_nb201.md",
        top_csv=report("figures/table_nb201_top.csv", category="Tables", caption="../report/tables.rst"),
        top_tex="figures/table_nb201_top.tex",
        top_md="figures/table_nb201_top.md",
    params:
        code=CODE_ANALYSIS,
    log:
        "logs/tables/tables.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/tables.py"

# Stage 4: tidy tables -> the paper's figures (PDF + PNG) and tables (CSV + LaTeX + Markdown).


rule plot_lr_figure:
    input:
        tables=figure_tables,
    output:
        pdf=report("figures/{fig}_{dataset}.pdf", category="Learning rates", caption="../report/figure.rst"),
        png="figures/{fig}_{dataset}.png",
    wildcard_constraints:
        fig="|".join(LR_FIGURES),
    params:
        fig="{fig}",
        dataset="{dataset}",
        criterion=ANALYSIS["criteria"][0],
        boot=boot_settings(),
        caption=lambda wc: figure(wc.fig).caption,
        code=CODE["plot_lr_figure"],
    log:
        "logs/plot_lr_figure/{fig}_{dataset}.log",
    benchmark:
        "benchmarks/plot_lr_figure/{fig}_{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/plot_lr_figure.py"


rule plot_nb201:
    input:
        tables=expand("results/tables/nb201_{dataset}.csv", dataset=NB201["datasets"]),
    output:
        pdf=report("figures/{nbfig}.pdf", category="NAS-Bench-201", caption="../report/figure.rst"),
        png="figures/{nbfig}.png",
    wildcard_constraints:
        nbfig="|".join(f.name for f in figures_of("nb201")),
    params:
        figure="{nbfig}",
        caption=lambda wc: figure(wc.nbfig).caption,
        datasets=NB201["datasets"],
        boot=boot_settings(),
        code=CODE["plot_nb201"],
    log:
        "logs/plot_nb201/{nbfig}.log",
    benchmark:
        "benchmarks/plot_nb201/{nbfig}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/plot_nb201.py"


rule plot_evidence:
    input:
        table=lambda wc: f"figures/{figure(wc.evfig).table}.csv",
    output:
        pdf=report("figures/{evfig}.pdf", category="Evidence", caption="../report/figure.rst"),
        png="figures/{evfig}.png",
    wildcard_constraints:
        evfig="|".join(EVIDENCE_FIGURES),
    params:
        figure="{evfig}",
        caption=lambda wc: figure(wc.evfig).caption,
        code=CODE["plot_evidence"],
    log:
        "logs/plot_evidence/{evfig}.log",
    benchmark:
        "benchmarks/plot_evidence/{evfig}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/plot_evidence.py"


rule init_signal:
    output:
        table="results/init_signal/signal.csv",
    params:
        settings=config["init_signal"],
        code=CODE["init_signal"],
    log:
        "logs/init_signal/signal.log",
    benchmark:
        "benchmarks/init_signal/signal.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/init_signal.py"


rule plot_init_signal:
    input:
        table=rules.init_signal.output.table,
    output:
        pdf=report("figures/{sigfig}.pdf", category="Initialisation", caption="../report/figure.rst"),
        png="figures/{sigfig}.png",
    wildcard_constraints:
        sigfig="|".join(SIGNAL_FIGURES),
    params:
        figure="{sigfig}",
        caption=lambda wc: figure(wc.sigfig).caption,
        code=CODE["plot_init_signal"],
    log:
        "logs/plot_init_signal/{sigfig}.log",
    benchmark:
        "benchmarks/plot_init_signal/{sigfig}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/plot_init_signal.py"


rule tables:
    input:
        lr=lr_tables(),
        nb201=expand("results/tables/nb201_{dataset}.csv", dataset=NB201["datasets"]),
    output:
        lr_csv=report("figures/table_lr_correlation.csv", category="Tables", caption="../report/tables.rst"),
        lr_tex="figures/table_lr_correlation.tex",
        lr_md="figures/table_lr_correlation.md",
        laws_csv=report("figures/table_lr_laws.csv", category="Tables", caption="../report/tables.rst"),
        laws_tex="figures/table_lr_laws.tex",
        laws_md="figures/table_lr_laws.md",
        nb201_csv=report("figures/table_nb201.csv", category="Tables", caption="../report/tables.rst"),
        nb201_tex="figures/table_nb201.tex",
        nb201_md="figures/table_nb201.md",
        top_csv=report("figures/table_nb201_top.csv", category="Tables", caption="../report/tables.rst"),
        top_tex="figures/table_nb201_top.tex",
        top_md="figures/table_nb201_top.md",
    params:
        caption=" ".join(f"``{name}``: {text}" for name, text in TABLES.items()),
        boot=boot_settings(),
        code=CODE["tables"],
    log:
        "logs/tables/tables.log",
    benchmark:
        "benchmarks/tables/tables.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/tables.py"


rule figures_readme:
    input:
        lr=rules.tables.output.lr_csv,
        laws=rules.tables.output.laws_csv,
        nb201=rules.tables.output.nb201_csv,
        top=rules.tables.output.top_csv,
        signal=rules.init_signal.output.table,
        figures=[t for t in all_targets() if t.startswith("figures/fig") and t.endswith(".png")],
    output:
        readme="figures/README.md",
    params:
        code=CODE["figures_readme"],
    log:
        "logs/figures_readme/readme.log",
    benchmark:
        "benchmarks/figures_readme/readme.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow/scripts/figures_readme.py"

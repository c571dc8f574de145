"""A writer to be SIGKILLed mid-write by test_atomic_outputs (run as a subprocess):

    python writer_child.py csv PATH ROWS      a big DataFrame through atomic_write_csv
    python writer_child.py text PATH          atomic_write whose callback writes, then sleeps
    python writer_child.py figure PATH        a heavy figure through atomic_savefig

It prints ``writing`` (flushed) just before the write starts.
"""

from __future__ import annotations

import sys
import time


def main(mode: str, path: str, *rest: str) -> None:
    if mode == "csv":
        import numpy as np
        import pandas as pd

        from archscale.atomic import atomic_write_csv

        n = int(rest[0])
        rng = np.random.default_rng(0)
        df = pd.DataFrame({"arch": "2_02_002", "lr": rng.random(n), "final_loss": rng.random(n)})
        print("writing", flush=True)
        atomic_write_csv(path, df)
    elif mode == "text":
        from archscale.atomic import atomic_write

        def write(fh):
            fh.write("arch,lr,final_loss\n" + "2_02_002,0.5,1.25\n" * 10_000)
            fh.flush()
            print("writing", flush=True)
            time.sleep(600)  # killed here, half-way through its content
            fh.write("2_02_002,1.0,nan\n")

        atomic_write(path, write)
    elif mode == "figure":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        from archscale.atomic import atomic_savefig

        rng = np.random.default_rng(0)
        fig, ax = plt.subplots()
        for _ in range(200):
            ax.plot(rng.random(5000), rng.random(5000), lw=0.2)
        print("writing", flush=True)
        atomic_savefig(fig, path)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Issue 26, memory across studies, on "the same model across the bundled data sets" with the
bundled MLP (``hydratune.training.models.MLPClassifier``) instead of ``studies.transfer``'s
SVC: trials to a target with warm_start's transfer against a cold start and against
unrelated sources, through the same code (``studies.transfer.family_counts``).

Tasks: the bundled data modules (digits, wine, breast_cancer, synthetic classification), their
own 80/20 split; the MLP's width, depth, dropout, Adam's lr and weight decay; error after a
fixed 5 epochs (batch 64, init seed 0), trained by a plain loop over the same model and
tensors: Lightning's Trainer costs more per run than these trainings and is not what is
measured. Unrelated sources: the same tasks scored by their accuracy.

Sized at a 20-trial budget x 3 seeds (1600 trainings, about 4 min on 2 shared cores);
``--quick``: a 6-trial budget, one seed, to check it runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import optuna

from bench.common import md_table, module_main, progress, target
from bench.studies.transfer import METHODS as ALL_METHODS
from bench.studies.transfer import Family, Objective, family_counts, method_rows, verdicts
from hydratune.sweep.transfer import DEFAULT_MODE

TITLE = "Memory across studies: transfer with the bundled MLP across the bundled data sets"
EPOCHS, BATCH = 5, 64
SPACE = {
    "hidden_dim": "choice(16, 32, 64, 128)",
    "n_layers": "range(0, 3)",
    "dropout": "interval(0.0, 0.5)",
    "lr": "tag(log, interval(1e-4, 3e-1))",
    "weight_decay": "tag(log, interval(1e-6, 1e-2))",
}
SETS = ("digits", "wine", "breast_cancer", "synthetic")
METHODS = tuple(m for m in ALL_METHODS if m != "cold: TPE")  # the default here is TPE


def mlp(name: str, sign: int = 1) -> Objective:
    """Validation error (``sign`` -1: accuracy) of the bundled MLP on a bundled data set."""
    import torch
    from torch.nn import functional

    from hydratune.training import data
    from hydratune.training.models import MLPClassifier

    torch.set_num_threads(1)
    module = {
        "digits": data.DigitsDataModule,
        "wine": data.WineDataModule,
        "breast_cancer": data.BreastCancerDataModule,
        "synthetic": data.SyntheticDataModule,
    }[name]()
    (x, y), (xv, yv) = module.train_set.tensors, module.val_set.tensors

    def error(p: dict[str, Any]) -> float:
        torch.manual_seed(0)
        model = MLPClassifier(
            module.input_shape, module.num_classes, p["hidden_dim"], p["n_layers"], p["dropout"]
        )
        adam = torch.optim.Adam(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        for _ in range(EPOCHS):
            order = torch.randperm(len(x))
            for i in range(0, len(x), BATCH):
                batch = order[i : i + BATCH]
                loss = functional.cross_entropy(model(x[batch]), y[batch])
                adam.zero_grad()
                loss.backward()
                adam.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(xv).argmax(1) == yv).float().mean())
        return 1 - accuracy if sign > 0 else accuracy

    return error


def family() -> Family:
    return (
        SPACE,
        {n: mlp(n) for n in SETS},
        {f"{n}_accuracy": mlp(n, -1) for n in SETS},
        "scored by accuracy: their best is worst here",
        "width, depth, dropout, lr, weight decay; " + ", ".join(SETS),
    )


def run(quick: bool) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    budget, seeds = (6, 1) if quick else (20, 3)
    progress("transfer: MLP")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "mlp.journal")
        found = family_counts(family(), budget, seeds, path, METHODS)
    cold = found["medians"]["cold"]
    related, unrelated = verdicts(found)
    allowance = 0.1 * budget
    md = [
        f"4 tasks ({', '.join(SETS)}), each a {budget}-trial source study (TPE, the default"
        f" sampler here, seed 100) for the others and the target of {seeds} seed(s) x"
        f" {len(METHODS)} methods, run through `hydratune.sweep.transfer`; unrelated sources:"
        " the same tasks scored by accuracy. Target: what the cold start's median seed reaches"
        f' in the whole budget; ">{budget}" never.',
        "",
        md_table(
            ["method", "median trials to target", "vs cold", "guard fell back", "per run"],
            method_rows(found, budget, "the same tasks scored by accuracy"),
        ),
    ]
    targets = [
        target(
            "transfer on related tasks, bundled MLP (issue 26)",
            "<= 0.5x the trials to target of a cold start",
            f"{related:.2f}x",
            related <= 0.5,
            f"transfer: {DEFAULT_MODE} {related * cold:g} median trials against cold {cold:g}",
        ),
        target(
            "transfer from unrelated studies, bundled MLP (issue 26)",
            f"no worse than cold + 10% of the budget ({allowance:g} trials)",
            f"{unrelated:+g} trials",
            unrelated <= allowance,
            f"unrelated {cold + unrelated:g} median trials against cold {cold:g}",
        ),
    ]
    return {"markdown": "\n".join(md), "targets": targets, "raw": {"budget": budget, **found}}


if __name__ == "__main__":
    module_main(TITLE, run)

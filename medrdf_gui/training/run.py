"""``medrdf train``: train (or resume) a recipe, then export the best epoch into ``models/``."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from .. import paths
from .recipes import RECIPES


def train(name: str, out_dir: Path | None = None, data_dir: Path | None = None, run_dir: Path | None = None,
          limit_per_class: int | None = None, threads: int | None = None, export: bool = True, export_as: str | None = None) -> int:
    from .trainer import Trainer

    recipe = RECIPES[name]
    trainer = Trainer(recipe, data_dir=data_dir, run_dir=run_dir, limit_per_class=limit_per_class, threads=threads)
    logging.getLogger(__name__).info("training %s: %d epochs, checkpoints in %s", name, recipe.epochs, trainer.run_dir)
    trainer.run()
    if export:
        command = "medrdf train " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 1 else f"medrdf train {name}"
        card = trainer.export(out_dir or paths.models_dir(), command=command, name=export_as)
        test = card.metrics["test"]
        print(f"{card.name}: test accuracy {test['accuracy']:.4f}, balanced {test['balanced_accuracy']:.4f}, "
              f"sha256 {card.sha256[:12]}…, written to {card.path}")
    return 0

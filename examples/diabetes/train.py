"""Train the example models: regressions on scikit-learn's bundled diabetes data set.

Writes model/ridge.joblib (served by the `diabetes` service) and model/lasso.joblib (served
next to it by `diabetes-multi`). The data ships inside scikit-learn, so training needs no
network; it takes well under a second. `--alpha` changes the Ridge model, which is how the
tests and the tutorial produce "a new model version".

    python examples/diabetes/train.py [--alpha 0.5] [--out examples/diabetes/model]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, Ridge

HERE = Path(__file__).resolve().parent


def train(out: Path, alpha: float = 0.5) -> dict[str, Path]:
    features, target = load_diabetes(return_X_y=True)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, model in (("ridge", Ridge(alpha=alpha)), ("lasso", Lasso(alpha=0.1))):
        model.fit(features, target)
        path = out / f"{name}.joblib"
        joblib.dump(model, path)
        written[name] = path
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.5, help="Ridge regularisation strength (default 0.5)")
    parser.add_argument("--out", type=Path, default=HERE / "model", help="folder for the .joblib files")
    args = parser.parse_args()
    for name, path in train(args.out, args.alpha).items():
        print(f"trained {name}: {path}")


if __name__ == "__main__":
    main()

"""Write docs/sklearn-objects.inv: scikit-learn's names these docs link to.

Sphinx's intersphinx reads an inventory to turn ``:class:`sklearn....``` into
links; fetching scikit-learn's own needs the network, so the names used here
are listed in a small local inventory (Sphinx's version 2 format) pointing at
scikit-learn's stable documentation. Run after adding a name::

    python docs/make_sklearn_inventory.py
"""

import zlib
from pathlib import Path

NAMES = {
    "py:class": [
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.SGDClassifier",
        "sklearn.neural_network.MLPClassifier",
        "sklearn.pipeline.Pipeline",
        "sklearn.model_selection.GridSearchCV",
        "sklearn.preprocessing.StandardScaler",
        "sklearn.feature_extraction.text.HashingVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
    ],
    "py:function": [
        "sklearn.utils.estimator_checks.parametrize_with_checks",
        "sklearn.set_config",
    ],
    "py:module": ["sklearn.callback"],
}


def main():
    lines = []
    for role, names in NAMES.items():
        for name in names:
            page = (
                f"api/{name}.html"
                if role == "py:module"
                else (f"modules/generated/{name}.html")
            )
            lines.append(f"{name} {role} 1 {page}#$ -")
    header = (
        "# Sphinx inventory version 2\n# Project: scikit-learn\n# Version: stable\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress(("\n".join(lines) + "\n").encode())
    Path(__file__).with_name("sklearn-objects.inv").write_bytes(header.encode() + body)


if __name__ == "__main__":
    main()

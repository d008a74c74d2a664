"""Demographics as model inputs: typed from a table, encoded, checked, sampled.

DemoVAE conditions its decoder on demographics. This module turns the
columns of a ``participants.tsv``-like table into the numeric block the
decoder reads, the way the reference ``demovae`` package does (continuous
columns as numbers, categorical columns one-hot), and checks the table first
so that a missing column, a NaN age or an unseen category is one clear error
naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DemographicCoder"]


@dataclass
class _Column:
    name: str
    kind: str  # "continuous" | "categorical"
    mean: float = 0.0
    std: float = 1.0
    levels: list = field(default_factory=list)
    freqs: list = field(default_factory=list)

    @property
    def width(self):
        return 1 if self.kind == "continuous" else len(self.levels)


class DemographicCoder:
    """Encode demographic columns for a conditional model.

    Parameters
    ----------
    columns : sequence of str
        Columns to use, in order.
    categorical : sequence of str or None
        Columns to treat as categorical whatever their dtype (e.g. a site
        coded 1, 2, 3). Others are typed from the table: numeric ->
        continuous, anything else -> categorical.
    source : str
        Name of the table (a file path) used in error messages.

    Attributes
    ----------
    columns_ : list of _Column
        Per column: kind, mean/std (continuous) or levels/frequencies.
    width_ : int
        Number of encoded values per row (1 per continuous column, one per
        level of each categorical column).
    """

    def __init__(self, columns, categorical=None, source="demographics"):
        self.columns = list(columns)
        self.categorical = list(categorical or [])
        self.source = source

    # -- checks -------------------------------------------------------------

    def _frame(self, table):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"demographics must be a pandas DataFrame, got {type(table).__name__}.")
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise ValueError(
                f"{self.source}: demographic column(s) {missing} not found; it has {list(table.columns)}."
            )
        for c in self.columns:
            values = table[c]
            bad = values.isna()
            if bad.any():
                rows = list(table.index[bad][:5])
                raise ValueError(f"{self.source}: demographic column {c!r} has missing values (rows {rows}).")
        return table

    def fit(self, table):
        """Type each column and learn its statistics from ``table``."""
        table = self._frame(table)
        self.columns_ = []
        for c in self.columns:
            values = table[c]
            categorical = c in self.categorical or not pd.api.types.is_numeric_dtype(values)
            if pd.api.types.is_bool_dtype(values):
                categorical = True
            if categorical:
                labels = values.astype(str)
                levels = sorted(labels.unique())
                if len(levels) < 2:
                    raise ValueError(
                        f"{self.source}: categorical demographic {c!r} has a single value {levels}; "
                        "a model cannot be conditioned on it (drop the column)."
                    )
                counts = labels.value_counts()
                freqs = [float(counts[lv]) / len(labels) for lv in levels]
                self.columns_.append(_Column(c, "categorical", levels=levels, freqs=freqs))
            else:
                x = values.to_numpy(dtype=float)
                if not np.isfinite(x).all():
                    raise ValueError(f"{self.source}: demographic column {c!r} has non-finite values.")
                std = float(np.std(x))
                if std == 0:
                    raise ValueError(f"{self.source}: demographic column {c!r} is constant ({x[0]}).")
                self.columns_.append(_Column(c, "continuous", mean=float(np.mean(x)), std=std))
        self.width_ = sum(col.width for col in self.columns_)
        return self

    # -- encoding -----------------------------------------------------------

    def transform(self, table):
        """Encoded demographics, shape (n_rows, width_), float32.

        Continuous columns are standardised with the training mean and SD;
        categorical ones are one-hot in sorted level order.
        """
        table = self._frame(table)
        parts = []
        for col in self.columns_:
            values = table[col.name]
            if col.kind == "continuous":
                if not pd.api.types.is_numeric_dtype(values):
                    raise ValueError(
                        f"{self.source}: demographic column {col.name!r} was numeric when the model was "
                        f"fitted but holds {values.dtype} values now."
                    )
                parts.append(((values.to_numpy(dtype=float) - col.mean) / col.std)[:, None])
            else:
                labels = values.astype(str).to_numpy()
                unknown = sorted(set(labels) - set(col.levels))
                if unknown:
                    raise ValueError(
                        f"{self.source}: demographic column {col.name!r} has categories {unknown} the model "
                        f"was not fitted with (known: {col.levels})."
                    )
                parts.append((labels[:, None] == np.asarray(col.levels)[None, :]).astype(float))
        if not parts:  # no demographics: an unconditioned model
            return np.zeros((len(table), 0), dtype=np.float32)
        return np.hstack(parts).astype(np.float32)

    def fit_transform(self, table):
        return self.fit(table).transform(table)

    def slices(self):
        """Per column: (column, slice into the encoded block)."""
        out, start = [], 0
        for col in self.columns_:
            out.append((col, slice(start, start + col.width)))
            start += col.width
        return out

    def sample(self, n, generator=None):
        """Random demographics like the training ones, as a DataFrame of ``n`` rows.

        Continuous: normal with the training mean and SD (as the reference
        package draws them); categorical: levels drawn with their training
        frequencies.
        """
        rng = generator if generator is not None else np.random.default_rng()
        data = {}
        for col in self.columns_:
            if col.kind == "continuous":
                data[col.name] = rng.normal(col.mean, col.std, n)
            else:
                data[col.name] = rng.choice(np.asarray(col.levels, dtype=object), size=n, p=col.freqs)
        return pd.DataFrame(data)

    def to_state(self):
        """A plain dict (JSON- and weights_only-safe) describing the fitted coder."""
        return {
            "columns": list(self.columns),
            "categorical": list(self.categorical),
            "fitted": [
                {"name": c.name, "kind": c.kind, "mean": c.mean, "std": c.std, "levels": list(c.levels),
                 "freqs": list(c.freqs)}
                for c in self.columns_
            ],
        }

    @classmethod
    def from_state(cls, state, source="demographics"):
        coder = cls(state["columns"], state["categorical"], source=source)
        coder.columns_ = [_Column(**c) for c in state["fitted"]]
        coder.width_ = sum(col.width for col in coder.columns_)
        return coder

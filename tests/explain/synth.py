"""Seeded synthetic cases with known root causes, additive or ratio, in the explain input shape."""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd

Element = frozenset[tuple[str, str]]

DIMS = {"province": 6, "channel": 4, "device": 5, "plan": 3}


def leaves(dims: dict[str, int] = DIMS) -> pd.DataFrame:
    names = list(dims)
    values = [[f"{n[:1]}{k}" for k in range(1, dims[n] + 1)] for n in names]
    return pd.DataFrame(list(product(*values)), columns=names)


def element_mask(frame: pd.DataFrame, element: Element) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for dim, value in element:
        mask &= (frame[dim] == value).to_numpy()
    return mask


def random_elements(rng: np.random.Generator, frame: pd.DataFrame, layer: int, count: int) -> list[Element]:
    """``count`` distinct, disjoint elements fixing ``layer`` dimensions each, covering ≤ half the leaves."""
    dims = list(frame.columns)
    for _ in range(1000):  # restart when an early pick leaves no room
        chosen: list[Element] = []
        covered = np.zeros(len(frame), dtype=bool)
        for _ in range(50):
            ds = rng.choice(dims, size=layer, replace=False)
            row = frame.iloc[int(rng.integers(len(frame)))]
            el = frozenset((str(d), str(row[d])) for d in ds)
            m = element_mask(frame, el)
            if el in chosen or (m & covered).any() or (m | covered).mean() > 0.5:
                continue
            chosen.append(el)
            covered |= m
            if len(chosen) == count:
                return chosen
    raise ValueError(f"cannot place {count} disjoint layer-{layer} elements covering at most half the leaves")


def additive_case(
    seed: int, causes: list[Element] | None = None, *, layer: int = 2, count: int = 2, noise: float = 0.02,
    dims: dict[str, int] = DIMS,
) -> tuple[pd.DataFrame, list[Element]]:
    """Leaves with lognormal volumes; the causes' leaves drop by 30-90 %, the rest move within noise."""
    rng = np.random.default_rng(seed)
    frame = leaves(dims)
    causes = causes if causes is not None else random_elements(rng, frame, layer, count)
    expected = np.round(rng.lognormal(4.0, 1.2, len(frame)), 2)
    actual = expected * (1 + rng.normal(0, noise, len(frame)))
    for el in causes:
        m = element_mask(frame, el)
        actual[m] = expected[m] * rng.uniform(0.1, 0.7) * (1 + rng.normal(0, noise, m.sum()))
    return frame.assign(actual=actual, expected=expected), causes


def ratio_case(
    seed: int, causes: list[Element] | None = None, *, layer: int = 2, count: int = 2, noise: float = 0.02,
    dims: dict[str, int] = DIMS,
) -> tuple[pd.DataFrame, list[Element]]:
    """A conversion rate: orders / visits per leaf. The causes' rates fall by 40-80 %; their traffic
    does not change, so the root cause is in the rate, not the mix."""
    rng = np.random.default_rng(seed)
    frame = leaves(dims)
    causes = causes if causes is not None else random_elements(rng, frame, layer, count)
    visits = np.round(rng.lognormal(6.0, 1.0, len(frame)))
    rate = rng.uniform(0.02, 0.2, len(frame))
    visits_actual = np.round(visits * (1 + rng.normal(0, noise, len(frame))))
    rate_actual = rate * (1 + rng.normal(0, noise, len(frame)))
    for el in causes:
        m = element_mask(frame, el)
        rate_actual[m] = rate[m] * rng.uniform(0.2, 0.6)
    return frame.assign(
        actual_num=rate_actual * visits_actual, expected_num=rate * visits,
        actual_den=visits_actual, expected_den=visits,
    ), causes

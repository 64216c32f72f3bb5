"""``explore:`` on a monitor — which combinations of dimensions are watched as their own series.

A monitor over ``by: [city]`` (or the total) that declares ``explore: [city, cuisine]`` also
judges the largest city × cuisine combinations, so a drop confined to one of them is seen
without a hand-written monitor per combination. Which ones, decided at every run from the
history the run loads anyway (pure: arrays in, row indices out):

* volume-aware: a combination must carry at least ``explore_min_share`` of the metric's volume
  (a rate's denominator, else |value|) over the history — a band learned on a sliver of the
  business is mostly noise, and an alert on it rarely matters;
* bounded: at most ``explore_top`` combinations, the largest first;
* stable between passes: ranked by the volume of the whole history (weeks of periods), so the
  few periods a pass adds or an incident removes do not reshuffle the set; ties go by the
  combination's text, never by the order rows came back in; and a combination with an open
  anomaly in the periods a live run re-judges stays in (``keep``), so an incident is never
  retracted because its combination slipped below the cut.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from metricloop.detect.series import slice_label


def select_combinations(
    volume: NDArray[np.float64], keys: Sequence[Mapping[str, str]], *, top: int, min_share: float,
    keep: Collection[str] = (),
) -> NDArray[np.intp]:
    """Rows of the combinations to explore, largest first.

    ``volume[i]`` is combination ``i``'s volume over the history (``keys[i]`` its slice). The
    share is taken of every combination's volume together (the metric's whole volume, also what
    ``explore_top`` cuts away), so a minimum of 0.01 means "at least 1 % of the business".
    Combinations whose ``slice_label`` is in ``keep`` are added after the cut when it left them out.
    """
    vol = np.nan_to_num(np.abs(np.asarray(volume, dtype=np.float64)), nan=0.0)
    whole = float(vol.sum())
    if not len(vol) or whole <= 0:
        return np.zeros(0, dtype=np.intp)
    labels = [slice_label(k) for k in keys]
    order = sorted(range(len(vol)), key=lambda i: (-vol[i], labels[i]))
    kept = [i for i in order if vol[i] > 0 and vol[i] >= min_share * whole][:top]
    chosen = set(kept)
    kept += [i for i in order if labels[i] in keep and i not in chosen]
    return np.asarray(kept, dtype=np.intp)

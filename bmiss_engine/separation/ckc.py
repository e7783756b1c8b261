"""Separation filters of units whose discharges are known (CKC: convolution kernel compensation).

A unit found by the inversion has discharges and a MUAP, but no separation vector. The filter
that estimates its spike train from the whitened extended signal z is the cross-correlation
of z with the train (Holobar & Zazula 2007): ``w ∝ mean_d z[d + L]``, i.e. ``C⁻¹·c`` in the
extended domain. The lag L places the R-sample extension window on the MUAP: at the discharge
instant itself the window would hold only the samples before the MUAP starts. L is the lag
whose cross-correlation carries the most energy.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray


def spike_train_filters(
    z: torch.Tensor, trains: list[NDArray[np.int64]], max_lag: int
) -> tuple[torch.Tensor, NDArray[np.int64]]:
    """Whitened-domain filters (n_whitened, n_units), unit norm, and lags (n_units,): the
    filter of unit k peaks ``lags[k]`` samples after its discharges.

    z: whitened extended signal (n_samples, n_whitened); trains: discharge samples per unit;
    max_lag: largest lag tried (samples). A unit with no discharge inside the signal gets a
    zero filter and lag 0.
    """
    n_samples, n_dims = z.shape
    filters = torch.zeros(n_dims, len(trains), dtype=z.dtype, device=z.device)
    lags = np.zeros(len(trains), dtype=np.int64)
    offsets = torch.arange(max_lag + 1, device=z.device)
    for k, train in enumerate(trains):
        d = np.asarray(train, dtype=np.int64)
        d = d[(d >= 0) & (d + max_lag < n_samples)]
        if d.size == 0:
            continue
        index = torch.as_tensor(d, device=z.device)[:, None] + offsets[None, :]  # (n_d, max_lag + 1)
        cross = z[index].mean(dim=0)  # (max_lag + 1, n_whitened)
        best = int(torch.argmax((cross * cross).sum(dim=1)))
        filters[:, k] = cross[best] / cross[best].norm().clamp_min(1e-30)
        lags[k] = best
    return filters, lags

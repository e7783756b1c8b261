"""The forward model's parameter space: bounds, the map to [0, 1] and back, batching, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from bmiss_engine.forward import AnatomyParameters, Bound, MotorUnitParameters, to_unit_interval
from tests.engine._single_thread import single_torch_thread  # noqa: F401  (autouse: one torch thread)


def test_round_trip_through_the_unit_interval_is_exact() -> None:
    unit = torch.rand(50, len(MotorUnitParameters.field_names()), generator=torch.Generator().manual_seed(1),
                      dtype=torch.float64)
    params = MotorUnitParameters.from_unit_interval(unit)
    assert params.n_units == 50
    torch.testing.assert_close(to_unit_interval(params), unit, rtol=0, atol=1e-12)
    # and in physical units: physical -> unit -> physical
    again = MotorUnitParameters.from_unit_interval(to_unit_interval(params))
    for name, value in params.as_dict().items():
        torch.testing.assert_close(getattr(again, name), value, rtol=1e-12, atol=1e-12)


def test_bounds_are_the_physical_ranges_and_fibres_use_a_log_scale() -> None:
    ends = MotorUnitParameters.from_unit_interval(torch.tensor([[0.0] * 8, [1.0] * 8], dtype=torch.float64))
    assert ends.cv_m_s.tolist() == pytest.approx([2.5, 6.0])
    assert ends.depth_mm.tolist() == pytest.approx([0.0, 30.0])
    assert ends.n_fibres.tolist() == pytest.approx([10.0, 2000.0])
    middle = MotorUnitParameters.from_unit_interval(torch.full((1, 8), 0.5, dtype=torch.float64))
    assert float(middle.n_fibres) == pytest.approx(math.sqrt(10.0 * 2000.0))  # geometric mean
    assert float(middle.cv_m_s) == pytest.approx(4.25)  # arithmetic mean


def test_anatomy_defaults_and_its_map() -> None:
    anatomy = AnatomyParameters.default()
    assert float(anatomy.sigma_muscle_along_s_m) == 0.5
    assert float(anatomy.sigma_muscle_across_s_m) == 0.1
    assert float(anatomy.sigma_fat_s_m) == 0.05
    assert float(anatomy.sigma_skin_s_m) == 1.0
    unit = to_unit_interval(anatomy)
    assert unit.shape == (len(AnatomyParameters.field_names()),)
    assert bool(((unit >= 0) & (unit <= 1)).all())
    back = AnatomyParameters.from_unit_interval(unit)
    for name, value in anatomy.as_dict().items():
        torch.testing.assert_close(getattr(back, name), value)


def test_the_map_is_differentiable_and_batched() -> None:
    unit = torch.full((3, 8), 0.3, dtype=torch.float64, requires_grad=True)
    params = MotorUnitParameters.from_unit_interval(unit)
    params.n_fibres.sum().backward()
    assert unit.grad is not None
    # d n/du = n·ln(high/low) on the log scale, zero for the other columns
    expected = params.n_fibres.detach() * math.log(2000.0 / 10.0)
    torch.testing.assert_close(unit.grad[:, 7], expected)
    assert float(unit.grad[:, :7].abs().sum()) == 0.0


def test_invalid_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="high > low"):
        Bound(1.0, 1.0)
    with pytest.raises(ValueError, match="low > 0"):
        Bound(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="columns"):
        MotorUnitParameters.from_unit_interval(torch.zeros(2, 5))
    fields = {name: torch.ones(3) for name in MotorUnitParameters.field_names()}
    fields["cv_m_s"] = torch.ones(4)
    with pytest.raises(ValueError, match="same shape"):
        MotorUnitParameters(**fields)

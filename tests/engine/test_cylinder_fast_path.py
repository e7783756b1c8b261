"""The cylinder's fast path: the radial table of the per-unit Bessel ratios agrees with their
recurrences, in value and gradient, and the inversion's truncated path agrees with a dense
reference on held-out θ (bench/cylinder_fast_path.py measures both on 200 θ per limb)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bmiss_engine.forward import AnatomyParameters, MotorUnitParameters
from bmiss_engine.forward.cylindrical import (
    LIMBS,
    AxialGrid,
    CylindricalForwardModel,
    _radial_table,
    layer_transfer,
    log_bessel_i,
    log_bessel_k,
)
from bmiss_engine.recording import ElectrodeGrid

FS = 2048.0
GRID = ElectrodeGrid.full(13, 5, 8.0)


def _forearm(**changes: object) -> tuple[CylindricalForwardModel, AnatomyParameters]:
    """The default forearm as the inversion builds it (cut 1e-3), in float64."""
    preset = LIMBS["forearm"]
    model = CylindricalForwardModel(muscle_radius_mm=preset.muscle_radius_mm, bone_radius_mm=preset.bone_radius_mm,
                                    axial=AxialGrid(tolerance=1e-3), dtype=torch.float64)
    anatomy = AnatomyParameters.default(skin_mm=preset.skin_mm, fat_mm=preset.fat_mm)
    return dataclasses.replace(model, **changes), anatomy  # type: ignore[arg-type]


def _held_out(model: CylindricalForwardModel, anatomy: AnatomyParameters, n: int, seed: int) -> MotorUnitParameters:
    bounds = model.unit_bounds(anatomy, GRID)
    unit = torch.rand(n, len(bounds), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return MotorUnitParameters(**{k: bounds[k].from_unit(unit[:, i])
                                  for i, k in enumerate(MotorUnitParameters.field_names())})


def _relative(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    out: np.ndarray = (torch.linalg.vector_norm((a - b).flatten(1), dim=1)
                       / torch.linalg.vector_norm(b.flatten(1), dim=1)).numpy()
    return out


@pytest.mark.parametrize("bone_mm", [9.0, 0.0])
def test_radial_table_matches_the_recurrences_at_random_radii(bone_mm: float) -> None:
    model, anatomy = _forearm(bone_radius_mm=bone_mm)
    geometry = model.geometry(anatomy)
    tables = model.tables(geometry)
    n_max = tables.alpha.shape[1] - 1
    table = _radial_table(geometry, model.axial, n_max, geometry.fat_mm + geometry.skin_mm, 0.5, torch.float64,
                          torch.device("cpu"))
    b, a = geometry.muscle_radius_mm, geometry.bone_radius_mm
    rho = torch.as_tensor(np.random.default_rng(3).uniform(a + 0.25, b, 200))
    # the point-source transfer H(kz, n; ρ) of the module docstring, by the recurrences
    transfer = layer_transfer(geometry, tables.kz_rad_mm, n_max)
    x = rho[:, None] * torch.as_tensor(tables.kz_rad_mm * geometry.anisotropy)
    exact = transfer.alpha * np.exp(log_bessel_i(x, n_max)[0].numpy() - transfer.log_i_muscle_surface)
    if transfer.beta is not None and transfer.log_k_bone_surface is not None:
        exact += transfer.beta * np.exp(log_bessel_k(x, n_max)[0].numpy() - transfer.log_k_bone_surface)
    assert (exact > 0).all()  # a positive Green's function: its log is what the table holds
    fast = np.exp(table.at(rho).numpy())
    strongest = exact.max(axis=(1, 2), keepdims=True)
    # each (kz, n) term within 1e-8 of the unit's strongest (measured 7e-10), and within 1e-5
    # relative where it is at least 1e-6 of it (measured 6e-6: near the bone, where I_n and
    # K_n both weigh, the log of their sum bends most)
    assert float((np.abs(fast - exact) / strongest).max()) < 1e-8
    live = exact > 1e-6 * strongest
    assert float(np.abs(fast / exact - 1.0)[live].max()) < 1e-5


def test_radial_table_gives_the_same_muaps_and_gradients() -> None:
    exact, anatomy = _forearm()
    fast = dataclasses.replace(exact, radial_step_mm=0.5)
    units = _held_out(exact, anatomy, 6, seed=11)

    def run(model: CylindricalForwardModel) -> tuple[torch.Tensor, torch.Tensor]:
        depth = units.depth_mm.clone().requires_grad_(True)
        muaps = model.potentials(dataclasses.replace(units, depth_mm=depth), anatomy, GRID, FS)
        (grad,) = torch.autograd.grad(muaps.square().sum(), depth)
        return muaps.detach(), grad

    m_exact, g_exact = run(exact)
    m_fast, g_fast = run(fast)
    assert _relative(m_fast, m_exact).max() < 1e-6  # measured 2e-8 (bench: 200 θ, three limbs)
    assert float((g_fast - g_exact).abs().max() / g_exact.abs().max()) < 1e-5


def test_inversion_path_agrees_with_a_dense_reference_on_held_out_theta() -> None:
    model, anatomy = _forearm()
    units = _held_out(model, anatomy, 4, seed=99)
    reference = dataclasses.replace(model, axial=AxialGrid(step_mm=0.25, period_mm=2048.0, radii_per_period=96.0,
                                                           tolerance=1e-9))
    with torch.no_grad():
        truth = reference.potentials(units, anatomy, GRID, FS)
        for path in (model, dataclasses.replace(model, radial_step_mm=0.5)):
            # the bench measures at most 5e-6 on this limb and grid (200 θ)
            assert _relative(path.potentials(units, anatomy, GRID, FS), truth).max() < 1e-4
        float32 = dataclasses.replace(model, dtype=torch.float32, radial_step_mm=0.5)
        muaps = float32.muaps(MotorUnitParameters(**{k: v.float() for k, v in units.as_dict().items()}),
                              AnatomyParameters(**{k: v.float() for k, v in anatomy.as_dict().items()}), GRID, FS)
    assert muaps.dtype == torch.float32
    assert _relative(muaps.double(), truth).max() < 1e-4


def test_radial_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="radial_step_mm"):
        CylindricalForwardModel(radial_step_mm=0.0)

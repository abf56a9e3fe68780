"""Calibrate a round: search, uncertainty, checks on held-out figures, files.

:func:`calibrate` is the programmatic entry point behind ``lis1abm calibrate``:

1. read the round and the calibration config (:mod:`lis1abm.calibration.config`), check every
   option before any work;
2. open (or resume) the study and run the CMA-ES search to the budget
   (:mod:`lis1abm.calibration.search`) on the objective (:mod:`lis1abm.calibration.objective`);
3. replay the best point on the fixed block (keeping every replication's values, for the
   figure 4.3 statements) and on a fresh block of replication indices, so that the fit is
   judged on random numbers it was not chosen on;
4. the parameters' uncertainty: the composite-likelihood sandwich covariance at the best
   point (:mod:`lis1abm.calibration.sandwich`): the intervals, and
   ``<params>.covariance.csv`` beside the parameter file, which ``--parameter-uncertainty``
   draws from; beside it, a quadratic response surface fitted to the trials near the best
   point (:mod:`lis1abm.calibration.laplace`) and each parameter scanned alone for its
   conditional 95 % likelihood interval (:mod:`lis1abm.calibration.scan`);
5. judge the acceptance on the root seeds of ``[checks]``, never the fitting seed
   (:mod:`lis1abm.calibration.acceptance`): each run as ``lis1abm simulate`` runs it, on
   population draws the fit never saw;
6. write the tables, the summary, the figure and the calibrated parameter file
   (:mod:`lis1abm.calibration.outputs`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lis1abm.calibration.acceptance import judge_seeds, seed_spread, verdict
from lis1abm.calibration.config import default_config, load_config
from lis1abm.calibration.laplace import fit_quadratic, laplace_intervals
from lis1abm.calibration.objective import Objective
from lis1abm.calibration.outputs import (
    check_writable,
    estimates_table,
    fit_table,
    write_outputs,
    write_params_file,
    write_table,
)
from lis1abm.calibration.sandwich import jacobian, sandwich, target_cells
from lis1abm.calibration.scan import THRESHOLD, conditional_intervals
from lis1abm.calibration.search import (
    completed,
    on_cluster,
    open_study,
    run_search,
    study_name,
    trial_points,
)
from lis1abm.data.round import load_round
from lis1abm.distributed import Executor
from lis1abm.engine.backends import resolve_backend
from lis1abm.errors import UserError
from lis1abm.plots.fit import fit_figure
from lis1abm.plots.theme import save
from lis1abm.report.compare import compare
from lis1abm.report.provenance import describe, file_digest, git_commit
from lis1abm.report.statements import figure_4_3
from lis1abm.simulation.ensemble import POPULATION_RULE, check_populations
from lis1abm.simulation.uncertainty import covariance_path, covariance_table

DEFAULT_OUT = Path("results/calibration")
"""The output folder, relative to the current directory."""


class Progress:
    """Where :func:`calibrate` reports its phases; does nothing (the command line shows bars)."""

    def start(self, phase: str, total: int) -> None:
        """A phase begins: ``search`` (trials), ``scan`` (parameters), ``checks`` (root
        seeds judged)."""

    def advance(self, k: int = 1) -> None:
        """``k`` more units of the current phase are done."""


@dataclass
class CalibrationResult:
    """What a calibration produced (the files hold the same)."""

    fit: object
    estimates: object
    statements: list[dict]
    summary: dict
    params_file: Path
    written: list[Path] = field(default_factory=list)


def default_params_out(out: Path, round_name: str) -> Path:
    """``<round>_calibrated.toml`` in the output folder ``out``: a calibration never writes
    over the parameter files that ship with the package unless asked to by name
    (``params_out``); to use its file, give it to ``simulate --params``, or name it in a round
    file (``[round] params``)."""
    return out / f"{round_name}_calibrated.toml"


def calibrate(
    round_name: str = "autumn2024",
    config_path: str | Path | None = None,
    *,
    budget: int | None = None,
    reps: int | None = None,
    seed: int | None = None,
    populations: int | None = None,
    backend: str = "cpu",
    resume: bool = False,
    out: str | Path = DEFAULT_OUT,
    params_out: str | Path | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> CalibrationResult:
    """Calibrate the model to a round's report (see the module docstring).

    ``budget``, ``reps``, ``seed`` and ``populations`` default to the config's
    ``[calibration]`` values (``populations``: else the default of
    :func:`~lis1abm.simulation.ensemble.check_populations`); every candidate is evaluated on
    the same population draws. With a cluster's ``executor``
    (:func:`lis1abm.distributed.open_cluster`) each generation's candidates are evaluated in
    parallel by the workers, with the same trials as in this process; the replays and scans
    after the search run here.

    Raises
    ------
    UserError : a bad option or config, an output that cannot be written, a study in ``out``
        without ``resume`` or of another setup, a backend that cannot run here.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    # The code that runs is the code at the start: a commit made during a long run must not
    # be recorded as the one that produced it.
    commit = git_commit()
    data = load_round(round_name)
    data.require_market()
    if config_path is None:
        config_path = default_config(data.name)
        if not config_path.exists():
            raise UserError(f"--config: no built-in calibration config for round {data.name!r}")
    config = load_config(config_path)
    s = config.settings
    budget = s.budget if budget is None else budget
    reps = s.replications if reps is None else reps
    seed = s.seed if seed is None else seed
    if seed in config.spec.checks.seeds:
        raise UserError(
            f"--seed {seed}: {config.file} judges the acceptance on it ([checks] seeds); fit on "
            "another root seed"
        )
    if budget < 1:
        raise UserError(f"--budget must be at least 1, got {budget}")
    if not 1 <= reps <= 1_000_000:
        raise UserError(f"--reps must be in [1, 1000000], got {reps}")
    if not 0 <= seed < 2**63:
        raise UserError(f"--seed must be an integer in [0, 2**63), got {seed}")
    flag = "--populations" if populations is not None else f"{config.file}: calibration.populations"
    populations = check_populations(
        s.populations if populations is None else populations, reps, flag
    )
    if s.crn_first < s.fresh_first + reps and s.fresh_first < s.crn_first + reps:
        raise UserError(
            f"{config.file}: calibration.fresh_first: the fresh block {s.fresh_first}.."
            f"{s.fresh_first + reps - 1} overlaps the fixed block {s.crn_first}.."
            f"{s.crn_first + reps - 1}"
        )
    engine_name, device = resolve_backend(backend, reps)
    out = check_writable(Path(out), "--out")
    params_out = check_writable(
        Path(params_out) if params_out is not None else default_params_out(out, data.name),
        "--params-out",
    )
    out.mkdir(parents=True, exist_ok=True)
    name = study_name(config, data.file, seed, reps, populations)
    study = open_study(out, name, resume)

    objective = Objective(
        config, data, seed, reps, engine_name, first=s.crn_first, populations=populations
    )
    progress.start("search", budget)
    parallel = executor is not None and type(executor) is not Executor
    evaluate = on_cluster(executor, objective, name) if parallel else None
    run_search(study, objective, budget, seed, progress.advance, evaluate)
    searched = time.perf_counter()

    best_trial = min(completed(study), key=lambda t: (t.value, t.number))
    best = np.array([best_trial.params[n] for n in config.names])
    best_run = objective.run(best, keep_values=True)
    best_fit = objective.fit(best, best_run)
    fresh_fit = objective.fit(best, objective.run(best, first=s.fresh_first))

    lower, upper = np.array(config.lower), np.array(config.upper)
    cells = target_cells(objective, best_run)
    progress.start("uncertainty", len(config.names))
    grad = jacobian(objective, cells, best, progress.advance)
    sandwiched = sandwich(objective, cells, best_run, grad)
    x, y = trial_points(study, config.names)
    quadratic = fit_quadratic(x, y, lower, upper)
    laplace = laplace_intervals(quadratic.centre, quadratic.cov, lower, upper)
    progress.start("scan", len(config.names))
    scan = conditional_intervals(
        objective, best, best_fit.value, lower, upper, progress=progress.advance
    )

    roles = {b: "fitted" for b in config.spec.targets}
    roles |= {b: "held-out" for b in config.spec.held_out.breakdowns}
    statements = (
        figure_4_3(best_run.tally, best_run.values) if config.spec.held_out.statements else []
    )
    fit = fit_table(compare(best_run.tally, best_run.summary), roles, statements)
    tables, checks_summary = _judge_checks(config, data, best_run.params, progress)
    estimates = estimates_table(
        config.names, best, scan, laplace, config.lower, config.upper, sandwiched
    )
    covariance = covariance_table(config.names, best, lower, upper, sandwiched.cov)
    trials = study.trials_dataframe()
    elapsed = time.perf_counter() - started
    summary = describe(
        git_commit=commit,
        round=data.name,
        round_file=data.file,
        round_sha256=file_digest(data.file),
        config_file=str(config.file),
        config_sha256=file_digest(config.file),
        params_file=str(config.base_file),
        params_sha256=file_digest(config.base_file),
        seed=seed,
        replications=reps,
        populations=populations,
        population_of_replication=POPULATION_RULE,
        backend=engine_name,
        device=device,
        study=name,
        search_cluster=(executor or Executor()).description,
        budget=budget,
        trials_completed=len(completed(study)),
        best_trial=best_trial.number,
        best={n: float(v) for n, v in zip(config.names, best, strict=True)},
        objective={
            "crn_block": {"first": s.crn_first, **_parts(best_fit)},
            "fresh_block": {"first": s.fresh_first, **_parts(fresh_fit)},
        },
        conditional_intervals={
            "method": "each parameter scanned alone, the others at the best point; the "
            f"values within {THRESHOLD:.2f} of the best objective (95 % likelihood ratio); "
            "narrower than profile intervals (lis1abm/calibration/scan.py)",
            "evaluations": scan.evaluations,
        },
        sandwich={
            "method": "composite-likelihood (Godambe) sandwich H^-1 J H^-1 at the best point: "
            "H from central differences of the model's means, J the covariance of the score "
            "over the best point's replications (lis1abm/calibration/sandwich.py)",
            "replications": sandwiched.replications,
            "jacobian_runs": 2 * len(config.names),
            "design_effect": sandwiched.design_effect,
            "condition_number": sandwiched.condition,
            "eigenvalues_floored": sandwiched.floored,
        },
        laplace={
            "quadratic": quadratic.method,
            "note": {
                "full": "full quadratic response surface",
                "diagonal": "too few trials for a full quadratic "
                f"({(len(config.names) + 1) * (len(config.names) + 2) // 2} coefficients): "
                "a diagonal quadratic (no cross terms)",
                "none": "too few trials for a quadratic: a tenth of each range either side",
            }[quadratic.method],
            "trials_fitted": quadratic.trials,
            "r2": quadratic.r2,
            "eigenvalues_floored": quadratic.floored,
        },
        inside_band={
            role: f"{(part['inside_band'] == 'yes').sum()} of {(part['inside_band'] != '').sum()}"
            for role, part in fit[fit["breakdown"] != "figure_4_3"].groupby("role")
        },
        statements_hit=f"{sum(st['hit'] for st in statements)} of {len(statements)}",
        checks=checks_summary,
        elapsed_seconds={"search": searched - started, "total": elapsed},
    )
    written = write_outputs(
        out,
        {"fit": fit, "estimates": estimates, "trials": trials, **tables},
        summary,
        {"fit": lambda stem: save(fit_figure(fit), stem)},
    )
    header = [
        f"Calibrated parameters for round {data.name} (lis1abm calibrate), "
        f"{dt.datetime.now(dt.UTC).date().isoformat()}.",
        # File names only: the full paths are in summary.json, and a shipped file should not
        # carry the path of the machine it was made on.
        f"Base: {Path(config.base_file).name} (sha256 {summary['params_sha256'][:16]}); "
        f"config: {Path(config.file).name} (sha256 {summary['config_sha256'][:16]}).",
        f"Round file sha256 {summary['round_sha256'][:16]}; seed {seed}; {reps} replications per "
        f"candidate; {summary['trials_completed']} trials (budget {budget}).",
        f"Code: lis1abm {summary['version']}, git commit {summary['git_commit']}.",
        f"Objective (minus penalised log-likelihood): {best_fit.value:.3f} on the fixed block, "
        f"{fresh_fit.value:.3f} on a fresh block; the sandwich, conditional 95 % and Laplace "
        "intervals in the calibration's estimates.csv and summary.json.",
        "Free parameters: " + ", ".join(config.names) + ".",
    ]
    params_file = write_params_file(params_out, best_run.params, header)
    # Beside it, what --parameter-uncertainty draws from.
    written.append(write_table(covariance_path(params_file), covariance))
    return CalibrationResult(fit, estimates, statements, summary, params_file, written)


def _judge_checks(config, data, params, progress: Progress) -> tuple[dict, dict | None]:
    """The acceptance on the ``[checks]`` root seeds (none: nothing): the tables
    ``checks`` and ``checks_spread``, and the ``checks`` block of ``summary.json``."""
    spec = config.spec.checks
    if not spec.seeds:
        return {}, None
    progress.start("checks", len(spec.seeds))
    checks, statements = judge_seeds(
        data, params, spec.seeds, spec.replications, spec.populations, progress.advance
    )
    spread = seed_spread(checks)
    hits = {
        str(seed): f"{sum(st['hit'] for st in statements if st['seed'] == seed)} of "
        f"{sum(st['seed'] == seed for st in statements)}"
        for seed in spec.seeds
    }
    summary = {
        "seeds": list(spec.seeds),
        "replications": spec.replications,
        "populations": spec.populations or "simulate's default",
        **verdict(checks, spread),
        "statements_hit": hits,
    }
    return {"checks": checks, "checks_spread": spread}, summary


def _parts(fit) -> dict:
    return {
        "value": fit.value,
        "log_likelihood": fit.log_likelihood,
        "log_prior": fit.log_prior,
        "by_breakdown": fit.by_breakdown,
    }

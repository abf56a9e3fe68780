"""The command line: ``lis1abm simulate``, ``bench``, ``calibrate``, ``experiment``, ``plot``,
``check`` and ``view``.

User errors (bad options, configs, paths) print one line, ``lis1abm: error: ...``, to stderr
and exit with code 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from lis1abm.cli.cluster import (
    PANEL,
    ClusterOption,
    ConnectTimeoutOption,
    GpusOption,
    LifetimeOption,
    WalltimeOption,
    WorkersOption,
)
from lis1abm.cli.tables import print_simulation
from lis1abm.data.round import known_rounds
from lis1abm.distributed.cluster import DEFAULT_CONNECT_TIMEOUT, DEFAULT_WALLTIME
from lis1abm.engine.backends import BACKENDS, CUDA_MIN_REPS
from lis1abm.errors import UserError
from lis1abm.report.simulate import DEFAULT_REPS
from lis1abm.version import __version__

# Typer >= 0.22 vendors click; reach its exception base through a public class so the code works
# with either layout.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate the Norwegian LIS1 hiring market.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lis1abm {__version__}")
        raise typer.Exit()


@app.callback()
def _app(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Simulate the Norwegian LIS1 hiring market."""


RoundOption = Annotated[
    str,
    typer.Option(
        "--round",
        help=f"Round: one of {', '.join(known_rounds())} (configs/rounds/), or the path "
        "of a round file.",
    ),
]
"""The --round option of every command that runs a round."""

PopulationsOption = Annotated[
    int | None,
    typer.Option(
        help="Synthetic populations drawn (at least 1, at most the replications; replication "
        "r plays on population r % K), so that means and bands include the population's "
        "uncertainty; 1: every replication on the population of the seed.  [default: 64, "
        "at most the replications]",
        show_default=False,
    ),
]
"""The --populations option of every command that plays replications."""

ThreadsOption = Annotated[
    int | None,
    typer.Option(
        help="Numba threads of the cpu backend (at least 1; default: all cores).",
        show_default=False,
    ),
]
"""The --threads option of the commands that run the cpu backend."""


@app.command()
def simulate(
    round_name: RoundOption = "autumn2024",
    reps: Annotated[
        int, typer.Option(help="Replications (enough for stable 5-95 % bands).")
    ] = DEFAULT_REPS,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 2024,
    populations: PopulationsOption = None,
    backend: Annotated[
        str,
        typer.Option(
            metavar="[" + "|".join(BACKENDS) + "]",
            help=f"Engine: auto (cuda from {CUDA_MIN_REPS:,} replications when a GPU is "
            "usable, else cpu), mesa, cpu or cuda. All give the same outcome.",
        ),
    ] = "auto",
    threads: ThreadsOption = None,
    params: Annotated[
        Path | None,
        typer.Option(
            help="Parameter file (TOML).  [default: the round's calibrated file, "
            "configs/params/<round>_calibrated.toml, else configs/params/default.toml]",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write comparison.parquet and meta.json here (and the tables below)."),
    ] = None,
    per_replication: Annotated[
        bool,
        typer.Option(
            "--per-replication",
            help="With --out, also write replications.parquet: every value of every "
            "replication (about 600 rows per replication), streamed as replications come.",
        ),
    ] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="With --out, also write events.parquet: every offer of every replication "
            "(about 1,100 rows per replication), streamed as replications come.",
        ),
    ] = False,
    parameter_uncertainty: Annotated[
        bool,
        typer.Option(
            "--parameter-uncertainty",
            help="Each population plays with its own parameter set, drawn from the "
            "covariance the calibration wrote beside the parameter file "
            "(<params>.covariance.csv), so the bands include the calibration's uncertainty.",
        ),
    ] = False,
) -> None:
    """Play an application round and compare the model's hires with the report."""
    from lis1abm.simulation.sink import check_out  # keeps --help fast

    # Every option is checked before anything is built, so a mistake costs no run.
    if backend not in BACKENDS:
        raise UserError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    for flag, asked in (("--events", events), ("--per-replication", per_replication)):
        if asked and out is None:
            raise UserError(f"{flag}: needs --out DIR (the table is written into DIR)")
    if out is not None:
        check_out(out)
    options = {
        "per_replication": per_replication,
        "log_events": events,
        "out": out,
        "populations": populations,
        "parameter_uncertainty": parameter_uncertainty,
    }
    if out is not None:
        _on_interrupt(f"nothing was written to {out} (results are moved there only when complete)")

    def run():
        return _run(round_name, reps, seed, backend, params, options)

    result = run() if threads is None else _with_threads(threads, backend, run)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), default=_plain) + "\n")
        return
    print_simulation(result, _console())
    if result.written:
        names = ", ".join(path.name for path in result.written)
        Console().print(f"Results written to {out}/ ({names})", markup=False, highlight=False)


def _with_threads(threads: int, backend: str, run):
    """``run()`` with ``threads`` numba threads, restoring the count after (the process may
    go on, as in tests)."""
    if backend in ("mesa", "cuda"):
        raise UserError(f"--threads: only the cpu backend uses threads, not {backend}")
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= most:
        raise UserError(f"--threads: must be in [1, {most}] (NUMBA_NUM_THREADS), got {threads}")
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return run()
    finally:
        numba.set_num_threads(before)


def _progress_bar(err: Console) -> Progress:
    """The progress bar of every long command, on standard error; shown only on a terminal
    and removed when done, so that piped output stays clean."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@contextlib.contextmanager
def _status(err: Console, text: str) -> Iterator[Callable[[str], None]]:
    """A spinner with ``text`` on standard error while the block runs, for the steps after a
    progress bar that have no count of their own; shown only on a terminal, as the bar, and
    removed when done. Yields ``say(text)``, which changes the text."""
    if not err.is_terminal:
        yield lambda text: None
        return
    with err.status(text) as status:
        yield lambda text: status.update(text)


def _notice(err: Console):
    """A one-line notice on standard error (a cluster's fallbacks)."""
    return lambda text: err.print(text, markup=False, highlight=False, soft_wrap=True)


def _compile_notice(err: Console, backend: str, reps: int) -> None:
    """Say so before a run that first compiles the engine (a silent pause of 20-40 s would
    look like a hang)."""
    from lis1abm.engine.backends import compile_notice, resolve_backend

    notice = compile_notice(resolve_backend(backend, reps)[0])
    if notice:
        err.print(notice, markup=False, highlight=False, soft_wrap=True)


def _run(round_name, reps, seed, backend, params, options):
    """The simulation, with a progress bar on a terminal, after a notice when the engine
    will first be compiled (so that a silent pause is not taken for a hang)."""
    from lis1abm.report.simulate import simulate as run

    err = Console(stderr=True)
    with _progress_bar(err) as bar:
        task = bar.add_task("replications", total=reps)
        return run(
            round_name,
            reps,
            seed,
            backend,
            params,
            **options,
            progress=lambda k: bar.advance(task, k),
            notice=_notice(bar.console),
        )


@app.command()
def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    mesa_reps: Annotated[int, typer.Option(help="Replications timed for mesa.")] = 20,
    cpu_reps: Annotated[
        int, typer.Option(help="Replications timed for cpu (a quarter for cpu_1thread).")
    ] = 20_000,
    cuda_reps: Annotated[int, typer.Option(help="Replications timed for cuda.")] = 1 << 20,
    repeats: Annotated[int, typer.Option(help="Timings per backend (the median counts).")] = 5,
    save: Annotated[bool, typer.Option(help="Save the figures as a JSON record.")] = True,
    save_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the record.  [default: results/bench/ in the current directory]"
        ),
    ] = None,
) -> None:
    """Measure replications per second of every engine on the autumn 2024 market.

    All engines are timed in one run; the ratios between them are printed."""
    from lis1abm.report.bench import BENCH_DIR, run_bench, save_folder
    from lis1abm.report.bench import save as save_result

    folder = save_folder(save_dir or BENCH_DIR) if save else None  # fails before the timings
    result = run_bench(mesa_reps=mesa_reps, cpu_reps=cpu_reps, cuda_reps=cuda_reps, repeats=repeats)
    path = save_result(result, folder) if folder else None
    if as_json:
        sys.stdout.write(json.dumps(result | {"saved_to": str(path) if path else None}) + "\n")
        return
    console = _console()
    m = result["machine"]
    table = Table(title="Replications per second (autumn 2024 market)", title_justify="left")
    for name in ("backend", "replications/s", "replications timed", "median s"):
        table.add_column(name, justify="left" if name == "backend" else "right")
    for name, r in result["backends"].items():
        if r is None:
            table.add_row(name, "-", "-", "-")
        else:
            table.add_row(
                name,
                f"{r['reps_per_s']:,.0f}",
                f"{r['replications']:,}",
                f"{r['seconds_median']:.3f}",
            )
    console.print(table)
    for name, value in result["ratios"].items():
        console.print(
            f"{name.replace('_over_', ' / ')}: " + ("-" if value is None else f"{value:,.1f}x")
        )
    gpu = m["gpu"] or f"none ({m['gpu_unavailable_because']})"
    console.print(
        f"machine: {m['cpu']}, {m['cpu_count']} cores ({m['numba_threads']} numba threads), "
        f"{m['memory_gib']} GiB; GPU: {gpu}"
    )
    if path:
        console.print(f"saved to {path}")


@app.command()
def calibrate(
    round_name: RoundOption = "autumn2024",
    config: Annotated[
        Path | None,
        typer.Option(
            help="Calibration config (TOML).  [default: the round's built-in "
            "configs/calibration/<round>.toml]",
            show_default=False,
        ),
    ] = None,
    budget: Annotated[
        int | None,
        typer.Option(
            help="Completed trials of the search (default: the config's).", show_default=False
        ),
    ] = None,
    reps: Annotated[
        int | None,
        typer.Option(
            help="Replications per candidate (default: the config's).", show_default=False
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Root seed (default: the config's).", show_default=False)
    ] = None,
    populations: Annotated[
        int | None,
        typer.Option(
            help="Synthetic populations every candidate is evaluated on (the same draws for "
            "every candidate; at least 1, at most the replications).  [default: the config's, "
            "else 64, at most the replications]",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            metavar="[" + "|".join(BACKENDS) + "]",
            help="Engine of every candidate's replications (all give the same outcome).",
        ),
    ] = "cpu",
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the study in --out up to the budget."),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(help="Folder of the study and the results (fit.csv, estimates.csv, ...)."),
    ] = Path("results/calibration"),
    params_out: Annotated[
        Path | None,
        typer.Option(
            help="The calibrated parameter file.  [default: OUT/<round>_calibrated.toml; "
            "the shipped files are replaced only when named here]",
            show_default=False,
        ),
    ] = None,
    threads: ThreadsOption = None,
    cluster: ClusterOption = "none",
    workers: WorkersOption = None,
    gpus_per_worker: GpusOption = None,
    walltime: WalltimeOption = DEFAULT_WALLTIME,
    lifetime: LifetimeOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
) -> None:
    """Fit the model's free parameters to the report (CMA-ES), with uncertainty and
    held-out checks; write the results and a calibrated parameter file.

    With --cluster, each CMA-ES generation's candidates are evaluated in parallel by the
    workers (the same trials as in this process for the same seed); the study is kept in
    OUT/study.journal, so an interrupted run continues with --resume."""
    from lis1abm.calibration.calibrate import calibrate as run_calibration
    from lis1abm.calibration.outputs import check_writable
    from lis1abm.distributed import open_cluster, parse_cluster
    from lis1abm.simulation.ensemble import check_populations

    # Every option is checked before anything is built, so a mistake costs no run.
    if backend not in BACKENDS:
        raise UserError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    for flag, value, least in (("--budget", budget, 1), ("--reps", reps, 1), ("--seed", seed, 0)):
        if value is not None and value < least:
            raise UserError(f"{flag} must be at least {least}, got {value}")
    if populations is not None:
        check_populations(populations, populations if reps is None else reps)
    spec = parse_cluster(
        cluster,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        walltime=walltime,
        lifetime=lifetime,
        connect_timeout=connect_timeout,
    )
    check_writable(out, "--out")
    if params_out is not None:
        check_writable(params_out, "--params-out")
    _on_interrupt(f"the trials so far are kept in {out}/study.journal: add --resume to go on")
    err = Console(stderr=True)

    def run():
        with open_cluster(spec, _notice(err)) as executor, _progress_bar(err) as bar:
            return run_calibration(
                round_name,
                config,
                budget=budget,
                reps=reps,
                seed=seed,
                populations=populations,
                backend=backend,
                resume=resume,
                out=out,
                params_out=params_out,
                progress=_BarProgress(bar),
                executor=executor,
            )

    result = run() if threads is None else _with_threads(threads, backend, run)
    _print_fit(result)


def _print_checks(console: Console, checks: dict | None) -> None:
    """The acceptance judged on root seeds the calibration was not fitted on, a line a seed."""
    if not checks:
        console.print("acceptance: no [checks] seeds in the config, not judged", markup=False)
        return
    console.print(
        f"acceptance on root seeds not fitted on ({checks['replications']} replications, "
        f"populations: {checks['populations']}):",
        markup=False,
    )
    for seed, v in checks["per_seed"].items():
        missed = "met" if not v["missed"] else f"{v['missed']} missed: " + "; ".join(v["rows"])
        console.print(f"  seed {seed}: {missed}", markup=False, highlight=False)
    console.print(
        f"  largest difference of an education or nationality group's hire rate between two "
        f"seeds: {checks['max_spread_pp']:.2f} points"
        + ("" if checks["spread_within"] else " (over the 1-point limit)"),
        markup=False,
        highlight=False,
    )


class _BarProgress:
    """The calibration's phases as rich progress bars (trials, then parameters scanned)."""

    def __init__(self, bar: Progress):
        self.bar = bar
        self.task = None

    def start(self, phase: str, total: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, visible=False)
        label = {
            "search": "trials",
            "scan": "parameters scanned",
            "checks": "root seeds judged",
            "uncertainty": "parameters' sensitivities",
        }.get(phase, phase)
        self.task = self.bar.add_task(label, total=total)

    def advance(self, k: int = 1) -> None:
        self.bar.advance(self.task, k)


def _print_fit(result) -> None:
    console = _console()
    s = result.summary
    crn, fresh = s["objective"]["crn_block"], s["objective"]["fresh_block"]
    console.print(
        f"[bold]lis1abm calibrate[/]: round {s['round']}, {s['trials_completed']} trials, "
        f"{s['replications']} replications per candidate, seed {s['seed']}"
    )
    console.print(
        f"objective (minus penalised log-likelihood): {crn['value']:.2f} on the fixed block, "
        f"{fresh['value']:.2f} on a fresh block"
    )
    fit = result.fit
    table = Table(
        title="Fit at the best point: report inside the model's 5-95 % band",
        title_justify="left",
        show_edge=False,
    )
    for name in ("breakdown", "role", "groups", "inside 5-95 %"):
        table.add_column(name, justify="left" if name in ("breakdown", "role") else "right")
    groups = fit[fit["breakdown"] != "figure_4_3"]
    for (breakdown, role), part in groups.groupby(["breakdown", "role"], sort=False):
        judged = part[part["inside_band"] != ""]
        not_hired = "observed" in part and (part["observed"] == "not_hired").all()
        table.add_row(
            f"{breakdown} (not hired)" if not_hired else breakdown,
            role,
            str(len(part)),
            f"{(judged['inside_band'] == 'yes').sum()}/{len(judged)}",
        )
    console.print(table)
    for st in result.statements:
        mark = "hit " if st["hit"] else "miss"
        ref = "" if st["reference"] is None else f" (reference {st['reference']:.2f})"
        console.print(
            f"figure 4.3 ({st['statement']}) {mark} {st['subject']}: {st['measure']} "
            f"{st['model']:.2f}{ref}",
            markup=False,
            highlight=False,
        )
    _print_checks(console, s.get("checks"))
    lap = s["laplace"]
    console.print(
        f"Laplace intervals: {lap['note']}, fitted to {lap['trials_fitted']} trials"
        if lap["quadratic"] != "none"
        else f"Laplace intervals: {lap['note']}",
        markup=False,
        highlight=False,
    )
    names = ", ".join(p.name for p in result.written)
    console.print(
        f"Results written to {result.written[0].parent}/ ({names})",
        markup=False,
        highlight=False,
    )
    console.print(f"Calibrated parameters: {result.params_file}", markup=False, highlight=False)


@app.command()
def check(
    files: Annotated[
        list[Path],
        typer.Argument(help="Round, parameter, calibration, experiment or history files."),
    ],
) -> None:
    r"""Check config files: a round file (has a \[round] table), a calibration config (has
    \[targets]), an experiment (has scenarios or sweeps), the history of the rounds (has
    \[history]), a queue experiment (has \[queue]) or a parameter file.

    A parameter file's country and trust names are checked against the round files given with
    it that can be simulated, or against the default round (autumn2024) when none is given."""
    from lis1abm.calibration.config import load_config
    from lis1abm.data.config import read_toml
    from lis1abm.data.history import load_history
    from lis1abm.data.round import load_round
    from lis1abm.experiments import load_experiment
    from lis1abm.experiments.queue_config import load_queue_experiment
    from lis1abm.params import load_params

    # Each file is read once; the loaders take the document read.
    docs = {f: read_toml(f) for f in files}
    queues = {f for f, d in docs.items() if "queue" in d.data}
    experiments = {f for f, d in docs.items() if "scenarios" in d.data or "sweeps" in d.data}
    rounds = [load_round(d) for f, d in docs.items() if "round" in d.data and f not in experiments]
    against = [r for r in rounds if r.has_market] or [load_round("autumn2024")]
    for f, d in docs.items():
        if f in queues:
            load_queue_experiment(d)
        elif f in experiments:
            load_experiment(d)
        elif "targets" in d.data:
            load_config(d)
        elif "history" in d.data:
            load_history(d)
        elif "round" not in d.data:
            params = load_params(d)
            for data in against:
                params.check_round(data)
        typer.echo(f"{f}: ok")


@app.command()
def experiment(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A built-in experiment (configs/experiments/<name>.toml) or the path of one.",
            show_default=False,
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the built-in experiments and exit.")
    ] = False,
    reps: Annotated[
        int | None,
        typer.Option(help="Replications per scenario (default: the config's).", show_default=False),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Root seed (default: the config's).", show_default=False)
    ] = None,
    populations: PopulationsOption = None,
    backend: Annotated[
        str | None,
        typer.Option(
            metavar="[" + "|".join(BACKENDS) + "]",
            help="Engine (default: the config's). All give the same outcome.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Results go to OUT/<name>/ (table, summary, meta, figures).")
    ] = Path("results"),
    cluster: ClusterOption = "none",
    workers: WorkersOption = None,
    gpus_per_worker: GpusOption = None,
    walltime: WalltimeOption = DEFAULT_WALLTIME,
    lifetime: LifetimeOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
    task_reps: Annotated[
        int | None,
        typer.Option(
            help="Replications per task (default: 1,000 on cpu, 262,144 on cuda).",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    summaries_only: Annotated[
        bool,
        typer.Option(
            "--summaries-only",
            help="Write the summary alone, no replications.parquet (every replication's "
            "values: about 60 MB a 100,000 replications of 9 scenarios).",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace results of another configuration in OUT/<name>/ (only the "
            "experiment's own files; other files there stay).",
        ),
    ] = False,
    parameter_uncertainty: Annotated[
        bool,
        typer.Option(
            "--parameter-uncertainty",
            help="Each population plays with its own parameter set drawn from the "
            "covariance beside the parameter file, the same in every scenario (a scenario's "
            "params win); the config's parameter_uncertainty otherwise.",
        ),
    ] = False,
) -> None:
    """Run an experiment's scenarios (common random numbers), write the results and draw the
    figures.

    The work is split into tasks (blocks of a scenario's replications), run in this process
    or on a Dask cluster (--cluster); each task's rows are kept in OUT/<name>.parts/ until the
    results are written, so an interrupted run started again with the same command resumes.
    Results of the same configuration already in OUT/<name>/ are kept (figures redrawn);
    results of another are refused unless --overwrite."""
    from lis1abm.data.config import read_toml
    from lis1abm.data.files import known_experiments
    from lis1abm.distributed import open_cluster, parse_cluster
    from lis1abm.experiments import draw_figures, load_experiment, write_results
    from lis1abm.experiments.config import experiment_path
    from lis1abm.experiments.folder import check_folder, read_meta
    from lis1abm.experiments.queue_config import is_queue_config, load_queue_experiment
    from lis1abm.experiments.runner import check_run, with_parameter_uncertainty
    from lis1abm.experiments.tasks import clear_parts, parts_folder, run_experiment_tasks
    from lis1abm.simulation.sink import check_out

    if list_:
        for known in known_experiments():
            doc = read_toml(experiment_path(known))
            loader = load_queue_experiment if is_queue_config(doc) else load_experiment
            typer.echo(f"{known}: {loader(doc).description}")
        return
    if name is None:
        raise UserError("experiment: give a NAME (or --list)")
    doc = read_toml(experiment_path(name))
    if is_queue_config(doc):
        # A queue experiment plays chains of rounds: the one-round options have no meaning.
        for flag, given in (
            ("--populations", populations is not None),
            ("--task-reps", task_reps is not None),
            ("--summaries-only", summaries_only),
            ("--parameter-uncertainty", parameter_uncertainty),
        ):
            if given:
                raise UserError(f"{flag}: not an option of a queue experiment ({name})")
        _run_queue(
            load_queue_experiment(doc), reps, seed, backend, out, overwrite,
            parse_cluster(cluster, workers=workers, gpus_per_worker=gpus_per_worker,
                          walltime=walltime, lifetime=lifetime, connect_timeout=connect_timeout),
        )  # fmt: skip
        return
    if backend is not None and backend not in BACKENDS:
        raise UserError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    for flag, value, least in (("--reps", reps, 1), ("--seed", seed, 0)):
        if value is not None and value < least:
            raise UserError(f"{flag} must be at least {least}, got {value}")
    if task_reps is not None and task_reps < 1:
        raise UserError(f"--task-reps must be at least 1, got {task_reps}")
    spec = parse_cluster(
        cluster,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        walltime=walltime,
        lifetime=lifetime,
        connect_timeout=connect_timeout,
    )
    check_out(out)
    config = load_experiment(doc)
    if parameter_uncertainty and not config.parameter_uncertainty:
        config = with_parameter_uncertainty(config)
    _on_interrupt(
        f"the tasks that finished are kept in {parts_folder(out, config.name)}: "
        "the same command resumes them"
    )
    total_reps, run_seed, _, run_populations = check_run(config, reps, seed, backend, populations)
    target = out / config.name
    wanted = {
        "experiment": config.name,
        "config_sha256": config.sha256,
        "seed": run_seed,
        "replications": total_reps,
        "populations": run_populations,
        "parameter_uncertainty": config.parameter_uncertainty,
        "replications_table": not summaries_only,
    }
    if check_folder(target, wanted, overwrite) == "same" and not overwrite:
        # The values are a function of the identity checked: running again would rewrite them.
        found = read_meta(target).get("execution", {}).get("tasks", "all")
        with _status(Console(stderr=True), f"{config.name}: drawing the figures") as say:
            figures = draw_figures(target, phase=lambda text: say(f"{config.name}: {text}"))
        Console().print(
            f"{config.name}: {target}/ already holds the results of this configuration "
            f"({found} of {found} tasks found done), nothing run; {len(figures)} figure files "
            "drawn (--overwrite runs it again)",
            markup=False,
            highlight=False,
        )
        return
    err = Console(stderr=True)
    if spec.kind in ("none", "local"):  # local workers share this machine's compiled engine
        _compile_notice(err, backend or config.backend, total_reps)
    parts = parts_folder(out, config.name)
    with open_cluster(spec, _notice(err)) as executor, _progress_bar(err) as bar:
        task = bar.add_task(f"{config.name}: tasks", total=None)
        first = True

        def progress(done: int, total: int) -> None:
            nonlocal first
            if first and done:
                err.print(
                    f"{config.name}: resuming, {done} of {total} tasks found done in {parts}/",
                    markup=False,
                    highlight=False,
                )
            first = False
            bar.update(task, completed=done, total=total)

        result = run_experiment_tasks(
            config,
            executor,
            parts,
            reps=reps,
            seed=seed,
            backend=backend,
            task_reps=task_reps,
            progress=progress,
            populations=populations,
            # Streamed beside the parts, so that memory does not grow with the replications.
            table=None if summaries_only else parts / f"{config.name}--replications.parquet",
            phase=lambda text: bar.update(task, description=f"{config.name}: {text}"),
        )
    # The bar is full and gone; the files and the figures take seconds more (about half a
    # second a figure), so a spinner says which step it is.
    with _status(err, f"{config.name}: writing the results") as say:
        folder = write_results(result, out, overwrite=overwrite)
        clear_parts(parts, config.name)
        figures = draw_figures(folder, phase=lambda text: say(f"{config.name}: {text}"))
    meta = result.meta
    Console().print(
        f"{config.name}: {len(config.scenarios)} scenarios x {meta['replications']} "
        f"replications on {meta['populations']} populations, seed {meta['seed']}, "
        f"backend {meta['backend']}; results in {folder}/ "
        f"({len(figures)} figure files)",
        markup=False,
        highlight=False,
    )


def _run_queue(config, chains, seed, backend, out, overwrite, spec) -> None:
    """``lis1abm experiment`` for a queue experiment: its chains of rounds, tables, figures."""
    from lis1abm.distributed import open_cluster
    from lis1abm.experiments.queue_runner import run_queue_experiment
    from lis1abm.queue.sequence import ENGINES
    from lis1abm.simulation.sink import check_out

    for flag, value, least in (("--reps", chains, 1), ("--seed", seed, 0)):
        if value is not None and value < least:
            raise UserError(f"{flag} must be at least {least}, got {value}")
    if backend is not None and backend not in ENGINES:
        raise UserError(
            f"--backend: {backend!r} cannot play a queue experiment (known: {', '.join(ENGINES)})"
        )
    if backend is not None:
        config = dataclasses.replace(config, engine=backend)
    if config.engine == "cuda":
        from lis1abm.engine.backends import gpu_status

        ok, why = gpu_status()
        if not ok:
            raise UserError(f"--backend cuda: no GPU can run here ({why})")
    check_out(out)
    err = Console(stderr=True)
    with open_cluster(spec, _notice(err)) as executor, _progress_bar(err) as bar:
        task = bar.add_task(f"{config.name}: chains", total=None)
        folder = run_queue_experiment(
            config, executor, out, chains=chains, seed=seed, overwrite=overwrite,
            phase=lambda text: bar.update(task, description=f"{config.name}: {text}"),
            progress=lambda n: bar.update(task, advance=n),
        )  # fmt: skip
    meta = json.loads((folder / "meta.json").read_text())
    Console().print(
        f"{config.name}: {len(config.scenarios)} scenarios x {meta['replications']} chains of "
        f"{config.settings.rounds + 1} rounds, seed {meta['seed']}, engine {meta['engine']}; "
        f"results in {folder}/",
        markup=False,
        highlight=False,
    )


@app.command()
def plot(
    name: Annotated[
        str,
        typer.Argument(
            help="The experiment whose results to draw, or a folder written by "
            "simulate --out (its fit: fit.png and fit.pdf there)."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="The results folder the experiment wrote (OUT/<name>/).")
    ] = Path("results"),
) -> None:
    """Redraw an experiment's figures, or draw a simulation's fit, from saved results alone."""
    from lis1abm.atomic import cannot_write_in

    simulated = Path(name) / "comparison.parquet"
    folder = simulated.parent if simulated.is_file() else out / Path(name).stem
    if folder.is_dir() and (why := cannot_write_in(folder)):
        raise UserError(f"plot: cannot write the figures in {folder} ({why})")
    if simulated.is_file():
        written = _draw_simulation_fit(simulated)
    elif _is_queue_results(folder):
        from lis1abm.experiments.queue_runner import draw_queue_figures

        written = draw_queue_figures(folder)
    else:
        from lis1abm.experiments import draw_figures

        with _status(Console(stderr=True), f"{folder.name}: drawing the figures") as say:
            written = draw_figures(folder, phase=lambda text: say(f"{folder.name}: {text}"))
    typer.echo(f"{folder}: " + ", ".join(p.name for p in written))


def _is_queue_results(folder: Path) -> bool:
    """Whether ``folder`` holds a queue experiment's results (its ``meta.json`` says so)."""
    from lis1abm.experiments.folder import read_meta

    return (read_meta(folder) or {}).get("kind") == "queue"


@app.command()
def view(
    round_name: RoundOption = "autumn2024",
    params: Annotated[
        Path | None,
        typer.Option(
            help="Parameter file (TOML); default: the round's, as for simulate.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Root seed (replication 0 of this seed).")] = 2024,
    port: Annotated[int, typer.Option(help="Local port of the page (127.0.0.1 only).")] = 8765,
) -> None:
    """Watch one replication's offer rounds in the browser: the ads on a map, the offers and
    hires per round, an ad's ranked list; step, play, reset, and sliders that rebuild the
    model. Needs the package's viz extra."""
    import warnings

    # Solara's advice to developers of components (Mesa's) and of proxied deployments: noise
    # on a local view's terminal.
    warnings.filterwarnings("ignore", category=UserWarning, module="solara")
    try:
        # Lazily: Solara and Mesa's visualisation take seconds to import, and are an extra.
        from lis1abm.viz.app import serve
    except ImportError as error:
        raise UserError(
            f'view: needs the viz extra (pip install "lis1abm[viz]"): {error}'
        ) from None
    serve(round_name, params, seed, port, echo=lambda line: typer.echo(line))


def _draw_simulation_fit(comparison: Path) -> list[Path]:
    """fit.png and fit.pdf beside a simulation's ``comparison.parquet``."""
    import pandas as pd

    from lis1abm.plots.fit import fit_figure, simulation_fit
    from lis1abm.plots.theme import save

    table = pd.read_parquet(comparison)
    return save(fit_figure(simulation_fit(table)), comparison.parent / "fit")


def _plain(value):
    """JSON for NumPy scalars."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=120)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # Bare `lis1abm` shows the help (click would add an empty error line after it).
        code = command.main(args=args or ["--help"], prog_name="lis1abm", standalone_mode=False)
    except typer.Exit as stop:
        code = stop.exit_code
    except _ClickException as error:
        print(f"lis1abm: error: {error.format_message()}", file=sys.stderr)
        code = 2
    except UserError as error:
        print(f"lis1abm: error: {error}", file=sys.stderr)
        code = 2
    except (typer.Abort, KeyboardInterrupt):
        code = INTERRUPTED
    if code == INTERRUPTED:  # typer turns Ctrl-C into this exit code, without a word
        print(f"lis1abm: interrupted: {_kept_if_interrupted}", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)
_kept_if_interrupted = "nothing was written"


def _on_interrupt(kept: str) -> None:
    """Say what an interrupted command keeps (and how to go on): printed by :func:`main`
    if Ctrl-C stops the command."""
    global _kept_if_interrupted
    _kept_if_interrupted = kept


if __name__ == "__main__":
    main()

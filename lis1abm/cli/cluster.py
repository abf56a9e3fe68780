"""The cluster options shared by ``lis1abm experiment`` and ``lis1abm calibrate``."""

from __future__ import annotations

from typing import Annotated

import typer

PANEL = "Cluster (Dask)"

ClusterOption = Annotated[
    str,
    typer.Option(
        help="Where the tasks run: none (this process), local (a Dask cluster on this "
        "machine: one worker per GPU, else CPU workers), slurm or pbs (batch jobs through "
        "dask-jobqueue), or a running scheduler's address (tcp://host:8786).",
        rich_help_panel=PANEL,
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        help="local: workers (default: one per GPU, else per core); slurm/pbs: batch jobs.",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
GpusOption = Annotated[
    int | None,
    typer.Option(
        "--gpus-per-worker",
        help="0: CPU workers; 1: a GPU per worker (slurm/pbs: the job asks for one; local: "
        "one worker per GPU through dask-cuda; default: 1 where GPUs are, else 0).",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
WalltimeOption = Annotated[
    str, typer.Option(help="slurm/pbs: a job's walltime, HH:MM:SS.", rich_help_panel=PANEL)
]
LifetimeOption = Annotated[
    str | None,
    typer.Option(
        help="slurm/pbs: a worker's lifetime, HH:MM:SS, after which it hands its tasks over "
        "and a new job replaces it (default: the walltime less a tenth, at least 5 min).",
        show_default=False,
        rich_help_panel=PANEL,
    ),
]
ConnectTimeoutOption = Annotated[
    float,
    typer.Option(help="Seconds to wait for the scheduler at an address.", rich_help_panel=PANEL),
]

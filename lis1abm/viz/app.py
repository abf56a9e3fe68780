"""The page of ``lis1abm view`` and its local server.

The page is Mesa's :func:`~mesa.visualization.SolaraViz` around a
:class:`~lis1abm.viz.model.ViewModel`: Step, Play and Reset in the sidebar, the behaviour and
total-positions sliders under them (moving one, then Reset, rebuilds the model), and the
components of :mod:`lis1abm.viz.map`, :mod:`lis1abm.viz.cascade` and
:mod:`lis1abm.viz.ranked_list`. :func:`serve` checks the files and the port, then runs the
Solara server (uvicorn) in this process, on 127.0.0.1 only.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import solara
from mesa.visualization import Slider, SolaraViz

from lis1abm.errors import UserError
from lis1abm.viz.cascade import HiresPlot, HiresTable, offers_plot
from lis1abm.viz.map import AdMap
from lis1abm.viz.model import ViewModel, model_params
from lis1abm.viz.ranked_list import RankedList

HOST = "127.0.0.1"
"""The view listens on this machine only: it has no login, and anyone who reaches it can run
models on it."""

DEFAULT_PORT = 8765  # Solara's own default

# What the page shows, set by configure() before the server starts: the server imports this
# module by name in the same process, so it finds it here.
_view: dict[str, Any] = {}


def configure(round: str | Path = "autumn2024", params: str | Path | None = None, seed: int = 2024):
    """Set the round, parameters and seed of the page (and of every Reset).

    Raises
    ------
    ConfigError : a bad round or parameter file (checked now, before any server starts).
    """
    _view.clear()
    _view["name"] = f"LIS1 offer cascade: {Path(str(round)).stem}, seed {seed}"
    _view["model_params"] = model_params(round, params, seed)


def start_values(params: dict[str, Any]) -> dict[str, Any]:
    """The model's keywords from ``model_params``: each slider's starting value."""
    return {k: v.value if isinstance(v, Slider) else v for k, v in params.items()}


@solara.component
def Page():
    """The view (Solara's entry point): the first model is built from the sliders' starting
    values, so it is the files' replication 0."""
    if not _view:
        configure()
    params = _view["model_params"]
    model = solara.use_memo(lambda: ViewModel(**start_values(params)), [])
    SolaraViz(
        model,
        components=[AdMap, offers_plot(), HiresTable, HiresPlot, RankedList],
        model_params=params,
        name=_view["name"],
        play_interval=400,  # ms between rounds: slow enough to watch the map change
    )


def bind(port: int, host: str = HOST) -> socket.socket:
    """A listening socket on ``host:port``, handed to the server: binding here, before the
    server starts, turns a port in use into one line instead of a server's traceback.

    Raises
    ------
    UserError : the port is out of range or in use.
    """
    if not 1 <= port <= 65535:
        raise UserError(f"--port: must be in [1, 65535], got {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As uvicorn's own socket: a port left in TIME_WAIT by a view just stopped is free.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        why = (
            "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
        )
        raise UserError(f"--port: {host}:{port} {why}; choose another --port") from None
    return sock


def serve(
    round: str | Path,
    params: str | Path | None,
    seed: int,
    port: int,
    echo: Callable[[str], None] = print,
) -> None:
    """Check the files and the port, print the page's address with ``echo``, and serve the
    page until interrupted.

    Raises
    ------
    UserError : a bad round or parameter file, or a port in use.
    """
    configure(round, params, seed)
    sock = bind(port)
    import uvicorn
    from solara.server import settings

    settings.main.mode = "production"  # no auto-restart, no file watching
    settings.telemetry.mixpanel_enable = False  # the view sends nothing anywhere
    # Solara's server finds its app by name in the environment.
    os.environ["SOLARA_APP"] = __name__
    config = uvicorn.Config(
        "solara.server.starlette:app", host=HOST, port=port, log_level="warning"
    )
    echo(f"lis1abm view: http://{HOST}:{port}  (Ctrl-C stops it)")
    uvicorn.Server(config).run(sockets=[sock])

"""Which engine runs the cascade: the backend names a user can give, and the one each stands for
here."""

from __future__ import annotations

from lis1abm.errors import UserError

BACKENDS = ("auto", "mesa", "cpu", "cuda")
"""Engines that can run the cascade: ``mesa`` (the readable reference), ``cpu`` (numba),
``cuda`` (a GPU), ``auto`` (``cuda`` when a GPU is usable, else ``cpu``)."""


def resolve_backend(backend: str) -> tuple[str, str]:
    """The engine a backend name stands for, and a description of the device it runs on.

    Raises
    ------
    UserError : an unknown backend, or ``cuda`` without a usable GPU.
    """
    if backend not in BACKENDS:
        raise UserError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if backend == "mesa":
        return "mesa", "cpu: 1 thread"
    if backend in ("auto", "cuda"):
        from lis1abm.engine.cuda import gpu_status

        ok, device = gpu_status()
        if ok:
            return "cuda", f"gpu: {device}"
        if backend == "cuda":
            raise UserError(f"--backend cuda: {device}")
    import numba

    return "cpu", f"cpu: {numba.get_num_threads()} threads"

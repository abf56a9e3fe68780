"""The one look of every figure, and saving a figure as PNG and PDF.

The theme is set in one place (:func:`use_theme`): seaborn's ``whitegrid`` style and its
``colorblind`` palette (distinguishable with the common colour-vision deficiencies), paper
context. matplotlib draws off-screen (the Agg backend), so figures work on machines without a
display.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # off-screen: batch machines have no display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from lis1abm.atomic import replacing  # noqa: E402

PALETTE = "colorblind"
"""seaborn's colour-blind-safe palette, used for every figure."""
FORMATS = ("png", "pdf")
"""Every figure is saved in these formats."""
DPI = 150
"""Resolution of the PNG files, dots per inch."""


def use_theme() -> None:
    """Set the figures' theme (idempotent)."""
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE)


def colours(n: int) -> list:
    """The first ``n`` colours of the palette."""
    return sns.color_palette(PALETTE, n)


def save(figure, stem: Path) -> list[Path]:
    """Write ``figure`` as ``<stem>.png`` and ``<stem>.pdf``, each to a temporary file in the
    same folder first and then renamed (never half-written), and close it."""
    stem = Path(stem)
    written = []
    try:
        for fmt in FORMATS:
            target = stem.with_suffix(f".{fmt}")
            with replacing(target) as tmp:
                figure.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight")
            written.append(target)
    finally:
        plt.close(figure)
    return written

"""Tables an experiment adds beside its summary (the config's ``tables``), one CSV each,
computed per scenario from every replication's values (the whole :class:`Tally` layout, not
only the breakdowns the tidy table keeps). Each table has a ``scenario`` column first.

- ``report``: the report's figures beside the model's hires, and not hired (figures 5.1-5.4:
  education, nationality, their cross, age group) and table 2's not hired
  (:func:`lis1abm.report.compare.report_table`): mean, 5-95 % band over replications and
  whether the report's figure lies inside it;
- ``figure_4_3``: the report's figure 4.3 statements checked on the replications
  (:func:`lis1abm.report.statements.figure_4_3`): the model's measure, the reference and hit
  or miss.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from lis1abm.outcomes.tally import Tally
from lis1abm.report.compare import compare, report_table
from lis1abm.report.statements import figure_4_3

NOT_HIRED_OF = ("education", "nationality", "nationality_x_education", "age_group")
"""Breakdowns whose not hired the report counts (figures 5.1-5.4)."""


def report(tally: Tally, values: np.ndarray) -> pd.DataFrame:
    """The report against the model on replications' values (R, K) (see the module)."""
    return report_table(compare(tally, values), not_hired_of=NOT_HIRED_OF)


def statements(tally: Tally, values: np.ndarray) -> pd.DataFrame:
    """Figure 4.3's statements on replications' values (R, K), with their replications."""
    rows = pd.DataFrame(figure_4_3(tally, values))
    rows.insert(len(rows.columns), "replications", len(values))
    return rows


TABLES: dict[str, Callable[[Tally, np.ndarray], pd.DataFrame]] = {
    "report": report,
    "figure_4_3": statements,
}
"""Table functions by the name an experiment config gives in ``tables``."""

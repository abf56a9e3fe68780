"""The report side: a round's replications compared with its report
(:func:`~lis1abm.report.simulate.simulate`), the report's statements, provenance, the benchmark."""

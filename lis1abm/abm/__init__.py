"""The Mesa model of one round's offer cascade (:class:`~lis1abm.abm.model.LIS1Model`) and its
agents: the readable reference the compiled engines equal."""

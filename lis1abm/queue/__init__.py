"""The queue across rounds: who waits how long for a LIS1 position.

Modules, in the order a chain runs them: :mod:`~lis1abm.queue.settings` (inflow,
re-application, positions), :mod:`~lis1abm.queue.people` (new applicants, the not hired moving
on), :mod:`~lis1abm.queue.sequence` (the rounds of a chain on an engine).
"""

from lis1abm.queue.sequence import ChainResult, Sequence, play_chain
from lis1abm.queue.settings import QueueSettings

__all__ = ["ChainResult", "QueueSettings", "Sequence", "play_chain"]

"""lis1abm: an agent-based simulator of the Norwegian LIS1 hiring market.

The autumn 2024 application round (Helsedirektoratet's status report) is the reference: the
package builds a synthetic applicant population that matches the report, lets applicants apply
to ads, lets hospitals rank them, and plays the five offer rounds with Mesa agents.
"""

__version__ = "0.1.0"

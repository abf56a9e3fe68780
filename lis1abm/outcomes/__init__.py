"""What a replication produces (hires by group and ad, the offer cascade, the offers) and its exact
summaries over replications."""

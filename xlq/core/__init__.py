"""The vocabulary every stage shares: model, rules, catalogue, config, values, spc, report,
errors (no I/O beyond reading settings files)."""

"""Plan, schedule, execute and commit stages."""

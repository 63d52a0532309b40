"""After every publish (and hourly, to retry refused emails): give each party of each conflict in
mart_market_conflicts one notice, in-app and by email, and judge the commitments and dispatches that
arrived by their products' rules (pipelines/defs/rules: rule_arrival_verdicts)."""

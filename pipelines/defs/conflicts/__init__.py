"""Market-conflict notices (UC11): after every publish (and hourly, to retry refused emails), give
each party of each conflict in mart_market_conflicts one notice, in-app and by email."""

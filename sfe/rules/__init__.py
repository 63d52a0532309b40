"""SFE's judgement: the rules engine (UC5), eligibility (UC9) and the market rules library (UC7).

- ``catalogue``: the products rules attach to (live registry products and taxonomy products).
- ``facts``: what the engine knows about an asset or asset group, and its commitments.
- ``kinds``: the rule kinds, their parameters and how each is judged.
- ``engine``: evaluate a request against a product's rules, product requirements and external
  rules endpoint; every verdict carries an explanation naming the rule.
- ``store``: create, edit, switch and retire rules (owning SO or admin), audited and versioned.
- ``arrivals``: after each publish, the commitments and dispatches that arrived are judged once;
  breaches are recorded and told to the parties (``sfe.notices``).
- ``external``: the HTTP client for products whose rules live outside SFE (docs/rules-api.md).
- ``eligibility`` and ``snapshot``: which products an asset or group could prequalify for.
- ``library`` and ``search``: the market rules library and its ranked full-text search.
"""

"""Identity: who is who, beyond what dbt's deterministic graph can say.

- :mod:`identity.fuzzy`: probabilistic record matching (Splink, Fellegi-Sunter):
  the model spec, training, scoring, and person files of one's own. The dbt
  Python model ``int_fuzzy_links`` and ``ferry fuzzy`` call it.
- :mod:`identity.evaluation`: pairwise precision and recall of a built
  warehouse's profiles against the sample data's ground truth (``ferry evaluate``,
  the benchmarks).

It stands apart from the rest of Ferry: it imports nothing from
``orchestration``, ``syncs`` or ``connectors``, and every file it reads or
writes (the model JSON, the nickname seed, the warehouse) is passed in.
"""

"""Deterministic, realistic sample data for Ferry's raw schema.

``generate(...)`` builds a population of people, lets each source system
(CRM, shop, web tracking, support, forms, product, consent) see some of them
with that system's typical damage, and bulk-writes the raw tables plus
``raw.ground_truth`` (the true person of every raw record) and
``raw.generation_info`` (seed and reference date) into DuckDB.
"""

from sample_data.generate import GenerationSummary, build_tables, generate
from sample_data.info import reference_date

__all__ = ["GenerationSummary", "build_tables", "generate", "reference_date"]

"""Rule-based audiences: YAML rules compiled to validated, SELECT-only SQL with sqlglot.

Public entry points: `compile_rules_dir` (used by `ferry audiences compile`) and
`compile_rule` / `RuleError` for tests and tools.
"""

from orchestration.audience_rules.compiler import CompiledRule, compile_rule, compile_rules_dir
from orchestration.audience_rules.errors import RuleError

__all__ = ["CompiledRule", "RuleError", "compile_rule", "compile_rules_dir"]

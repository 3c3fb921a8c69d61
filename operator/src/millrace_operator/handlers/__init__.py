"""Kopf handlers: the only Kopf-decorated code. Thin: parse, call reconcile, map errors.

Importing this package registers every handler (`python -m millrace_operator` does).
"""

from millrace_operator.handlers import clusters, startup, topics

__all__ = ["clusters", "startup", "topics"]

"""The local stack: the pipeline's servers as plain processes in a state folder."""

from smartwatch.stack.manager import COMPONENTS, Stack

__all__ = ["COMPONENTS", "Stack"]

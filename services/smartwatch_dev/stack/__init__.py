"""The local stack: the pipeline's servers as plain processes in a state folder."""

from smartwatch_dev.stack.manager import COMPONENTS, Stack

__all__ = ["COMPONENTS", "Stack"]

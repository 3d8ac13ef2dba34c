"""``vmb chat``: refine a description, pick references and generate, in words.

Two modes share one state (:class:`ChatState`): an offline mode with a deterministic edit grammar
(:class:`ChatSession`, :func:`parse_line`) and an LLM mode (:class:`LLMChat`) in which an
OpenAI-compatible model calls VMB's tools in a loop.
"""

from __future__ import annotations

from vmb_agent.chat.edits import Action, parse_line
from vmb_agent.chat.session import ChatSession, ChatState

__all__ = ["Action", "ChatSession", "ChatState", "LLMChat", "parse_line"]


def __getattr__(name: str) -> object:
    if name == "LLMChat":
        from vmb_agent.chat.llm import LLMChat

        return LLMChat
    raise AttributeError(f"module 'vmb_agent.chat' has no attribute {name!r}")

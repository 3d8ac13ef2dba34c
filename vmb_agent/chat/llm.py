"""LLM mode of ``vmb chat``: an OpenAI-compatible model calls VMB's tools in a loop.

The endpoint is any server speaking ``POST {base_url}/chat/completions`` with ``tools`` and
``stream: true`` (OpenAI, vLLM, llama.cpp, Ollama, LM Studio, ...). Replies are streamed to the
terminal as they arrive; tool calls run the same handlers as the MCP tools
(:mod:`vmb_agent.tools.handlers`), and their results go back to the model as JSON. The session
state (description, matches, references, last result) is updated from the tool results so
``play`` and ``show`` work in both modes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from vmb_agent.chat.session import ChatState
from vmb_agent.errors import BackendUnavailableError, VMBError
from vmb_agent.sdk import VMB
from vmb_agent.settings import Settings
from vmb_agent.types import GenerationResult, MusicDescription, SearchResult

#: tool rounds per user turn before the loop stops asking the model
MAX_TOOL_ROUNDS = 8
#: longest tool result sent back to the model (characters of JSON)
MAX_TOOL_RESULT_CHARS = 12000
TIMEOUT_S = 120.0

SYSTEM_PROMPT = """\
You are VMB's music assistant. You help the user score images and videos with music using the
tools: describe_visuals (the text bridge), search_music (reference tracks), generate_music,
score_video, index_music and get_track. Work step by step: describe, show the user the gist,
apply their edits to the MusicDescription fields and hand the whole object back, search and let
them pick references by id, then generate. Report file paths and what was measured. Be brief."""


def tool_schemas() -> list[dict[str, Any]]:
    """The VMB tools in OpenAI function-calling format (same schemas as the MCP tools)."""
    from vmb_agent.tools.handlers import TOOLS

    return [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.description,
                "parameters": spec.input_model.model_json_schema(),
            },
        }
        for spec in TOOLS.values()
    ]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class Turn:
    """What one streamed completion produced."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


class LLMClient:
    """A minimal streaming client for OpenAI-compatible ``/chat/completions``."""

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = TIMEOUT_S
    ):
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.http = httpx.Client(headers=headers, timeout=timeout)

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
               on_text: Callable[[str], None]) -> Turn:  # fmt: skip
        """Send one request; call ``on_text`` with each text delta; return the whole turn."""
        import httpx

        body = {"model": self.model, "messages": messages, "tools": tools, "stream": True}
        turn = Turn()
        calls: dict[int, ToolCall] = {}
        try:
            with self.http.stream("POST", self.url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise BackendUnavailableError(
                        f"LLM endpoint {self.url} answered {response.status_code}: "
                        f"{response.text[:200]}"
                    )
                for chunk in _sse_chunks(response.iter_lines()):
                    for choice in chunk.get("choices", []):
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            turn.text += delta["content"]
                            on_text(delta["content"])
                        for call in delta.get("tool_calls") or []:
                            index = call.get("index", len(calls))
                            entry = calls.setdefault(index, ToolCall(id="", name=""))
                            entry.id = call.get("id") or entry.id or f"call_{index}"
                            function = call.get("function") or {}
                            entry.name += function.get("name") or ""
                            entry.arguments += function.get("arguments") or ""
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(
                f"cannot reach the LLM endpoint {self.url}: {exc}"
            ) from exc
        turn.tool_calls = [calls[i] for i in sorted(calls)]
        return turn

    def close(self) -> None:
        self.http.close()


def _sse_chunks(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except json.JSONDecodeError:
            continue


class LLMChat:
    """The tool-calling loop: user text -> model -> tools -> model ... -> streamed reply."""

    def __init__(self, vmb: VMB, client: LLMClient, *, write: Callable[[str], None],
                 out: Callable[[str], None]) -> None:  # fmt: skip
        self.vmb = vmb
        self.client = client
        self.write = write  # streamed text, no newline added
        self.out = out  # whole lines (tool activity)
        self.state = ChatState()
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        self.tools = tool_schemas()

    @classmethod
    def from_settings(cls, vmb: VMB, settings: Settings, **kwargs: Any) -> LLMChat:
        if not (settings.llm_base_url and settings.llm_model):
            raise BackendUnavailableError(
                "no LLM endpoint configured; set VMB_LLM_BASE_URL and VMB_LLM_MODEL "
                "(and VMB_LLM_API_KEY if it needs one), or use the offline mode."
            )
        client = LLMClient(settings.llm_base_url, settings.llm_model, settings.llm_api_key)
        return cls(vmb, client, **kwargs)

    def ask(self, text: str) -> str:
        """One user turn: loop until the model answers without calling a tool."""
        self.messages.append({"role": "user", "content": text})
        for _ in range(MAX_TOOL_ROUNDS):
            turn = self.client.stream(self.messages, self.tools, self.write)
            if turn.text:
                self.write("\n")
            message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
            if turn.tool_calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                    for c in turn.tool_calls
                ]  # fmt: skip
            self.messages.append(message)
            if not turn.tool_calls:
                return turn.text
            for call in turn.tool_calls:
                self.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": self.run_tool(call)}
                )
        self.out(f"(stopped after {MAX_TOOL_ROUNDS} tool rounds)")
        return ""

    def run_tool(self, call: ToolCall) -> str:
        """Run one tool call; the model sees the result JSON or a one-line error."""
        from vmb_agent.tools.handlers import run_tool

        self.out(f"[tool] {call.name}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as exc:
            return json.dumps({"error": f"{call.name}: arguments are not valid JSON ({exc})."})
        if not isinstance(arguments, dict):
            return json.dumps({"error": f"{call.name}: arguments must be a JSON object."})
        try:
            result = run_tool(self.vmb, call.name, arguments)
        except VMBError as exc:
            self.out(f"[tool error] {exc}")
            return json.dumps({"error": str(exc)})
        self._remember(result)
        text = result.model_dump_json()
        if len(text) > MAX_TOOL_RESULT_CHARS:
            text = text[:MAX_TOOL_RESULT_CHARS] + "...(truncated)"
        return text

    def _remember(self, result: object) -> None:
        if isinstance(result, MusicDescription):
            self.state.description = result
        elif isinstance(result, SearchResult):
            self.state.matches = list(result.matches)
        elif isinstance(result, GenerationResult):
            self.state.last_result = result
            self.out(f"[wrote] {result.audio_path}")

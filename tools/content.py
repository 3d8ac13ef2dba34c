"""Turn a tool's result model into MCP content: JSON text, resource links, images, previews.

Every result travels twice: as ``structuredContent`` (validated against the tool's output schema)
and as a JSON text block for clients that only read text. Generated files are named by path *and*
by a ``vmb://outputs/...`` resource link the client can read; the piano roll is attached as an
image the agent can look at; a small audio preview is embedded only when the settings ask for it
and the file is under the size cap.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from urllib.parse import quote

from mcp_types import (
    AudioContent,
    CallToolResult,
    ContentBlock,
    ImageContent,
    ResourceLink,
    TextContent,
)
from pydantic import BaseModel

from vmb_agent.settings import Settings
from vmb_agent.types import GenerationResult

OUTPUTS_URI = "vmb://outputs/"
TRACKS_URI = "vmb://tracks/"
#: images larger than this are linked, not inlined (a piano roll is typically 20-200 KB)
MAX_INLINE_IMAGE_BYTES = 2 * 1024**2

_MIME = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/opus",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
    ".json": "application/json",
}


def mime_type(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return _MIME.get(suffix) or mimetypes.guess_type(str(path))[0] or "application/octet-stream"


def output_uri(path: str | Path, settings: Settings) -> str | None:
    """``vmb://outputs/<relative path>`` for a file under VMB_HOME/outputs, else ``None``."""
    outputs = settings.outputs_dir.expanduser().resolve()
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_relative_to(outputs):
        return None
    return OUTPUTS_URI + quote(resolved.relative_to(outputs).as_posix(), safe="/")


def tool_result(result: BaseModel, settings: Settings) -> CallToolResult:
    """The MCP result for a tool's result model (structured + text + links/images)."""
    content: list[ContentBlock] = [TextContent(type="text", text=result.model_dump_json(indent=2))]
    if isinstance(result, GenerationResult):
        content.extend(generation_blocks(result, settings))
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def generation_blocks(result: GenerationResult, settings: Settings) -> list[ContentBlock]:
    blocks: list[ContentBlock] = []
    files = [
        ("audio", result.audio_path),
        ("video", result.video_path),
        ("midi", result.midi_path),
        ("piano roll", result.piano_roll_path),
        *(("stem", stem) for stem in result.stems),
    ]
    for role, path in files:
        if not path:
            continue
        uri = output_uri(path, settings)
        if uri is None:
            continue
        size = Path(path).stat().st_size if Path(path).is_file() else None
        blocks.append(
            ResourceLink(
                type="resource_link",
                uri=uri,
                name=Path(path).name,
                title=f"generated {role}",
                mime_type=mime_type(path),
                size=size,
            )
        )
    roll = Path(result.piano_roll_path) if result.piano_roll_path else None
    if roll and roll.is_file() and roll.stat().st_size <= MAX_INLINE_IMAGE_BYTES:
        data = base64.b64encode(roll.read_bytes()).decode()
        blocks.append(ImageContent(type="image", data=data, mime_type=mime_type(roll)))
    audio = Path(result.audio_path)
    if (
        settings.embed_audio_previews
        and audio.is_file()
        and audio.stat().st_size <= settings.preview_max_kb * 1024
    ):
        data = base64.b64encode(audio.read_bytes()).decode()
        blocks.append(AudioContent(type="audio", data=data, mime_type=mime_type(audio)))
    return blocks

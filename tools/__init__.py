"""MCP tool adapters (shipped as ``vmb_agent.tools``): the VMB MCP server and its six tools.

    server.py    the MCPServer (tools, resources, prompts, lifespan) and ``main()`` (vmb-mcp)
    http.py      streamable HTTP transport behind a token / Host / Origin guard, /health
    handlers.py  the tools as plain functions over the SDK (shared with ``vmb chat``)
    models.py    one pydantic input model per tool
    content.py   result -> MCP content (JSON text, resource links, piano-roll image, previews)

Importing this package loads nothing heavy; ``server`` imports the ``mcp`` SDK.
"""

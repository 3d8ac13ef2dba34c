"""Run the VMB MCP server from a checkout: ``python server.py [--transport http ...]``.

A thin launcher: the server itself ships as ``vmb_agent.tools.server`` (entry point ``vmb-mcp``).
"""

from vmb_agent.tools.server import main

if __name__ == "__main__":
    main()

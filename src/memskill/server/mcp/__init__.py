"""MCP: the memories and skills for agents that speak the Model Context Protocol.

    memskill mcp            stdio, for a local agent (Claude Code, Codex, Cursor, Gemini CLI, Claude Desktop)
    memskill serve  → /mcp  streamable HTTP, behind the API keys

What an agent sees:

    tools      search_memory, add_message, get_status, list_skills, get_skill, add_feedback
    resources  skill://{user}/{name} → the skill's SKILL.md (the default user's skills are listed)
    prompts    one per skill of the default user, named like the skill; its message is the SKILL.md

Each tool validates its arguments with the HTTP API's request model and makes the engine call of the
matching route, so its structured content is the `data` of the HTTP reply and a failure carries the same
code and message: a tool answers `isError` with the API's error envelope; a resource or a prompt raises a
JSON-RPC error whose code is the API's. A missing `user_id` is the default user's (`MEMSKILL_MCP_USER`).
Over HTTP, the caller's API key decides which app's data it reaches, as on the API; over stdio the caller
is the local owner of the data directory and reaches all of it.

    adapter.py   the MCP server over `Memory`: tools, resources, prompts; `serve_stdio`
    tools.py     what the agent reads: each tool's description and input schema, the texts it answers with
    endpoint.py  the `/mcp` route of `memskill serve`, which imports the MCP SDK on first use

Nothing is imported here, so that `memskill serve` loads the SDK only when an MCP client comes.
"""

"""The `flux` sub-commands, one module per area (auth, projects, tokens, platform)."""

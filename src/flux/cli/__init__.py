"""The `flux` command line: a thin HTTP client of the control-plane API (no SQL here)."""

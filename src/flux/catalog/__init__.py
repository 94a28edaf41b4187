"""The `flux_system` catalog: its own migrations plus small typed query functions."""

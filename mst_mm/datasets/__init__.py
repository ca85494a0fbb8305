"""Data components that need a downstream toolbox (imported by the configs
that use them, so that ``import mst_mm`` does not import mmseg)."""

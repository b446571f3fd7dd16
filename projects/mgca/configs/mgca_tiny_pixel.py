# Tiny MGCA with plain per-pixel inference (no semantic units).
_base_ = ['./mgca_tiny.py']
model = dict(test_cfg=dict(num_units=None))

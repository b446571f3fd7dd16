# MGCA with plain per-pixel inference (Table 3 / Table 4 "pixel" row): same training, no semantic units.
_base_ = ['./mgca_vitb16_cc3m.py']
model = dict(test_cfg=dict(num_units=None))

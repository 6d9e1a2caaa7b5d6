# The generated lab inventories of `make bench-scale` (tests/lab/scale.py,
# inventory name `labscale`): the lab's overrides, unchanged.
include:
  - overrides.lab

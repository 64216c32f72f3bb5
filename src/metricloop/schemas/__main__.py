"""python -m metricloop.schemas: regenerate the shipped JSON Schemas."""

from metricloop.schemas import write_all

for p in write_all():
    print(p)

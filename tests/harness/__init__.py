"""What the template's tests and its bench share: bakes and their answers
(bakery), a baked project driven through make, Compose and HTTP, and polling
with a deadline (stack). Importable as `harness` with tests/ on the path:
pytest's `pythonpath` setting, and `make bench`'s PYTHONPATH."""

"""Plain helpers the tests call directly (no fixtures: those live in the conftest.py nearest their users).

Importable as `support.<module>` from every test directory: test/conftest.py puts test/ on sys.path.
"""

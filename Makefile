# The README's two commands, and the three roles for a Redis-backed deployment (see Procfile).
PYTHON ?= python3

.PHONY: run test web worker scheduler
run:
	$(PYTHON) run.py
test:
	$(PYTHON) run.py test
web:
	.venv/bin/python -m api
worker:
	.venv/bin/python -m worker
scheduler:
	.venv/bin/python -m scheduler

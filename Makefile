# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv if missing and installs the pinned versions of constraints.txt.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# ansible-rulebook, for the end-to-end test of extensions/eda, in a venv of its own (see below).
RULEBOOK_VENV  := .venv-rulebook
RULEBOOK_STAMP := $(RULEBOOK_VENV)/.installed-stamp
RULEBOOK_PINS  := ansible-rulebook==1.3.2 ansible-core==2.19.14

.PHONY: demo test lint types unit ansible ansible-sanity ansible-lint changelog-lint readme fake-aliyun lock clean rulebook

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

demo: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash playbooks/demo.sh

test: lint types unit ansible

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(RULEBOOK_STAMP)
	$(BIN)/pytest -n 2 --dist loadgroup

# The collection's own checks (pytest above already runs its unit and playbook tests).
ansible: ansible-sanity ansible-lint changelog-lint

ansible-sanity: $(STAMP)
	bash .ci/ansible_sanity.sh

# PRE_COMMIT / SKIP_SCHEMA_UPDATE keep ansible-lint from calling out to the internet.
ansible-lint: $(STAMP)
	PRE_COMMIT=1 ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1 PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/ansible-lint --profile production playbooks/

changelog-lint: $(STAMP)
	$(BIN)/antsibull-changelog lint

# A fake Alibaba Cloud endpoint with 250 clusters, for trying `overdue-fsm sync` by hand:
#   overdue-fsm sync --region cn-hangzhou --endpoint 127.0.0.1:8765 --protocol http
fake-aliyun: $(STAMP)
	$(BIN)/python -m tests.aliyun.fake_endpoint --port $${PORT:-8765} --clusters 250

readme: $(STAMP)
	$(BIN)/python tests/readme_blocks.py --write

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[dev]'
	{ head -n 3 constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^overdue-fsm' ; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(RULEBOOK_VENV) .demo build dist *.egg-info

# ansible-rulebook in a venv of its own, since its pins (ansible-runner, drools-jpy) may
# disagree with the project's; overdue-fsm is installed there for the event source. Java 17 runs it.
rulebook: $(RULEBOOK_STAMP)

$(RULEBOOK_STAMP): pyproject.toml
	@test -x $(RULEBOOK_VENV)/bin/python || $(PYTHON) -m venv $(RULEBOOK_VENV)
	$(RULEBOOK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(RULEBOOK_PINS) -e .
	@touch $@

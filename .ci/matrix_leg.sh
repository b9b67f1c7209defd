#!/usr/bin/env bash
# One leg of `make test-matrix`: in the venv VENV (one ansible-core minor, this checkout's
# overdue-fsm), run the Ansible plugin tests (tests/ansible, which run real playbooks too) and
# the demo playbook as a user would, on a store of its own.
#
# Usage: .ci/matrix_leg.sh VENV     e.g. .ci/matrix_leg.sh .tools/ansible-core-2.18
# Exit codes: 0 the leg passed, 1 a test or the playbook failed, 2 no such venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:?usage: .ci/matrix_leg.sh VENV}"
[[ -x "$venv/bin/ansible-playbook" ]] || { echo "matrix_leg.sh: no ansible-playbook in $venv (make test-matrix creates it)" >&2; exit 2; }
bin="$(cd "$venv/bin" && pwd)"
core="$("$bin/python" -c 'from ansible.release import __version__; print(__version__)')"
start=$SECONDS
echo "== ansible-core $core ($("$bin/python" --version)): tests/ansible"
PATH="$bin:$PATH" "$bin/python" -m pytest -n 2 --dist loadgroup -p no:cacheprovider -q tests/ansible

echo "== ansible-core $core: playbooks/demo.yml"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/matrix-leg.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
rc=0
PATH="$bin:$PATH" OVERDUE_FSM_STORE="sqlite:///$tmp/clusters.db" ANSIBLE_NOCOLOR=1 \
  bash playbooks/run-playbook.sh playbooks/demo.yml >"$tmp/demo.log" 2>&1 || rc=$?
if [[ $rc -ne 0 ]] || ! grep -q "gate closed on c-demo-restricted: submit_task (task) is denied" "$tmp/demo.log"; then
  cat "$tmp/demo.log"
  echo "matrix_leg.sh: ansible-core $core: playbooks/demo.yml failed (exit $rc) or did not close the gate" >&2
  exit 1
fi
grep -E '^localhost|^c-demo' "$tmp/demo.log" | sed 's/^/  /' || true
echo "== ansible-core $core: passed in $(( SECONDS - start ))s"

#!/usr/bin/env bash
# Run ansible-playbook with this directory's ansible.cfg and the overdue.emr collection of this
# checkout, without installing it: the collection is linked (at run time, never committed) as
# .demo/collections/ansible_collections/overdue/emr -> the repository root.
#
#   playbooks/run-playbook.sh playbooks/demo.yml
#   playbooks/run-playbook.sh -i playbooks/inventory/fleet.overdue_clusters.yml playbooks/fleet_report.yml
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
link="$root/.demo/collections/ansible_collections/overdue/emr"
mkdir -p "$(dirname "$link")"
if [[ "$(readlink "$link" 2>/dev/null)" != "$root" ]]; then
  ln -sfn "$root" "$link"
fi
export ANSIBLE_CONFIG="$here/ansible.cfg"
if ! command -v ansible-playbook >/dev/null && [[ -x "$root/.venv/bin/ansible-playbook" ]]; then
  PATH="$root/.venv/bin:$PATH"  # the project's venv (make .venv/.installed-stamp)
fi
exec ansible-playbook "$@"

#!/usr/bin/env bash
# The main job behind `make demo`, on the embedded SQLite store in .demo/:
#   1. a pay-as-you-go cluster walks active -> overdue_grace -> suspended -> restricted -> purged,
#      with the verdict for scale_out and submit_task at each step;
#   2. a subscription expires and is renewed;
#   3. playbooks/demo.yml records a small fleet and runs a deployment against it;
#   4. `overdue-fsm list` shows that fleet, as any pipeline would see it;
#   5. `overdue-fsm warnings --due` shows the warnings due for it, each sent once (step 3 sent
#      them; notify_before_deadline.yml, the scheduled job, finds nothing left to send).
#   6. `overdue-fsm metrics` writes what Prometheus would scrape of it (a node-exporter textfile).
set -euo pipefail
cd "$(dirname "$0")/.."

demo_dir="$PWD/.demo"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
export OVERDUE_FSM_STORE="sqlite:///$demo_dir/clusters.db"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
phase_at() {
  overdue-fsm status "$1" --now "$2" --json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["phase"])'
}
verdict_at() { overdue-fsm check "$1" "$2" --now "$3" 2>/dev/null || true; }

say "1. A pay-as-you-go cluster: the balance goes negative on 2026-01-01"
overdue-fsm observe c-walk-payg --billing PayAsYouGo --balance -11.19 --at 2026-01-01T00:00:00Z |
  sed -n 1p
printf '\n%-22s %-14s %-10s %s\n' "at" "phase" "scale_out" "submit_task"
for now in 2025-12-31T00:00:00Z 2026-01-01T00:00:00Z 2026-01-01T23:59:59Z 2026-01-02T00:00:00Z \
           2026-01-16T00:00:00Z 2026-03-01T23:59:59Z 2026-03-02T00:00:00Z; do
  printf '%-22s %-14s %-10s %s\n' "$now" "$(phase_at c-walk-payg "$now")" \
    "$(verdict_at c-walk-payg scale_out "$now")" "$(verdict_at c-walk-payg submit_task "$now")"
done
printf '\nWhy, on day 16:\n'
overdue-fsm check c-walk-payg submit_task --now 2026-01-17T00:00:00Z >/dev/null 2>"$demo_dir/why" || true
sed 's/^/  /' "$demo_dir/why"
printf '\nThe transitions, each at its own instant:\n'
overdue-fsm timeline c-walk-payg --now 2026-03-02T00:00:00Z

say "2. A subscription expires on 2026-02-01 and is renewed on 2026-02-03"
overdue-fsm observe s-walk-sub --billing Subscription --expires-at 2026-02-01T00:00:00Z \
  --balance 100 --at 2026-01-01T00:00:00Z >/dev/null
printf 'on 2026-02-02: %s (scale_out: %s)\n' "$(phase_at s-walk-sub 2026-02-02T00:00:00Z)" \
  "$(verdict_at s-walk-sub scale_out 2026-02-02T00:00:00Z)"
overdue-fsm observe s-walk-sub --renewed-until 2027-06-01T00:00:00Z --at 2026-02-03T00:00:00Z

say "3. The deployment playbook (playbooks/demo.yml) on a small fleet"
printf '%s\n' "Expected below: one [ERROR] for c-demo-restricted. The nightly-job gate fails there" \
  "(task submission is blocked on a restricted cluster), is rescued, and the play goes on."
bash playbooks/run-playbook.sh playbooks/demo.yml

say "4. The fleet as a pipeline sees it: overdue-fsm list"
overdue-fsm list

say "5. The warnings due for the fleet: overdue-fsm warnings --due"
overdue-fsm warnings --due
printf '\nThe scheduled job sends each warning once; step 3 already sent these:\n'
bash playbooks/run-playbook.sh -i playbooks/inventory/fleet.overdue_clusters.yml \
  playbooks/notify_before_deadline.yml | sed -n 's/^ *msg: /  /p'

say "6. The metrics it would export: overdue-fsm metrics --textfile .demo/overdue_emr.prom"
overdue-fsm metrics --textfile "$demo_dir/overdue_emr.prom"
# Each phase is one series per cluster; the zeros (the phases a cluster is not in) are left out here.
grep -v -e '^# HELP' -e 'phase="[a-z_]*"} 0.0$' "$demo_dir/overdue_emr.prom"

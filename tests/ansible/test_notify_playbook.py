"""playbooks/notify_before_deadline.yml with the real ansible-playbook: each warning sent once."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import PLAYBOOKS, record

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

NOTIFY = PLAYBOOKS / "notify_before_deadline.yml"
INVENTORY = str(PLAYBOOKS / "inventory" / "fleet.overdue_clusters.yml")
SEND = "Send each warning that fell due"
COUNT = "Count the warnings sent by this run"


def sent(run: Any) -> list[str]:
    return sorted(e["msg"] for e in run.items(SEND) if e["status"] == "ok")


@pytest.fixture
def fleet(store_url: str) -> None:
    """Overdue since 2026-02-01; a subscription ending 2026-02-10; one paid-up cluster."""
    for n in range(3):
        record(
            store_url,
            f"c-overdue-{n}",
            billing="pay_as_you_go",
            account="team-data",
            balance="-5",
            overdue_since="2026-02-01T00:00:00Z",
            now="2026-02-01T00:00:00Z",
        )
    record(
        store_url,
        "s-ending",
        billing="subscription",
        account="team-web",
        expires_at="2026-02-10T00:00:00Z",
        balance="50",
        now="2026-02-01T00:00:00Z",
    )
    record(store_url, "c-paid", billing="pay_as_you_go", balance="50", now="2026-02-01T00:00:00Z")


def test_each_warning_is_sent_once_across_runs_and_forks(playbook: Any, fleet: None) -> None:
    first = playbook(NOTIFY, "-i", INVENTORY, "--forks", "5", now="2026-02-03T00:00:00Z")
    assert first.rc == 0, first.output
    # Day 2 of the episode: the restriction on day 15 is 12 days off; the subscription ends in 7.
    assert sent(first) == [
        "notify team-web: s-ending expires (its subscription ends) within 7d, on "
        "2026-02-10T00:00:00Z; to prevent it, renew the subscription (recharge first if the "
        "account is overdue)"
    ]
    # The overdue clusters were suspended on 2026-02-02: that step is behind them, unwarned.
    [count] = first.task(COUNT)
    assert count["msg"] == "1 warning(s) sent"

    second = playbook(NOTIFY, "-i", INVENTORY, "--forks", "5", now="2026-02-03T01:00:00Z")
    assert second.rc == 0, second.output
    assert sent(second) == []
    assert second.task(COUNT)[0]["msg"] == "0 warning(s) sent"

    # A week later the restriction is 7 days off: one warning per overdue cluster, once.
    later = "2026-02-09T00:00:00Z"
    third = playbook(NOTIFY, "-i", INVENTORY, "--forks", "5", now=later)
    assert third.rc == 0, third.output
    assert sent(third) == [
        f"notify team-data: c-overdue-{n} is restricted (task submission blocked) within 7d, on "
        "2026-02-16T00:00:00Z; to prevent it, recharge the account"
        for n in range(3)
    ] + [
        "notify team-web: s-ending expires (its subscription ends) within 24h, on "
        "2026-02-10T00:00:00Z; to prevent it, renew the subscription (recharge first if the "
        "account is overdue)"
    ]
    again = playbook(NOTIFY, "-i", INVENTORY, "--forks", "5", now=later)
    assert sent(again) == []


def test_check_mode_shows_what_would_be_sent_and_issues_nothing(playbook: Any, fleet: None) -> None:
    preview = playbook(NOTIFY, "-i", INVENTORY, "--check", now="2026-02-03T00:00:00Z")
    assert preview.rc == 0, preview.output
    assert len(sent(preview)) == 1
    real = playbook(NOTIFY, "-i", INVENTORY, now="2026-02-03T00:00:00Z")
    assert sent(real) == sent(preview)  # the preview issued nothing

"""The invariants every reliability case ends with, computed from the database and the provider's side.

1. every due step has exactly one ``campaign_logs`` row: no step logged twice, no step the cursor
   passed without a log, no step still due at the last run time (leads set aside by validation, paused
   campaigns and contact steps inside their campaign's quiet hours wait, by design);
2. ``campaign_stats`` equals the counts of the logs;
3. no outbound message or call was made twice: deliveries counted on the provider's side per
   (campaign, lead, step) -- not per key, so a key that changed between attempts would show -- and
   every delivery is accounted for by a log row (a SENT row, or a FAILED row that says the outcome is
   unknown), every SENT contact step by exactly one delivery; appointments and stage moves likewise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, text

from include.campaigns.engine.due import Step, due_chain

CONTACT = ("send_message", "make_call")
ENDING_REASONS = ("max_contacts_reached", "goal_reached", "lead_not_found", "lead_replied")  # STOPPED by one of them
UNKNOWN_OUTCOME_MARKERS = ("may have gone out", "outcome unknown")


@dataclass
class Report:
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    steps_checked: int = 0
    deliveries_checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.problems)

    def __str__(self) -> str:
        parts = [f"{len(self.duplicates)} duplicate(s)", f"{len(self.lost)} lost step(s)",
                 f"{len(self.problems)} other problem(s)"]
        lines = [", ".join(parts)]
        for title, items in (("duplicates", self.duplicates), ("lost", self.lost), ("problems", self.problems)):
            lines += [f"  {title}: {i}" for i in items[:20]]
        return "\n".join(lines)


def _rows(conn, sql: str, **params):
    return conn.execute(text(sql), params).all()


def check(engine: Engine, *, at: datetime | None = None, deferred_leads: Iterable[int] = (),
          deliveries: Iterable[tuple[int, int, int]] | None = None) -> Report:
    """``at``: the run time of the last run (steps due then must have run); ``deliveries``: the real
    deliveries on the provider's side as (campaign, lead, step) -- default: the sandbox's accepted
    ``outbound_messages``."""
    report = Report()
    deferred = set(deferred_leads)
    with engine.connect() as c:
        # 1a. one row per step, one max_contacts stop per enrolment
        for cid, lid, step, n in _rows(c, "SELECT campaign_id, lead_id, step_number, count(*) FROM campaign_logs "
                                          "WHERE step_number IS NOT NULL GROUP BY 1, 2, 3 HAVING count(*) > 1"):
            report.duplicates.append(f"campaign {cid} lead {lid} step {step} logged {n} times")
        for cid, lid, reason, n in _rows(c, "SELECT campaign_id, lead_id, reason, count(*) FROM campaign_logs WHERE "
                                            "reason IN ('max_contacts_reached', 'goal_reached') GROUP BY 1, 2, 3 "
                                            "HAVING count(*) > 1"):
            report.duplicates.append(f"campaign {cid} lead {lid}: {reason} logged {n} times")
        # 2. stats = logs
        for (cid,) in _rows(c, """
                SELECT coalesce(s.campaign_id, l.campaign_id) FROM campaign_stats s FULL JOIN (
                  SELECT campaign_id, count(*) FILTER (WHERE status = 'SENT') sent,
                         count(*) FILTER (WHERE status = 'FAILED') failed,
                         count(*) FILTER (WHERE status = 'SKIPPED') skipped
                  FROM campaign_logs GROUP BY campaign_id) l ON l.campaign_id = s.campaign_id
                WHERE (s.sent, s.failed, s.skipped) IS DISTINCT FROM (l.sent, l.failed, l.skipped)"""):
            report.problems.append(f"campaign_stats of campaign {cid} differs from its logs")
        # 1b. cursors vs logs, and nothing left due
        steps: dict[int, list[Step]] = defaultdict(list)
        for r in _rows(c, "SELECT campaign_id, step_number, action, delay_hours FROM campaign_steps "
                          "ORDER BY campaign_id, step_number"):
            steps[r.campaign_id].append(Step(r.step_number, r.action, float(r.delay_hours)))
        status = dict(_rows(c, "SELECT id, status FROM campaigns"))
        logged: dict[tuple[int, int], dict[int, tuple[str, str, str | None]]] = defaultdict(dict)
        for r in _rows(c, "SELECT campaign_id, lead_id, step_number, action, status, reason FROM campaign_logs "
                          "WHERE step_number IS NOT NULL"):
            logged[(r.campaign_id, r.lead_id)][r.step_number] = (r.action, r.status, r.reason)
            report.steps_checked += 1
        stopped_logged = {(r.campaign_id, r.lead_id) for r in _rows(
            c, "SELECT campaign_id, lead_id FROM campaign_logs WHERE reason = ANY(:r)", r=list(ENDING_REASONS))}
        set_aside = {r.lead_id for r in _rows(c, "SELECT lead_id FROM lead_snapshots WHERE rejected")}
        for e in _rows(c, "SELECT e.campaign_id, e.lead_id, e.enrolled_at, e.last_step_number, e.last_step_at, "
                          "e.status, campaign_quiet_at(c.quiet_hours, CAST(:at AS timestamptz), "
                          "coalesce(l.timezone, b.timezone)) AS quiet FROM campaign_enrolments e "
                          "JOIN campaigns c ON c.id = e.campaign_id LEFT JOIN leads l ON l.id = e.lead_id "
                          "LEFT JOIN brokers b ON b.id = c.broker_id", at=at):
            key = (e.campaign_id, e.lead_id)
            numbers = [s.number for s in steps[e.campaign_id]]
            passed = {n for n in numbers if n <= e.last_step_number}
            have = set(logged.get(key, {}))
            for n in sorted(passed - have):
                report.lost.append(f"campaign {e.campaign_id} lead {e.lead_id} step {n}: cursor passed it, no log")
            for n in sorted(have - passed):
                report.problems.append(f"campaign {e.campaign_id} lead {e.lead_id} step {n}: logged beyond the "
                                       f"cursor ({e.last_step_number})")
            if e.status == "STOPPED" and key not in stopped_logged:
                report.problems.append(f"campaign {e.campaign_id} lead {e.lead_id}: STOPPED without its log row")
            if (at is not None and e.status == "ACTIVE" and status.get(e.campaign_id) == "ACTIVE"
                    and e.lead_id not in deferred and e.lead_id not in set_aside):
                due = due_chain(e.last_step_number, e.last_step_at or e.enrolled_at, steps[e.campaign_id], at)
                action = {s.number: s.action for s in steps[e.campaign_id]}
                if e.quiet:  # a contact step inside quiet hours waits for the window's end, and so do the next
                    due = due[:next((i for i, n in enumerate(due) if action[n] in CONTACT), len(due))]
                for n in due:
                    report.lost.append(f"campaign {e.campaign_id} lead {e.lead_id} step {n}: due at {at:%Y-%m-%d %H:%M}"
                                       " but not executed")
        # 3. the provider's side
        if deliveries is None:
            deliveries = [tuple(r) for r in _rows(c, "SELECT campaign_id, lead_id, step_number FROM outbound_messages "
                                                     "WHERE status = 'ACCEPTED'")]
            for cid, lid, step, n in _rows(c, "SELECT campaign_id, lead_id, step_number, count(*) FROM "
                                              "outbound_messages GROUP BY 1, 2, 3 HAVING count(*) > 1"):
                report.duplicates.append(f"campaign {cid} lead {lid} step {step}: {n} outbound messages")
        per_step = Counter(tuple(d) for d in deliveries)
        report.deliveries_checked = sum(per_step.values())
        for (cid, lid, step), n in per_step.items():
            if n > 1:
                report.duplicates.append(f"campaign {cid} lead {lid} step {step} delivered {n} times by the provider")
            entry = logged.get((cid, lid), {}).get(step)
            if entry is None:
                report.lost.append(f"campaign {cid} lead {lid} step {step}: delivered but never logged")
            elif entry[1] != "SENT" and not any(m in (entry[2] or "") for m in UNKNOWN_OUTCOME_MARKERS):
                report.problems.append(f"campaign {cid} lead {lid} step {step}: delivered but logged {entry[1]} "
                                       f"({entry[2]})")
        for (cid, lid), entries in logged.items():
            for step, (action, st, _reason) in entries.items():
                if action in CONTACT and st == "SENT" and per_step.get((cid, lid, step), 0) != 1:
                    report.problems.append(f"campaign {cid} lead {lid} step {step}: SENT but delivered "
                                           f"{per_step.get((cid, lid, step), 0)} times")
        appts = Counter(tuple(r) for r in _rows(c, "SELECT campaign_id, lead_id, step_number FROM appointments"))
        moves = Counter(tuple(r) for r in _rows(c, "SELECT campaign_id, lead_id, step_number FROM lead_stage_history"))
        for (cid, lid), entries in logged.items():
            for step, (action, st, _reason) in entries.items():
                side = appts if action == "schedule_meeting" else moves if action == "update_stage" else None
                if side is not None and side.get((cid, lid, step), 0) != (1 if st == "SENT" else 0):
                    report.problems.append(f"campaign {cid} lead {lid} step {step} ({action} {st}): "
                                           f"{side.get((cid, lid, step), 0)} side effects")
        for kind, side in (("appointments", appts), ("stage moves", moves)):
            for (cid, lid, step), n in side.items():
                if n > 1:
                    report.duplicates.append(f"campaign {cid} lead {lid} step {step}: {n} {kind}")
    return report

"""The data set and the changes before each sweep of the 20,000-lead reference test
(tests/integration/test_reference.py), drawn from one seeded RNG; the CRM world itself is in reference_data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from tests.reference_model import Reference, Sweep
from tests.support import reference_data as d

SEED = 20261125
N_LEADS = 20_000
# Stage changes the CRM makes without touching updated_at: change detection compares the columns the
# triggers and validation read, never updated_at.
CHANGES_WITHOUT_UPDATED_AT = 12


class Scenario:
    """The data set and the changes before each sweep, drawn from one seeded RNG. The changes of a sweep
    are drawn when it comes, from the reference's state (which leads are enrolled, valid, their stage now)."""

    def __init__(self, seed: int = SEED, n_leads: int = N_LEADS) -> None:
        self.rng = rng = random.Random(seed)
        self.brokers = [{k: b[k] for k in ("id", "name", "timezone")} for b in d.BROKERS]
        self.pipelines = {b: list(stages) for b, stages in d.PIPELINES_AT_START.items()}
        self.agents = [{"id": b["id"] * 100 + k, "broker_id": b["id"],
                        "full_name": f"{rng.choice(d.NAMES[b['id']][0])} {rng.choice(d.NAMES[b['id']][1])}",
                        "email": f"agente{b['id'] * 100 + k}@example.com",
                        "phone": b["cc"] + "0" * (b["digits"] - 2) + f"{k:02d}"} for b in d.BROKERS for k in range(8)]
        self.agents_of = {b["id"]: [a["id"] for a in self.agents if a["broker_id"] == b["id"]] for b in d.BROKERS}
        self.templates = [t for b in d.BROKERS for t in d.templates_of(b["id"])]
        specs = [c for b in d.BROKERS for c in d.campaigns_of(b["id"])]
        self.schedules = {cid: spec["schedule"] for cid, spec in enumerate(specs, start=1)}
        self.trigger_of = {cid: spec["trigger_type"] for cid, spec in enumerate(specs, start=1)}
        self.campaigns = [{"id": cid, "status": d.status_at(spec["schedule"], "R0"),
                           **{k: spec[k] for k in ("broker_id", "name", "channel", "trigger_type", "trigger_config",
                                                   "max_contacts", "quiet_hours", "goal")}}
                          for cid, spec in enumerate(specs, start=1)]
        self.frequency_caps = d.caps(d.FREQUENCY_CAPS)
        self.steps = [{"campaign_id": cid, "step_number": n, **st}
                      for cid, spec in enumerate(specs, start=1) for n, st in enumerate(spec["steps"], start=1)]
        self.leads = [d.make_lead(rng, i, d.BROKERS[(i - 1) % 4], self.agents_of[(i - 1) % 4 + 1])
                      for i in range(1, n_leads + 1)]
        self.lead_by_id = {lead["id"]: lead for lead in self.leads}
        self.malformed: dict[int, dict] = {}  # lead id -> the good values its bad columns replaced
        self.kind: dict[int, str] = {}
        for lead in rng.sample(self.leads, n_leads // 200):
            self.kind[lead["id"]] = kind = rng.choice(d.MALFORMATIONS)
            bad = d.malformation(rng, kind, lead)
            self.malformed[lead["id"]] = {k: lead[k] for k in bad}
            lead.update(bad)
        # inactivity boundaries: exactly 30 days before R2 (campaign C), exactly 14 days before R3 (campaign G)
        plain = [lead for lead in self.leads if lead["id"] not in self.malformed]
        for lead in rng.sample(plain, 40):
            lead["last_activity_at"] = d.RUN_TIMES["R2"] - timedelta(days=30)
        for lead in rng.sample(plain, 40):
            lead["last_activity_at"] = d.RUN_TIMES["R3"] - timedelta(days=14)
        for lead in rng.sample(plain, 30):  # exactly at the score thresholds: no trigger
            lead["score"] = rng.choice([70, 75, 80, 85])
        # 10 % are new at R1; the others were seen by R0, ~7 % of them in the previous funnel stage then
        self.new_at_r1 = {lead["id"] for lead in rng.sample(self.leads, n_leads // 10)}
        self.previous_stage = {}
        for lead in self.leads:
            role = d.ROLE_OF.get((lead["broker_id"], lead["stage"]))
            if lead["id"] not in self.new_at_r1 and role in d.FUNNEL_BEFORE and rng.random() < 0.07:
                self.previous_stage[lead["id"]] = d.word(lead["broker_id"], d.FUNNEL_BEFORE[role])
        self.next_id = n_leads + 1
        self.made_malformed: dict[int, dict] = {}
        self.changed: set[int] = set()  # leads whose read columns some sweep's changes touched
        self.deleted: list[int] = []

    def at_r0(self) -> list[dict]:
        """What R0 sees: the leads seen before R1, in their previous stage."""
        return [dict(lead, stage=self.previous_stage.get(lead["id"], lead["stage"]))
                for lead in self.leads if lead["id"] not in self.new_at_r1]

    # sweeps ----------------------------------------------------------------------------------------
    def sweep(self, name: str, ref: Reference) -> Sweep:
        s = Sweep(run_id=f"reference__{name}", run_at=d.RUN_TIMES[name])
        if name == "R0":
            return s
        previous = list(d.RUN_TIMES)[list(d.RUN_TIMES).index(name) - 1]
        s.campaign_status = {cid: d.status_at(sched, name) for cid, sched in self.schedules.items()
                             if d.status_at(sched, name) != d.status_at(sched, previous)}
        if name == "R4":  # broker 4's admin adds a cap (contacts from before it count at once); 3's drops its
            s.frequency_caps = {b: [{"channel": ch, "max_contacts": m, "per_hours": h} for ch, m, h in rows_]
                                for b, rows_ in d.FREQUENCY_CAPS_AT_R4.items()}
        changed_at = d.RUN_TIMES[previous] + (d.RUN_TIMES[name] - d.RUN_TIMES[previous]) / 2
        getattr(self, f"_changes_{name}")(s, ref, changed_at)
        self.changed |= {lid for lid, values in s.lead_updates.items() if set(values) - {"updated_at"}}
        return s

    def _changes_R1(self, s: Sweep, ref: Reference, at: datetime) -> None:
        rng = self.rng
        quiet = set(rng.sample(sorted(self.previous_stage), CHANGES_WITHOUT_UPDATED_AT))
        for lead_id in sorted(self.previous_stage):
            s.lead_updates[lead_id] = {"stage": self.lead_by_id[lead_id]["stage"]}
            if lead_id not in quiet:
                s.lead_updates[lead_id]["updated_at"] = at
        for lead_id in sorted(self.new_at_r1):
            lead = dict(self.lead_by_id[lead_id])
            if rng.random() < 0.75:  # most arrive now; the others are a CRM import with an old updated_at
                lead["updated_at"] = at
            s.new_leads.append(lead)

    def _valid_leads(self, ref: Reference) -> list[dict]:
        return [lead for lid, lead in sorted(ref.leads.items())
                if not ref.is_set_aside(lid) and lid not in self.malformed]

    def _enrolled_leads(self, ref: Reference, s: Sweep) -> list[int]:
        return sorted({lid for (_c, lid), e in ref.enrolments.items()
                       if e.status == "ACTIVE" and lid not in s.lead_updates and not ref.is_set_aside(lid)})

    def _score_stage_activity(self, s: Sweep, ref: Reference, at: datetime, n: int) -> None:
        rng = self.rng
        for lead in rng.sample(self._valid_leads(ref), n):
            change = rng.choice(("score", "stage", "activity"))
            if change == "score":
                values = {"score": min(100, lead["score"] + rng.randint(15, 40))}
            elif change == "stage":
                role = rng.choice(["qualified", "qualified", "contacted", "negotiation", "lost"])
                values = {"stage": d.word(lead["broker_id"], role)}
            else:
                values = {"last_activity_at": at - timedelta(minutes=rng.randint(1, 20))}
            s.lead_updates.setdefault(lead["id"], {}).update(values, updated_at=at)

    def _goal_moves(self, s: Sweep, ref: Reference, at: datetime, n: int) -> None:
        """The CRM closes ``n`` leads enrolled in a campaign whose goal is the won stage: won, or lost."""
        rng = self.rng
        goal_of = {cid: c["goal"]["stages"] for cid, c in ref.campaigns.items()
                   if c["goal"] and d.word(c["broker_id"], "won") in c["goal"]["stages"]}
        enrolled = sorted({lid for (cid, lid), e in ref.enrolments.items()
                           if e.status == "ACTIVE" and cid in goal_of and lid in ref.leads})
        for lead_id in rng.sample([lid for lid in enrolled if lid not in s.lead_updates and not ref.is_set_aside(lid)],
                                  n):
            broker_id = ref.leads[lead_id]["broker_id"]
            role = "won" if rng.random() < 0.7 else "lost"
            s.lead_updates[lead_id] = {"stage": d.word(broker_id, role), "updated_at": at}

    def _new_leads(self, s: Sweep, n: int, at: datetime, bad: int = 0) -> None:
        """``n`` leads the CRM creates, the first ``bad`` of them rows validation must set aside."""
        for k in range(n):
            broker = d.BROKERS[self.next_id % 4]
            lead = d.make_lead(self.rng, self.next_id, broker, self.agents_of[broker["id"]])
            lead["updated_at"] = at
            if lead["last_activity_at"] is not None:
                lead["last_activity_at"] = min(lead["last_activity_at"], at)
            if k < bad:
                kind = self.rng.choice([k for k in d.MALFORMATIONS if k != "future_activity"])
                lead.update(d.malformation(self.rng, kind, lead))
            s.new_leads.append(lead)
            self.next_id += 1

    def _changes_R2(self, s: Sweep, ref: Reference, at: datetime) -> None:
        rng = self.rng
        s.pipelines = {b: list(stages) for b, stages in d.PIPELINE_CHANGES_AT_R2.items()}
        self._score_stage_activity(s, ref, at, 600)
        self._goal_moves(s, ref, at, 40)  # campaign F is paused now: its goal is seen when it resumes
        enrolled = self._enrolled_leads(ref, s)
        for lead_id in rng.sample(enrolled, 30):
            s.lead_updates.setdefault(lead_id, {}).update(do_not_contact=True, updated_at=at)
        for lead_id in rng.sample(enrolled, 20):
            s.lead_updates.setdefault(lead_id, {}).update(phone=None, updated_at=at)
        enrolled = self._enrolled_leads(ref, s)
        # an unknown time zone only where no campaign with quiet hours waits for the lead: the engine's plan
        # fails on it (test_an_unknown_time_zone_of_a_set_aside_lead_does_not_fail_the_plan)
        quiet = {lid for (cid, lid), e in ref.enrolments.items()
                 if e.status == "ACTIVE" and ref.campaigns[cid]["quiet_hours"]}
        for lead_id in rng.sample(enrolled, 40):  # set aside at R2: its due steps wait until R3
            lead = ref.leads[lead_id]
            kind = rng.choice(["score_high", "unknown_stage", "unknown_timezone", "bad_email"])
            if kind == "unknown_timezone" and lead_id in quiet:
                kind = "score_high"
            bad = d.malformation(rng, kind, lead)
            self.made_malformed[lead_id] = {k: lead[k] for k in bad}
            s.lead_updates[lead_id] = {**bad, "updated_at": at}
        enrolled = self._enrolled_leads(ref, s)
        self.deleted = s.deleted_leads = rng.sample(enrolled, 12)  # the CRM deletes enrolled leads
        self._new_leads(s, 50, at)

    def _changes_R3(self, s: Sweep, ref: Reference, at: datetime) -> None:
        rng = self.rng
        for lead_id, good in sorted(self.made_malformed.items()):
            s.lead_updates[lead_id] = {**good, "updated_at": at}
        # some leads set aside since 'descartado' left the pipeline are moved on (enrolled ones first)
        dropped = [lid for lid, lead in sorted(ref.leads.items()) if lead["stage"] == "descartado"]
        enrolled = {lid for (_c, lid), e in ref.enrolments.items() if e.status == "ACTIVE"}
        moved_on = [lid for lid in dropped if lid in enrolled][:10] + [lid for lid in dropped if lid not in enrolled][:5]
        for lead_id in moved_on:
            s.lead_updates[lead_id] = {"stage": d.word(1, "lost"), "updated_at": at}
        # some original bad rows are fixed
        fixable = [lid for lid in sorted(self.malformed) if self.kind[lid] != "future_activity" and lid in ref.leads]
        for lead_id in rng.sample(fixable, 12):
            s.lead_updates[lead_id] = {**self.malformed.pop(lead_id), "updated_at": at}
        self._score_stage_activity(s, ref, at, 400)
        self._goal_moves(s, ref, at, 40)  # most of campaign A's have no step due before R4
        self._new_leads(s, 50, at, bad=8)

    def _changes_R4(self, s: Sweep, ref: Reference, at: datetime) -> None:
        rng = self.rng
        self._score_stage_activity(s, ref, at, 300)
        # a stage changed and changed back between two sweeps is no change
        for lead in rng.sample(self._valid_leads(ref), 20):
            if lead["id"] not in s.lead_updates:
                s.lead_updates[lead["id"]] = {"stage": lead["stage"], "updated_at": at}
        # the CRM touches bad rows without changing what validation reads: they are not read again
        set_aside = [lid for lid in sorted(ref.leads) if ref.is_set_aside(lid) and lid not in s.lead_updates]
        for lead_id in rng.sample(set_aside, 30):
            s.lead_updates[lead_id] = {"updated_at": at}
        # ... and changes others, which are still bad: they are read again (with their reasons now)
        set_aside = [lid for lid in set_aside if lid not in s.lead_updates]
        for lead_id in rng.sample(set_aside, 10):
            s.lead_updates[lead_id] = {"email": "sin-arroba.correo.com", "updated_at": at}
        self._new_leads(s, 30, at, bad=5)
        self._goal_moves(s, ref, at, 20)

    def _changes_R5(self, s: Sweep, ref: Reference, at: datetime) -> None:
        self._score_stage_activity(s, ref, at, 200)
        self._goal_moves(s, ref, at, 20)
        self._new_leads(s, 20, at)

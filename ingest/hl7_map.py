"""HL7 v2 ORU^R01 and SIU^S12-S15 to Remission Watch events (docs/ingest.md has the tables).

Event ids follow docs/wire-format.md: an observation is `<source>:<OBR-3>:<OBX-3>:<OBX-4>`; a
correction is `<observation>:C:<MSH-10>` and its replacement `<observation>@<MSH-10>`; a
retraction `<observation>:<W|D>:<MSH-10>`. A correction targets the latest replacement of the
observation known to the ledger (ordered by MSH-7, then MSH-10), so a chain of corrections
folds to the last one whatever the fold's order; a correction older than one already applied
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.chains import correction_target, latest
from ingest.config import Feed
from ingest.hl7_fields import Header, MessageError, Reader, Segment, parse_dtm
from ingest.ledger import Ledger
from models.events import (
    Event,
    EventCorrected,
    EventRetracted,
    LabResulted,
    ResultStatus,
    ScanCancelled,
    ScanCompleted,
    ScanFinding,
    ScanResulted,
    ScanScheduled,
)

_FINAL = {"F": ResultStatus.FINAL, "U": ResultStatus.FINAL, "V": ResultStatus.FINAL,
          "A": ResultStatus.FINAL, "X": ResultStatus.CANNOT_OBTAIN}  # fmt: skip
_RETRACT = {"W": "OBX-11 W: wrong patient", "D": "OBX-11 D: deleted"}
_COMPARATORS = {"<", "<=", ">", ">="}
_SEVERITY = [ScanFinding.NO_EVIDENCE_OF_DISEASE, ScanFinding.INDETERMINATE,
             ScanFinding.SUSPICIOUS, ScanFinding.PROGRESSION]  # fmt: skip
_SCHEDULING = {"S12", "S13", "S14"}
_CANCELLING = {"S15"}


@dataclass
class Mapped:
    """The events of one message and what was left out (counts only: no data)."""

    events: list[Event] = field(default_factory=list)
    ignored: int = 0
    # the event type a retraction's target has (its topic); a lab result when not named
    targets: dict[str, str] = field(default_factory=dict)

    def topic_of(self, retraction: EventRetracted) -> str:
        return self.targets.get(retraction.event_id, "lab.resulted")


@dataclass
class Context:
    reader: Reader
    header: Header
    feed: Feed
    patient_id: str
    recorded_at: datetime
    ledger: Ledger
    known_lab: Callable[[str], bool] | None = None  # LOINC codes surveillance uses

    def wants_lab(self, loinc: str) -> bool:
        return self.feed.wants_lab(loinc, self.known_lab)

    @property
    def source(self) -> str:
        return self.feed.source

    def when(self, text: str, where: str) -> datetime:
        return parse_dtm(text, self.feed.zone, where) if text else self.recorded_at

    def envelope(self, event_id: str, occurred_at: datetime) -> dict[str, object]:
        return {
            "event_id": event_id,
            "patient_id": self.patient_id,
            "occurred_at": occurred_at,
            "recorded_at": self.recorded_at,
            "source": self.source,
        }


def find_mrn(reader: Reader, feed: Feed) -> str:
    """The MRN from PID-3: the repetition whose type (PID-3.5) and assigning authority (PID-3.4)
    match the feed's rule."""
    pid = _segment(reader, "PID")
    rule = feed.mrn
    for rep in range(1, reader.repetitions(pid, 3) + 1):
        value = reader.get(pid, 3, 1, rep)
        kind, authority = reader.get(pid, 3, 5, rep), reader.get(pid, 3, 4, rep)
        if not value or (rule.type and kind != rule.type):
            continue
        if rule.assigning_authority is None or authority == rule.assigning_authority:
            return value
    raise MessageError(
        f"PID-3 has no identifier of type {rule.type or 'any'} from "
        f"{rule.assigning_authority or 'any authority'}",
        "101",
        where="PID^1^3",
    )


def map_message(ctx: Context) -> Mapped:
    kind = ctx.header.message_type
    if kind == "ORU" and ctx.header.trigger == "R01":
        return _map_oru(ctx)
    if kind == "SIU":
        return _map_siu(ctx)
    raise MessageError(f"message type {kind}^{ctx.header.trigger} is not taken", "200", "AR")


def _segment(reader: Reader, name: str) -> Segment:
    try:
        return reader.segment(name)
    except KeyError:
        raise MessageError(f"no {name} segment", "100", where=name) from None


# ---------------------------------------------------------------------------- ORU


def _map_oru(ctx: Context) -> Mapped:
    out = Mapped()
    obr: Segment | None = None
    orc: Segment | None = None
    pending: list[Segment] = []
    for segment in ctx.reader.segments:
        tag = segment.tag
        if tag == "ORC":
            orc = segment
        elif tag == "OBR":
            if obr is not None:
                _map_order(ctx, obr, orc, pending, out)
            obr, pending = segment, []
        elif tag == "OBX" and obr is not None:
            pending.append(segment)
    if obr is not None:
        _map_order(ctx, obr, orc, pending, out)
    return out


def _map_order(
    ctx: Context, obr: Segment, orc: Segment | None, obxs: list[Segment], out: Mapped
) -> None:
    r = ctx.reader
    order_id = r.get(obr, 3) or r.get(obr, 2) or (r.get(orc, 3) if orc is not None else "")
    if not order_id:
        raise MessageError("OBR-3 and OBR-2 are both empty", "101", where="OBR^1^3")
    items = _items(ctx, obr)
    if items:
        _map_imaging(ctx, obr, order_id, items, obxs, out)
        return
    for obx in obxs:
        _map_lab(ctx, obr, order_id, obx, out)


def _items(ctx: Context, obr: Segment) -> list[str]:
    """The surveillance items OBR-4's procedure codes map to (each repetition, both codings)."""
    r, found = ctx.reader, []
    for rep in range(1, r.repetitions(obr, 4) + 1):
        for comp in (1, 4):
            item = ctx.feed.procedures.get(r.get(obr, 4, comp, rep))
            if item and item not in found:
                found.append(item)
    return found


def _loinc(ctx: Context, obx: Segment) -> str | None:
    r = ctx.reader
    for code, system in ((1, 3), (4, 6)):
        if r.get(obx, 3, system) == "LN" and r.get(obx, 3, code):
            return r.get(obx, 3, code)
    for code in (1, 4):
        mapped = ctx.feed.loinc.get(r.get(obx, 3, code))
        if mapped:
            return mapped
    return None


def _value(ctx: Context, obx: Segment) -> tuple[float | None, str | None]:
    """OBX-5 as a number and a comparator: NM `0.04`, SN `<^0.1` (censored), SN `^182`."""
    r, kind = ctx.reader, ctx.reader.get(obx, 2)
    text = r.field(obx, 5)
    if not text or kind not in ("NM", "SN"):
        return None, None
    comparator = None
    if kind == "SN":
        comparator, number, separator = r.get(obx, 5, 1), r.get(obx, 5, 2), r.get(obx, 5, 3)
        if separator:  # a range or a ratio (1^-^5, 1^:^128): not one value
            return None, None
        comparator = comparator if comparator in _COMPARATORS else None
    else:
        number = r.get(obx, 5)
    try:
        return float(number), comparator
    except ValueError:
        reason = f"OBX-5 is not a number for OBX-2 {kind}"
        raise MessageError(reason, "102", where="OBX^5") from None


def _map_lab(ctx: Context, obr: Segment, order_id: str, obx: Segment, out: Mapped) -> None:
    r = ctx.reader
    status = r.get(obx, 11).upper()
    loinc = _loinc(ctx, obx)
    if status not in ctx.feed.accepted_statuses or loinc is None or not ctx.wants_lab(loinc):
        out.ignored += 1
        return
    observation = f"{ctx.source}:{order_id}:{r.get(obx, 3)}:{r.get(obx, 4) or '1'}"
    if status in _RETRACT:
        if ctx.ledger.get("hl7-sent", observation) is None and not ctx.ledger.chain(observation):
            out.ignored += 1  # never sent from here: nothing to retract (it would wait forever)
            return
        target = latest(ctx.ledger, observation)
        envelope = ctx.envelope(f"{observation}:{status}:{ctx.header.control_id}", ctx.recorded_at)
        reason = _RETRACT[status]
        out.events.append(EventRetracted(**envelope, target_event_id=target, reason=reason))
        return
    occurred = ctx.when(r.get(obx, 14) or r.get(obr, 7), "OBX^14")
    value, comparator = _value(ctx, obx) if status != "X" else (None, None)
    fields: dict[str, object] = {
        "order_id": order_id,
        "loinc": loinc,
        "value": value,
        "comparator": comparator,
        "unit": r.get(obx, 6)[:32] or None,
        "performing_lab": r.get(obx, 23)[:100] or None,
        "method": (r.get(obx, 17, 2) or r.get(obx, 17))[:100] or None,
    }
    if status == "C":
        fields["status"] = ResultStatus.CORRECTED
        _correct(ctx, observation, LabResulted, occurred, fields, out)
        return
    fields["status"] = _FINAL[status]
    out.events.append(LabResulted(**ctx.envelope(observation, occurred), **fields))
    ctx.ledger.put("hl7-sent", observation, "1")


def _correct(
    ctx: Context,
    observation: str,
    kind: type[LabResulted] | type[ScanResulted],
    occurred: datetime,
    fields: dict[str, object],
    out: Mapped,
) -> None:
    """`event.corrected` of the latest replacement (see ingest.chains)."""
    control = ctx.header.control_id
    stamp = ctx.recorded_at.astimezone(UTC).isoformat()
    links = ctx.ledger.chain(observation)
    mine = next((link for link in links if link[1] == control), None)
    unheard = not links and ctx.ledger.get("hl7-sent", observation) is None
    if (mine is not None and mine[2] == "") or (mine is None and unheard):
        # The first we hear of it (e.g. its final result came before go-live): the corrected
        # value is the fact itself, a link without a target that later corrections chain to;
        # a late original has the same id and changes nothing.
        out.events.append(kind(**ctx.envelope(observation, occurred), **fields))
        ctx.ledger.add_correction(observation, stamp, control, "", observation)
        ctx.ledger.put("hl7-sent", observation, "1")
        return
    target = correction_target(ctx.ledger, observation, stamp, control)
    if target is None:
        out.ignored += 1  # a newer correction is already applied: this one is stale
        return
    replacement = kind(**ctx.envelope(f"{observation}@{control}", occurred), **fields)
    envelope = ctx.envelope(f"{observation}:C:{control}", ctx.recorded_at)
    out.events.append(EventCorrected(**envelope, target_event_id=target, replacement=replacement))


# ---------------------------------------------------------------------------- imaging


def _map_imaging(
    ctx: Context, obr: Segment, order_id: str, items: list[str], obxs: list[Segment],
    out: Mapped,
) -> None:  # fmt: skip
    r = ctx.reader
    # OBR-25, or the results' own status when a sender leaves OBR-25 empty
    status = (r.get(obr, 25) or (r.get(obxs[0], 11) if obxs else "")).upper()
    if status == "X":  # the exam could not be done
        out.ignored += 1
        return
    if status in _RETRACT:
        _retract_imaging(ctx, order_id, items, status, out)
        return
    done_at = ctx.when(r.get(obr, 8) or r.get(obr, 7), "OBR^7")
    finding = _finding(ctx, obxs)
    for item in items:
        order = order_id if len(items) == 1 else f"{order_id}/{item}"
        base = f"{ctx.source}:{order}:{item}"
        out.events.append(
            ScanCompleted(**ctx.envelope(f"{base}:completed", done_at), order_id=order, item=item)
        )
        ctx.ledger.put("hl7-sent", f"{base}:completed", "1")
        if finding is None or status not in ("F", "C"):
            continue
        reported = ctx.when(r.get(obr, 22), "OBR^22")
        fields: dict[str, object] = {"order_id": order, "item": item, "finding": finding}
        if status == "C":
            _correct(ctx, f"{base}:resulted", ScanResulted, reported, fields, out)
        else:
            envelope = ctx.envelope(f"{base}:resulted", reported)
            ctx.ledger.put("hl7-sent", f"{base}:resulted", "1")
            out.events.append(ScanResulted(**envelope, **fields))


def _retract_imaging(
    ctx: Context, order_id: str, items: list[str], status: str, out: Mapped
) -> None:
    """OBR-25 (or OBX-11) W or D on a radiology report: the exam and its result were filed
    wrongly (W: wrong patient) or deleted, so both facts sent from here are retracted."""
    retracted = 0
    for item in items:
        order = order_id if len(items) == 1 else f"{order_id}/{item}"
        base = f"{ctx.source}:{order}:{item}"
        for fact, kind in ((f"{base}:completed", "scan.completed"),
                           (f"{base}:resulted", "scan.resulted")):  # fmt: skip
            if ctx.ledger.get("hl7-sent", fact) is None and not ctx.ledger.chain(fact):
                continue  # never sent from here: nothing to retract (it would wait forever)
            event_id = f"{fact}:{status}:{ctx.header.control_id}"
            envelope = ctx.envelope(event_id, ctx.recorded_at)
            out.events.append(EventRetracted(**envelope, target_event_id=latest(ctx.ledger, fact),
                                             reason=f"OBR-25 {_RETRACT[status][7:]}"))  # fmt: skip
            out.targets[event_id] = kind
            retracted += 1
    if not retracted:
        out.ignored += 1


def _finding(ctx: Context, obxs: list[Segment]) -> ScanFinding | None:
    """The gravest coded finding (CE/CWE OBX-5 codes the feed maps); free text is not read."""
    r, found = ctx.reader, []
    for obx in obxs:
        if r.get(obx, 2) not in ("CE", "CWE", "CNE") or r.get(obx, 11).upper() not in ("F", "C"):
            continue
        for comp in (1, 4):
            mapped = ctx.feed.findings.get(r.get(obx, 5, comp))
            if mapped is not None:
                found.append(mapped)
    return max(found, key=_SEVERITY.index) if found else None


# ---------------------------------------------------------------------------- SIU


def _map_siu(ctx: Context) -> Mapped:
    r, out, trigger = ctx.reader, Mapped(), ctx.header.trigger
    if trigger not in _SCHEDULING | _CANCELLING:
        out.ignored += 1
        return out
    sch = _segment(r, "SCH")
    appointment = r.get(sch, 2) or r.get(sch, 1)
    order_id = r.get(sch, 27) or r.get(sch, 26) or appointment
    if not appointment or not order_id:
        raise MessageError("SCH-1 and SCH-2 are both empty", "101", where="SCH^1^2")
    for ais in r.all("AIS"):
        item = ctx.feed.procedures.get(r.get(ais, 3)) or ctx.feed.procedures.get(r.get(ais, 3, 4))
        if item is None:
            out.ignored += 1
            continue
        base = f"{ctx.source}:appt:{appointment}:{item}"
        if trigger in _CANCELLING:
            envelope = ctx.envelope(f"{base}:cancelled", ctx.recorded_at)
            out.events.append(ScanCancelled(**envelope, order_id=order_id, item=item))
            continue
        start = r.get(ais, 4) or _tq1_start(r) or r.get(sch, 11, 4)
        if not start:
            raise MessageError("no start time in AIS-4, TQ1-7 or SCH-11", "101", where="AIS^1^4")
        when = parse_dtm(start, ctx.feed.zone, "AIS^1^4")
        envelope = ctx.envelope(f"{base}:at:{when.astimezone(UTC):%Y%m%dT%H%M%SZ}", ctx.recorded_at)
        out.events.append(ScanScheduled(**envelope, order_id=order_id, item=item,
                                        scheduled_for=when))  # fmt: skip
    return out


def _tq1_start(reader: Reader) -> str:
    found = reader.all("TQ1")
    return reader.get(found[0], 7) if found else ""

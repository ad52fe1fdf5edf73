"""The set of known protocols, and the choice of one for a patient."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from models.protocols.errors import ProtocolError, ProtocolMismatchError, UnknownProtocolError
from models.protocols.parse import parse_protocol
from models.protocols.profile import ProtocolProfile
from models.protocols.schema import Protocol, Rule
from models.protocols.value_sets import ValueSets


class Catalog:
    """Protocols by id, with the lab-marker value sets their rules name; immutable once built.
    Selection is precomputed per cancer site."""

    __slots__ = ("_by_id", "_by_site", "_codes", "_known", "value_sets")

    def __init__(self, protocols: Iterable[Protocol], value_sets: ValueSets | None = None) -> None:
        self.value_sets = value_sets or ValueSets.empty()
        by_id: dict[str, Protocol] = {}
        for protocol in protocols:
            if protocol.id in by_id:
                raise ProtocolError([f"protocol id {protocol.id!r} given twice"])
            by_id[protocol.id] = protocol
        self._by_id = by_id
        # Each rule's LOINC codes: its own `loinc` and every code of every marker it names.
        self._codes: dict[tuple[str, str], tuple[str, ...]] = {}
        known: set[str] = set()
        for protocol in by_id.values():
            for rule in protocol.items:
                codes = list(rule.satisfied_by.loinc)
                for marker in rule.satisfied_by.markers:
                    codes.extend(self.value_sets.codes_of(marker))
                self._codes[(protocol.id, rule.id)] = tuple(dict.fromkeys(codes))
                known.update(codes)
        self._known = frozenset(known)
        by_site: dict[str, list[Protocol]] = {}
        for protocol in by_id.values():
            by_site.setdefault(protocol.applies_to.site.value, []).append(protocol)
        # Most specific first: highest priority, then id, so ties resolve the same way every run.
        self._by_site = {
            site: tuple(
                (protocol, protocol.applies_to.matcher)
                for protocol in sorted(candidates, key=lambda p: (-p.priority, p.id))
            )
            for site, candidates in by_site.items()
        }

    @classmethod
    def from_texts(cls, texts: Mapping[str, str], value_sets: ValueSets | None = None) -> Catalog:
        """Parse every `name -> text`; raises `ProtocolError` listing the problems of all files.

        With `value_sets`, every marker a rule names must be one of its markers.
        """
        problems: list[str] = []
        protocols: list[Protocol] = []
        first_seen: dict[str, str] = {}
        for name, text in texts.items():
            try:
                protocol = parse_protocol(text, name)
            except ProtocolError as exc:
                problems.extend(exc.problems)
                continue
            if protocol.id in first_seen:
                problems.append(
                    f"{name}: id {protocol.id!r} is also defined in {first_seen[protocol.id]}"
                )
                continue
            first_seen[protocol.id] = name
            protocols.append(protocol)
            if value_sets is not None:
                problems.extend(_unknown_markers(name, protocol, value_sets))
        if problems:
            raise ProtocolError(problems)
        return cls(protocols, value_sets)

    def rule_codes(self, protocol: Protocol, rule: Rule) -> tuple[str, ...]:
        """The LOINC codes that satisfy `rule`: its own and its markers' value sets."""
        codes = self._codes.get((protocol.id, rule.id))
        if codes is None:  # a protocol from outside this catalog
            markers = rule.satisfied_by.markers
            found = [c for m in markers for c in self.value_sets.codes_of(m)]
            codes = tuple(dict.fromkeys([*rule.satisfied_by.loinc, *found]))
        return codes

    def knows_code(self, code: str) -> bool:
        """Whether a lab result under `code` means anything here: a marker's code or related
        code, or a code some rule names directly."""
        return code in self._known or self.value_sets.knows(code)

    def get(self, protocol_id: str) -> Protocol | None:
        """The protocol with this id, or None."""
        return self._by_id.get(protocol_id)

    def __getitem__(self, protocol_id: str) -> Protocol:
        protocol = self._by_id.get(protocol_id)
        if protocol is None:
            raise UnknownProtocolError([self._unknown(protocol_id)])
        return protocol

    def ids(self) -> tuple[str, ...]:
        """Every protocol id, sorted."""
        return tuple(sorted(self._by_id))

    def __iter__(self) -> Iterator[Protocol]:
        return iter(self._by_id[protocol_id] for protocol_id in self.ids())

    def __len__(self) -> int:
        return len(self._by_id)

    def covers(self, site: str) -> bool:
        """Whether any protocol is written for `site`."""
        return site in self._by_site

    def sites(self) -> tuple[str, ...]:
        """The sites that have at least one protocol, sorted."""
        return tuple(sorted(self._by_site))

    def select(self, profile: ProtocolProfile) -> Protocol | None:
        """The protocol for `profile`, or None when no protocol applies.

        An explicit `profile.protocol` wins; it must exist (`UnknownProtocolError`) and be for the
        patient's site (`ProtocolMismatchError`). Otherwise the applicable protocol with the
        highest priority wins, ties broken by id.
        """
        if profile.protocol is not None:
            chosen = self[profile.protocol]
            if chosen.applies_to.site.value != profile.site:
                raise ProtocolMismatchError(
                    [
                        f"protocol {chosen.id!r} is for {chosen.applies_to.site.value}, "
                        f"not {profile.site}"
                    ]
                )
            return chosen
        for protocol, matcher in self._by_site.get(profile.site, ()):
            if matcher.matches(profile):
                return protocol
        return None

    def _unknown(self, protocol_id: str) -> str:
        return f"unknown protocol {protocol_id!r}; known: {', '.join(self.ids()) or 'none'}"


def _unknown_markers(name: str, protocol: Protocol, value_sets: ValueSets) -> list[str]:
    known = ", ".join(marker.id for marker in value_sets.markers) or "none"
    return [
        f"{name}: rule {rule.id!r}: satisfied_by.markers: unknown marker {marker!r} "
        f"(known: {known})"
        for rule in protocol.items
        for marker in rule.satisfied_by.markers
        if value_sets.marker(marker) is None
    ]

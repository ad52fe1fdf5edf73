"""Choosing a protocol for a patient, and the rules that apply to them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.events import CancerSite, Flag, Intent, PatientEnrolled, Receptors, ReceptorStatus
from models.protocols import (
    Catalog,
    Protocol,
    ProtocolMismatchError,
    ProtocolProfile,
    UnknownProtocolError,
)
from remission_watch.protocol_files import load_builtin_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_builtin_catalog()


def breast(
    er: str = "unknown",
    her2: str = "unknown",
    flags: frozenset[str] = frozenset(),
    stage: str | None = None,
    intent: str = "curative",
    protocol: str | None = None,
) -> ProtocolProfile:
    return ProtocolProfile(
        site="breast",
        receptors={"er": er, "pr": "unknown", "her2": her2},
        stage=stage,
        intent=intent,
        flags=flags,
        protocol=protocol,
    )


def chosen(catalog: Catalog, profile: ProtocolProfile) -> str | None:
    protocol = catalog.select(profile)
    return None if protocol is None else protocol.id


def rule_ids(protocol: Protocol, profile: ProtocolProfile) -> list[str]:
    return [rule.id for rule in protocol.applicable_rules(profile)]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (breast(), "breast-asco"),
        (breast(er="negative"), "breast-asco-er-negative"),
        (breast(er="positive", her2="negative"), "breast-asco-er-positive"),
        (breast(er="positive"), "breast-asco-er-positive"),
        (breast(er="positive", her2="positive"), "breast-asco-her2-positive"),
        (breast(her2="positive"), "breast-asco-her2-positive"),
        # ER-negative HER2-positive: both early-recurrence variants apply at priority 20;
        # the tie goes to the lower id.
        (breast(er="negative", her2="positive"), "breast-asco-er-negative"),
        (
            breast(her2="positive", flags=frozenset({"metastatic"})),
            "breast-her2-metastatic-checkpoint",
        ),
        (breast(her2="positive", stage="IV"), "breast-her2-metastatic-checkpoint"),
        (
            breast(her2="positive", stage="IV", intent="palliative"),
            "breast-her2-metastatic-checkpoint",
        ),
        (breast(er="positive", her2="negative", stage="IV"), None),
        (breast(intent="palliative"), None),
    ],
)
def test_breast_selection_follows_receptors_and_spread(
    catalog: Catalog, profile: ProtocolProfile, expected: str | None
) -> None:
    assert chosen(catalog, profile) == expected


@pytest.mark.parametrize(
    ("site", "flags", "expected"),
    [
        ("colorectal", frozenset(), "colorectal-nccn"),
        ("hodgkin", frozenset(), "hodgkin-nccn"),
        ("dlbcl", frozenset(), "dlbcl-esmo"),
        ("thyroid", frozenset(), "thyroid-ata"),
        ("lung", frozenset(), "lung-asco"),
        ("prostate", frozenset(), "prostate-nccn"),
        ("melanoma", frozenset(), "melanoma-nccn"),
        ("ovarian", frozenset(), "ovarian-nccn"),
        ("myeloma", frozenset(), "myeloma-eha-esmo"),
        ("aml", frozenset({"npm1_mutated"}), "aml-eln"),
        ("aml", frozenset(), None),
    ],
)
def test_each_site_has_its_default(
    catalog: Catalog, site: str, flags: frozenset[str], expected: str | None
) -> None:
    assert chosen(catalog, ProtocolProfile(site=site, flags=flags)) == expected


def test_testicular_needs_stage_one(catalog: Catalog) -> None:
    assert chosen(catalog, ProtocolProfile(site="testicular", stage="IB")) == "testicular-eau"
    # IS, II and III after chemotherapy: EAU group 3 (Eur Urol Open Sci 2022;44:142 Table 2).
    for stage in ("IS", "II", "IIIB"):
        profile = ProtocolProfile(site="testicular", stage=stage)
        assert chosen(catalog, profile) == "testicular-eau-advanced"
    assert chosen(catalog, ProtocolProfile(site="testicular")) is None


def test_an_explicit_protocol_wins(catalog: Catalog) -> None:
    profile = ProtocolProfile(site="colorectal", protocol="colorectal-esmo")
    assert chosen(catalog, profile) == "colorectal-esmo"
    assert chosen(catalog, breast(er="negative", protocol="breast-asco")) == "breast-asco"


def test_an_unknown_explicit_protocol_is_a_clear_error(catalog: Catalog) -> None:
    with pytest.raises(
        UnknownProtocolError, match="unknown protocol 'breast-nice'; known: aml-eln"
    ):
        catalog.select(breast(protocol="breast-nice"))


def test_an_explicit_protocol_for_another_site_is_an_error(catalog: Catalog) -> None:
    with pytest.raises(ProtocolMismatchError, match="'lung-asco' is for lung, not breast"):
        catalog.select(breast(protocol="lung-asco"))


def test_get_and_ids(catalog: Catalog) -> None:
    assert catalog.get("thyroid-ata") is not None
    assert catalog.get("no-such-protocol") is None
    assert catalog.ids() == tuple(sorted(catalog.ids()))
    assert "aml-eln" in catalog.ids()
    assert len(catalog) == len(catalog.ids())
    with pytest.raises(UnknownProtocolError):
        catalog["no-such-protocol"]


TIE = """\
id: {id}
version: "1"
guideline: g
source: s
published: 2020-01-01
reviewed: 2020-01-01
provisional: false
applies_to: {{site: lung}}
priority: {priority}
anchor: treatment_end
items:
  - id: ct_chest
    label: CT
    category: scan
    source: s
    date: 2020-01-01
    satisfied_by: {{items: [ct_chest]}}
    at_months: [6]
"""


def test_highest_priority_wins_and_ties_go_to_the_lower_id() -> None:
    texts = {
        "lung-b.yaml": TIE.format(id="lung-b", priority=5),
        "lung-a.yaml": TIE.format(id="lung-a", priority=5),
        "lung-c.yaml": TIE.format(id="lung-c", priority=1),
    }
    assert chosen(Catalog.from_texts(texts), ProtocolProfile(site="lung")) == "lung-a"
    texts["lung-c.yaml"] = TIE.format(id="lung-c", priority=9)
    assert chosen(Catalog.from_texts(texts), ProtocolProfile(site="lung")) == "lung-c"


def test_bilateral_mastectomy_drops_the_mammogram(catalog: Catalog) -> None:
    asco = catalog["breast-asco"]
    assert "mammogram" in rule_ids(asco, breast())
    assert "mammogram" not in rule_ids(asco, breast(flags=frozenset({"bilateral_mastectomy"})))
    # A one-sided reconstruction leaves the other breast to image (see breast-asco.yaml).
    assert "mammogram" in rule_ids(asco, breast(flags=frozenset({"reconstructed_breast"})))


def test_pelvic_exam_needs_tamoxifen_and_a_uterus(catalog: Catalog) -> None:
    asco = catalog["breast-asco"]
    assert "pelvic_exam" not in rule_ids(asco, breast(flags=frozenset({"on_tamoxifen"})))
    assert "pelvic_exam" not in rule_ids(asco, breast(flags=frozenset({"uterus_present"})))
    both = frozenset({"on_tamoxifen", "uterus_present"})
    assert "pelvic_exam" in rule_ids(asco, breast(flags=both))


def test_ca125_only_when_initially_raised(catalog: Catalog) -> None:
    ovarian = catalog["ovarian-nccn"]
    assert rule_ids(ovarian, ProtocolProfile(site="ovarian")) == ["history_physical"]
    raised = ProtocolProfile(site="ovarian", flags=frozenset({"marker_initially_raised"}))
    assert rule_ids(ovarian, raised) == ["history_physical", "ca125"]


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("IA", ["history_physical_low_risk", "skin_exam"]),
        ("IIA", ["history_physical_low_risk", "skin_exam"]),
        ("I", ["history_physical_low_risk", "skin_exam"]),
        ("IIB", ["history_physical_high_risk", "skin_exam"]),
        ("IIIC", ["history_physical_high_risk", "skin_exam"]),
        ("IV", ["history_physical_high_risk", "skin_exam"]),
        # A stage without its letter could be either: both apply, the tighter one drives.
        ("II", ["history_physical_low_risk", "history_physical_high_risk", "skin_exam"]),
        (None, ["skin_exam"]),
    ],
)
def test_melanoma_splits_by_stage(catalog: Catalog, stage: str | None, expected: list[str]) -> None:
    melanoma = catalog["melanoma-nccn"]
    assert rule_ids(melanoma, ProtocolProfile(site="melanoma", stage=stage)) == expected


def test_prostatectomy_switches_to_the_early_first_psa(catalog: Catalog) -> None:
    prostate = catalog["prostate-nccn"]
    assert rule_ids(prostate, ProtocolProfile(site="prostate")) == ["psa"]
    operated = ProtocolProfile(site="prostate", flags=frozenset({"prostatectomy"}))
    assert rule_ids(prostate, operated) == ["psa_after_prostatectomy"]


def test_late_effects_follow_radiation_fields(catalog: Catalog) -> None:
    hodgkin = catalog["hodgkin-nccn"]
    assert rule_ids(hodgkin, ProtocolProfile(site="hodgkin")) == ["history_physical"]
    radiated = ProtocolProfile(
        site="hodgkin", flags=frozenset({"neck_radiation", "chest_radiation"})
    )
    assert rule_ids(hodgkin, radiated) == ["history_physical", "tsh", "mammogram"]


def test_colonoscopy_comes_early_without_a_preoperative_one(catalog: Catalog) -> None:
    nccn = catalog["colorectal-nccn"]
    assert "colonoscopy" in rule_ids(nccn, ProtocolProfile(site="colorectal"))
    missing = ProtocolProfile(site="colorectal", flags=frozenset({"no_preoperative_colonoscopy"}))
    ids = rule_ids(nccn, missing)
    assert "colonoscopy_early" in ids
    assert "colonoscopy" not in ids


def test_not_reminded_lists_what_the_guideline_advises_against(catalog: Catalog) -> None:
    asco = {entry.id for entry in catalog["breast-asco"].not_reminded()}
    assert {"tumour_markers", "cbc_chemistry", "ct", "pet", "bone_scan", "breast_mri"} <= asco
    hodgkin = catalog["hodgkin-nccn"].not_reminded()
    assert [entry.id for entry in hodgkin] == ["surveillance_pet_ct"]
    assert catalog["colorectal-nccn"].not_reminded() == ()


def test_a_profile_from_an_enrolment_selects_like_a_hand_made_one(catalog: Catalog) -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    enrolled = PatientEnrolled(
        event_id="e1",
        patient_id="p1",
        occurred_at=moment,
        recorded_at=moment,
        source="test",
        site=CancerSite.BREAST,
        receptors=Receptors(er=ReceptorStatus.NEGATIVE, her2=ReceptorStatus.NEGATIVE),
        stage="IIA",
        intent=Intent.CURATIVE,
        flags=frozenset({Flag.BILATERAL_MASTECTOMY}),
    )
    profile = ProtocolProfile.from_enrolment(enrolled)
    assert profile.receptors == {"er": "negative", "pr": "unknown", "her2": "negative"}
    assert profile.flags == frozenset({"bilateral_mastectomy"})
    protocol = catalog.select(profile)
    assert protocol is not None
    assert protocol.id == "breast-asco-er-negative"
    assert "mammogram" not in rule_ids(protocol, profile)

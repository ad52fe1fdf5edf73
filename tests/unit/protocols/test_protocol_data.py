"""The shipped protocol files: they load, cite their sources, and say what DOMAIN.md says."""

from __future__ import annotations

from datetime import date

import pytest

from models.protocols import Catalog, Protocol, ProtocolProfile, Rule, parse_protocol
from remission_watch.protocol_files import builtin_texts, load_builtin_catalog

TEXTS = builtin_texts()
EXPECTED_IDS = {
    "aml-eln",
    "breast-asco",
    "breast-asco-er-negative",
    "breast-asco-er-positive",
    "breast-asco-her2-positive",
    "breast-her2-metastatic-checkpoint",
    "colorectal-esmo",
    "colorectal-nccn",
    "dlbcl-esmo",
    "hodgkin-nccn",
    "lung-asco",
    "lung-asco-sclc",
    "melanoma-nccn",
    "myeloma-eha-esmo",
    "ovarian-nccn",
    "prostate-nccn",
    "testicular-eau",
    "testicular-eau-advanced",
    "thyroid-ata",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_builtin_catalog()


def test_every_guideline_in_the_brief_is_shipped() -> None:
    assert {name.removesuffix(".yaml") for name in TEXTS} == EXPECTED_IDS


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_each_shipped_file_loads_and_cites_every_rule(name: str) -> None:
    protocol = parse_protocol(TEXTS[name], name)
    assert f"{protocol.id}.yaml" == name
    assert protocol.items
    for rule in protocol.items:
        assert rule.source.strip()
        assert date(2000, 1, 1) <= rule.date <= protocol.reviewed
    assert protocol.published <= protocol.reviewed
    for entry in protocol.not_reminded():
        assert entry.source.strip() and entry.reason.strip()


def rule_of(catalog: Catalog, protocol_id: str, rule_id: str) -> Rule:
    rule = catalog[protocol_id].rule(rule_id)
    assert rule is not None, f"{protocol_id} has no rule {rule_id}"
    return rule


def every(rule: Rule) -> list[tuple[int, int | None, list[int]]]:
    return [
        (phase.from_years, phase.to_years, list(phase.every_months)) for phase in rule.phases or ()
    ]


def test_breast_asco_visits_taper_as_asco_says(catalog: Catalog) -> None:
    assert every(rule_of(catalog, "breast-asco", "history_physical")) == [
        (0, 3, [3, 6]),
        (3, 5, [6, 12]),
        (5, None, [12, 12]),
    ]
    # ER-negative: due at the tight end, but overdue only past ASCO's upper bound (case c33).
    tight = every(rule_of(catalog, "breast-asco-er-negative", "history_physical"))
    assert tight == [(0, 3, [3, 6]), (3, 5, [6, 12]), (5, None, [12, 12])]


def test_variants_that_are_ours_are_marked_provisional(catalog: Catalog) -> None:
    for protocol_id in (
        "breast-asco-er-negative",
        "breast-asco-er-positive",
        "breast-asco-her2-positive",
        "breast-her2-metastatic-checkpoint",
        "dlbcl-esmo",
    ):
        assert catalog[protocol_id].provisional, protocol_id
    assert not catalog["breast-asco"].provisional


def test_the_checkpoint_model_is_three_monthly_then_at_least_yearly(catalog: Catalog) -> None:
    checkpoint = catalog["breast-her2-metastatic-checkpoint"]
    assert checkpoint.anchor == "enrolment"  # c22: the checkpoint runs during treatment
    assert every(rule_of(catalog, checkpoint.id, "checkpoint_visit")) == [(0, None, [3, 3])]
    assert every(rule_of(catalog, checkpoint.id, "clinical_evaluation")) == [
        (0, 5, [3, 6]),
        (5, None, [12, 12]),  # c23: yearly after year 5 (seed 000)
    ]
    markers = rule_of(catalog, checkpoint.id, "tumour_markers")
    assert "17842-6" in catalog.rule_codes(checkpoint, markers)  # CA 27.29
    assert "docs/sources.md" in checkpoint.source


@pytest.mark.parametrize(
    ("protocol_id", "rule_id", "codes"),
    [
        ("colorectal-nccn", "cea", {"2039-6", "83085-1"}),
        ("thyroid-ata", "thyroglobulin", {"3013-0", "8098-6"}),
        ("prostate-nccn", "psa", {"2857-1", "35741-8", "83112-3"}),
        ("ovarian-nccn", "ca125", {"10334-1", "83082-8"}),
        ("testicular-eau", "tumour_markers", {"1834-1", "19080-1", "21198-7", "2532-0"}),
    ],
)
def test_labs_are_satisfied_by_their_value_sets(
    catalog: Catalog, protocol_id: str, rule_id: str, codes: set[str]
) -> None:
    protocol = catalog[protocol_id]
    rule = rule_of(catalog, protocol_id, rule_id)
    assert codes <= set(catalog.rule_codes(protocol, rule))


def test_dlbcl_ct_is_at_fixed_offsets(catalog: Catalog) -> None:
    assert rule_of(catalog, "dlbcl-esmo", "ct_chest_abdomen_pelvis").at_months == (6, 12, 24)


def test_hodgkin_mammography_starts_eight_to_ten_years_after_chest_radiation(
    catalog: Catalog,
) -> None:
    mammogram = rule_of(catalog, "hodgkin-nccn", "mammogram")
    assert mammogram.first_after_months == (96, 120)
    assert {entry.id for entry in catalog["hodgkin-nccn"].not_reminded()} == {"surveillance_pet_ct"}


def test_cea_waits_for_adjuvant_chemotherapy(catalog: Catalog) -> None:
    for protocol_id in ("colorectal-nccn", "colorectal-esmo"):
        assert rule_of(catalog, protocol_id, "cea").start_after == "adjuvant_chemotherapy_end"
        assert catalog[protocol_id].anchor == "treatment_end"


def test_no_shipped_rule_is_a_checkin(catalog: Catalog) -> None:
    categories = {rule.category.value for protocol in catalog for rule in protocol.items}
    assert categories <= {"scan", "lab", "visit"}


def test_every_site_in_the_events_has_a_protocol(catalog: Catalog) -> None:
    from models.events import CancerSite

    sites = {protocol.applies_to.site for protocol in catalog}
    assert sites == set(CancerSite)


def applicable(protocol: Protocol, profile: ProtocolProfile) -> set[str]:
    return {rule.id for rule in protocol.applicable_rules(profile)}


def test_aml_requires_npm1_in_applies_to(catalog: Catalog) -> None:
    aml = catalog["aml-eln"]
    assert not aml.applies(ProtocolProfile(site="aml"))
    assert aml.applies(ProtocolProfile(site="aml", flags=frozenset({"npm1_mutated"})))
    npm1 = ProtocolProfile(site="aml", flags=frozenset({"npm1_mutated"}))
    assert applicable(aml, npm1) == {"npm1_mrd"}

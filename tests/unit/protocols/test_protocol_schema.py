"""Broken protocol files are rejected with one line per problem naming file, rule and fault."""

from __future__ import annotations

import pytest

from models.protocols import Catalog, ProtocolError, parse_protocol

NAME = "test-protocol.yaml"

VALID = """\
id: test-protocol
version: "2012.1"
guideline: A test guideline
source: Test source 2012
published: 2012-11-05
reviewed: 2026-11-21
provisional: false
applies_to:
  site: breast
  intent: [curative]
priority: 10
anchor: treatment_end
items:
  - id: mammogram
    label: Mammogram
    category: scan
    source: ASCO 2012
    date: 2012-11-05
    satisfied_by: {items: [mammogram]}
    phases:
      - {from_years: 0, to_years: 3, every_months: [3, 6]}
      - {from_years: 3, to_years: null, every_months: [12, 12]}
    when:
      flags_excluded: [bilateral_mastectomy]
  - id: cea
    label: CEA
    category: lab
    source: NCCN 2022
    date: 2022-01-01
    satisfied_by: {loinc: [2039-6]}
    at_months: [6, 12, 24]
do_not_remind:
  - {id: pet, what: PET scans, reason: no benefit, source: ASCO 2012}
"""


def broken(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def problems_of(text: str, name: str = NAME) -> tuple[str, ...]:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, name)
    return caught.value.problems


def test_the_template_is_valid() -> None:
    protocol = parse_protocol(VALID, NAME)
    assert [rule.id for rule in protocol.items] == ["mammogram", "cea"]
    assert protocol.not_reminded()[0].id == "pet"


MAMMOGRAM = f"{NAME}: rule 'mammogram': "
CEA = f"{NAME}: rule 'cea': "

BROKEN_RULES = {
    "minimum above maximum": (
        "every_months: [3, 6]",
        "every_months: [6, 3]",
        MAMMOGRAM + "phases[0]: every_months [6, 3]: minimum above maximum",
    ),
    "overlapping phases": (
        "{from_years: 3, to_years: null",
        "{from_years: 2, to_years: null",
        MAMMOGRAM + "phases[1] (from year 2) overlaps phases[0] (to year 3)",
    ),
    "gapped phases": (
        "{from_years: 3, to_years: null",
        "{from_years: 4, to_years: null",
        MAMMOGRAM + "gap between phases[0] (to year 3) and phases[1] (from year 4)",
    ),
    "phases not starting at 0": (
        "{from_years: 0, to_years: 3",
        "{from_years: 1, to_years: 3",
        MAMMOGRAM + "phases[0] starts at year 1: the first must start at 0",
    ),
    "open-ended phase not last": (
        "{from_years: 0, to_years: 3",
        "{from_years: 0, to_years: null",
        MAMMOGRAM + "phases[0] runs for life (to_years null) but is not the last",
    ),
    "phase ending before it starts": (
        "{from_years: 3, to_years: null",
        "{from_years: 3, to_years: 3",
        MAMMOGRAM + "phases[1]: to_years 3 is not after from_years 3",
    ),
    "unknown key in a rule": (
        "    label: Mammogram\n",
        "    label: Mammogram\n    colour: red\n",
        MAMMOGRAM + "colour: unknown key",
    ),
    "unknown category": (
        "category: scan",
        "category: xray",
        MAMMOGRAM + "category: Input should be",
    ),
    "check-in category": (
        "category: scan",
        "category: checkin",
        MAMMOGRAM + "category: 'checkin' is not scheduled here: use scan, lab or visit",
    ),
    "LOINC without a check digit": (
        "loinc: [2039-6]",
        "loinc: [2039X]",
        CEA + "satisfied_by.loinc: loinc '2039X': not a LOINC code",
    ),
    "LOINC with a wrong check digit": (
        "loinc: [2039-6]",
        "loinc: [2039-5]",
        CEA + "satisfied_by.loinc: loinc '2039-5': check digit should be 6",
    ),
    "missing source": (
        "    source: ASCO 2012\n",
        "",
        MAMMOGRAM + "source: missing",
    ),
    "missing date": (
        "    date: 2022-01-01\n",
        "",
        CEA + "date: missing",
    ),
    "at_months not increasing": (
        "at_months: [6, 12, 24]",
        "at_months: [12, 6, 24]",
        CEA + "at_months [12, 6, 24]: not increasing",
    ),
    "at_months repeating an offset": (
        "at_months: [6, 12, 24]",
        "at_months: [6, 12, 12]",
        CEA + "at_months [6, 12, 12]: not increasing",
    ),
    "no schedule": (
        "    at_months: [6, 12, 24]\n",
        "",
        CEA + "no schedule: give phases or at_months",
    ),
    "two schedules": (
        "    at_months: [6, 12, 24]\n",
        "    at_months: [6, 12, 24]\n"
        "    phases:\n"
        "      - {from_years: 0, to_years: 1, every_months: [3, 3]}\n",
        CEA + "both phases and at_months: give one schedule",
    ),
    "first_after with at_months": (
        "    at_months: [6, 12, 24]\n",
        "    at_months: [6, 12, 24]\n    first_after_months: [3, 6]\n",
        CEA + "first_after with at_months",
    ),
    "first_after minimum above maximum": (
        "    satisfied_by: {items: [mammogram]}\n",
        "    satisfied_by: {items: [mammogram]}\n    first_after_months: [12, 6]\n",
        MAMMOGRAM + "first_after_months [12, 6]: minimum above maximum",
    ),
    "until_years after the schedule ends": (
        "    at_months: [6, 12, 24]\n",
        "    at_months: [6, 12, 24]\n    until_years: 1\n",
        CEA + "at_months 24 comes after until_years 1",
    ),
    "nothing satisfies the rule": (
        "satisfied_by: {loinc: [2039-6]}",
        "satisfied_by: {}",
        CEA + "satisfied_by: nothing can satisfy this rule",
    ),
    "unknown flag in a condition": (
        "flags_excluded: [bilateral_mastectomy]",
        "flags_excluded: [bilateral_mastectomies]",
        MAMMOGRAM + "when.flags_excluded[0]: Input should be",
    ),
    "flag both required and excluded": (
        "flags_excluded: [bilateral_mastectomy]",
        "flags_excluded: [bilateral_mastectomy]\n      flags_required: [bilateral_mastectomy]",
        MAMMOGRAM + "when: flags bilateral_mastectomy: both required and excluded",
    ),
    "rule id not snake_case": (
        "  - id: cea\n",
        "  - id: CEA-test\n",
        f"{NAME}: rule 'CEA-test': id: String should match pattern",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_RULES))
def test_a_broken_rule_is_named_with_its_problem(case: str) -> None:
    old, new, expected = BROKEN_RULES[case]
    problems = problems_of(broken(old, new))
    assert any(line.startswith(expected) for line in problems), problems


PROTOCOL_LEVEL = {
    "duplicate rule ids": (
        "  - id: cea\n",
        "  - id: mammogram\n",
        f"{NAME}: rule 'mammogram': duplicate id",
    ),
    "scheduled and not reminded": (
        "{id: pet, what",
        "{id: mammogram, what",
        f"{NAME}: do_not_remind 'mammogram': also scheduled by a rule",
    ),
    "not reminded but satisfies a rule": (
        "{id: pet, what",
        "{id: cea, what",
        f"{NAME}: do_not_remind 'cea': also scheduled by a rule",
    ),
    "unknown top-level key": (
        "priority: 10\n",
        "priority: 10\ncolour: red\n",
        f"{NAME}: colour: unknown key",
    ),
    "unknown site": ("site: breast", "site: spleen", f"{NAME}: applies_to.site: Input should be"),
    "unknown anchor": (
        "anchor: treatment_end",
        "anchor: diagnosis",
        f"{NAME}: anchor: Input should be 'treatment_end', 'remission_start' or 'enrolment'",
    ),
    "unquoted version read as a number": (
        'version: "2012.1"',
        "version: 2012.1",
        f"{NAME}: version: Input should be a valid string",
    ),
    "reviewed before published": (
        "reviewed: 2026-11-21",
        "reviewed: 2010-01-01",
        f"{NAME}: reviewed 2010-01-01 is before published 2012-11-05",
    ),
    "missing provisional": ("provisional: false\n", "", f"{NAME}: provisional: missing"),
    "a key given twice": (
        "priority: 10\n",
        "priority: 10\npriority: 20\n",
        f"{NAME}: not valid YAML: key 'priority' given twice",
    ),
}


@pytest.mark.parametrize("case", sorted(PROTOCOL_LEVEL))
def test_a_broken_protocol_is_named_with_its_problem(case: str) -> None:
    old, new, expected = PROTOCOL_LEVEL[case]
    problems = problems_of(broken(old, new))
    assert any(line.startswith(expected) for line in problems), problems


def test_every_problem_in_a_file_is_reported_on_its_own_line() -> None:
    text = broken("every_months: [3, 6]", "every_months: [6, 3]").replace(
        "loinc: [2039-6]", "loinc: [2039-5]"
    )
    problems = problems_of(text)
    assert len(problems) == 2
    assert problems[0].startswith(MAMMOGRAM)
    assert problems[1].startswith(CEA)


def test_a_rule_without_an_id_is_named_by_position() -> None:
    problems = problems_of(broken("  - id: cea\n", "  - label_only: true\n"))
    assert any(line.startswith(f"{NAME}: rule #2: id: missing") for line in problems), problems


def test_empty_items_are_rejected() -> None:
    text = VALID[: VALID.index("items:")] + "items: []\n"
    assert problems_of(text) == (f"{NAME}: items: empty: a protocol needs at least one rule",)


def test_the_file_name_must_match_the_id() -> None:
    problems = problems_of(VALID, "other-name.yaml")
    assert problems == (
        "other-name.yaml: id 'test-protocol' does not match the file name 'other-name'",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("items: [unclosed\n", f"{NAME}: not valid YAML"),
        ("- just\n- a list\n", f"{NAME}: expected a mapping of protocol fields"),
        ("", f"{NAME}: expected a mapping of protocol fields"),
    ],
)
def test_text_that_is_not_a_protocol_mapping_is_rejected(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert problems[0].startswith(expected)


def test_a_catalog_reports_every_file_and_duplicate_ids() -> None:
    bad = broken("every_months: [3, 6]", "every_months: [6, 3]")
    with pytest.raises(ProtocolError) as caught:
        Catalog.from_texts({NAME: VALID, "elsewhere/test-protocol.yaml": VALID, "b.yaml": bad})
    problems = caught.value.problems
    assert "elsewhere/test-protocol.yaml: id 'test-protocol' is also defined in " + NAME in problems
    assert any(line.startswith("b.yaml: ") for line in problems)


def test_protocol_files_are_read_with_libyaml_when_pyyaml_has_it() -> None:
    """The pure-Python YAML parser took half the CPU of a small `timeline`; the strict loader
    (duplicate keys refused, above) rides on libyaml's parser where PyYAML ships it."""
    import yaml

    from models.protocols.parse import _StrictLoader

    if not yaml.__with_libyaml__:
        pytest.skip("this PyYAML has no libyaml")
    assert issubclass(_StrictLoader, yaml.CSafeLoader)

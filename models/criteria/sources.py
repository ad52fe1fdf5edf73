"""Where each criteria system's rules come from, as data, so an evaluation can be explained."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class CriteriaSource:
    """A published source: `version` names the edition, `year` its publication; `check` marks a
    figure to treat as provisional (DOMAIN.md: say so where the source is uncertain)."""

    citation: str
    version: str
    year: int
    check: bool = False


SOURCES = MappingProxyType(
    {
        "recist": CriteriaSource(
            "Eisenhauer et al., Eur J Cancer 45:228 (RECIST 1.1)", "1.1", 2009
        ),
        "irecist": CriteriaSource(
            "Seymour et al., Lancet Oncol 18:e143 (iRECIST)", "iRECIST", 2017
        ),
        "who": CriteriaSource("Miller et al., Cancer 47:207 (WHO reporting)", "WHO 1979", 1981),
        "lugano": CriteriaSource(
            "Cheson et al., J Clin Oncol 32:3059 (Lugano)", "Lugano 2014", 2014
        ),
        "imwg": CriteriaSource("Kumar et al., Lancet Oncol 17:e328 (IMWG)", "IMWG 2016", 2016),
        "eln": CriteriaSource("Döhner et al., Blood 140:1345 (ELN AML)", "ELN 2022", 2022),
        "ata": CriteriaSource("Haugen et al., Thyroid 26:1 (ATA DTC guidelines)", "ATA 2015", 2016),
        "pathologic": CriteriaSource(
            "FDA guidance: pCR in neoadjuvant breast cancer (ypT0/is ypN0)",
            "2020",
            2020,
            check=True,
        ),
        "mrd": CriteriaSource(
            "Kumar et al., Lancet Oncol 2016 (IMWG MRD); ELN 2021 MRD update",
            "2016/2021",
            2021,
            check=True,
        ),
        "ctc": CriteriaSource(
            "Cristofanilli et al., N Engl J Med 351:781 (CellSearch >= 5/7.5 mL)",
            "2004",
            2004,
            check=True,
        ),
        "psa": CriteriaSource(
            "Cookson et al., J Urol 177:540 (AUA, >= 0.2 confirmed); Roach et al., "
            "Int J Radiat Oncol Biol Phys 65:965 (Phoenix, nadir + 2)",
            "AUA 2007 / Phoenix 2006",
            2007,
        ),
    }
)

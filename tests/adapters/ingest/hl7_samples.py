"""HL7 v2 messages modelled on real feeds (NIST LRI, dcm4che, FHIR-Converter samples): the same
segment layouts, separators, data types and quirks, with invented people, ids and values."""

from __future__ import annotations

MSH_LAB = (
    "MSH|^~\\&|NIST Test Lab APP|NIST Lab Facility||NIST EHR Facility|{sent}||ORU^R01^ORU_R01|"
    "{control}|P|2.5.1|||{accept}|{app}||{charset}|||LRI_Common_Component^^2.16.840.1.113883.9.16^ISO"
)
PID = "PID|1||MRN0003003^^^NIST MPI^MR||Testpatient^Ana^M||19560211|F||2106-3^White^HL70005"
ORC = (
    "ORC|RE|ORD7001{n}^NIST EHR|{filler}^NIST Lab Filler|GORD874233^NIST EHR||||||||"
    "57422^Orderer^Invented^^^^^^NIST-AA-1^L^^^NPI"
)
OBR = (
    "OBR|{n}|ORD7001{n}^NIST EHR|{filler}^NIST Lab Filler|{code}|||20270203081500-0600|||||||||"
    "57422^Orderer^Invented^^^^^^NIST-AA-1^L^^^NPI||||||{sent}|||{status}"
)
OBX = (
    "OBX|{n}|{kind}|{code}||{value}|{unit}|0.00 to 4.00|N|||{status}|||20270203081500-0600|||"
    "0279^Chemiluminescent immunoassay^OBSMETHOD||20270203131000-0600||||Century Hospital^^^^^"
    "NIST-AA-1^XX^^^987|2070 Test Park^^Los Angeles^CA^90067^^B|2343242^Director^Invented"
)
PSA = "2857-1^Prostate specific Ag [Mass/volume] in Serum or Plasma^LN^PSA^PSA^L"
CEA = "2039-6^Carcinoembryonic Ag [Mass/volume] in Serum or Plasma^LN^CEA^CEA^L"
TG = "3013-0^Thyroglobulin [Mass/volume] in Serum or Plasma^LN^TG^Thyroglobulin^L"
TGAB = "8098-6^Thyroglobulin Ab [Units/volume] in Serum or Plasma^LN^TGAB^Tg antibodies^L"
CA153 = "6875-9^Cancer Ag 15-3 [Units/volume] in Serum or Plasma^LN^CA153^CA 15-3^L"
NGML = "ng/mL^nanogram per milliliter^UCUM"


def msh(
    control: str,
    sent: str = "20270203140200-0600",
    accept: str = "",
    app: str = "",
    charset: str = "",
) -> str:
    return MSH_LAB.format(control=control, sent=sent, accept=accept, app=app, charset=charset)


def order(
    n: int, filler: str, code: str, obxs: list[str], sent: str, status: str = "F"
) -> list[str]:
    return [
        ORC.format(n=n, filler=filler),
        OBR.format(n=n, filler=filler, code=code, sent=sent, status=status),
        *obxs,
    ]


def obx(
    n: int, code: str, value: str, status: str = "F", kind: str = "NM", unit: str = NGML
) -> str:
    return OBX.format(n=n, kind=kind, code=code, value=value, unit=unit, status=status)


def tumour_markers(control: str = "RW-LAB-0042", **header: str) -> bytes:
    """File 04's shape: PSA, CEA with an escaped NTE, Tg panel with SN `<^0.1`, CA 15-3 `X`."""
    sent = "20270203140200-0600"
    segments = [
        msh(control, sent, **header),
        PID,
        *order(1, "F12345", "2857-1^PSA^LN", [obx(1, PSA, "0.04")], sent),
        *order(2, "F12346", "2039-6^CEA^LN", [obx(1, CEA, "6.8")], sent),
        "NTE|1|L|Repeat in 4 weeks \\T\\ correlate with imaging\\.br\\Result phoned",
        *order(
            3,
            "F12347",
            "TGPANEL^Thyroglobulin panel^L",
            [
                obx(1, TG, "<^0.1", kind="SN"),
                obx(2, TGAB, "1.2", unit="[IU]/mL^international unit per milliliter^UCUM"),
                obx(3, CA153, "", status="X", unit="U/mL^unit per milliliter^UCUM"),
            ],
            sent,
        ),
    ]
    return "\r".join(segments).encode() + b"\r"


def psa_correction(control: str, value: str, sent: str) -> bytes:
    """File 05's shape: the PSA re-sent with OBX-11 C, OBR-25 C and a new control id."""
    segments = [
        msh(control, sent),
        PID,
        *order(1, "F12345", "2857-1^PSA^LN", [obx(1, PSA, value, status="C")], sent, "C"),
        "NTE|1|L|Corrected result: previously reported otherwise (transcription error).",
    ]
    return "\r".join(segments).encode() + b"\r"


def cea_wrong_patient(control: str = "RW-LAB-0061") -> bytes:
    """File 06's shape: the CEA with OBX-11 W; OBR-1 = 2 without an OBR 1."""
    sent = "20270206100000-0600"
    segments = [
        msh(control, sent),
        PID,
        *order(2, "F12346", "2039-6^CEA^LN", [obx(1, CEA, "6.8", "W")], sent, "C"),
    ]
    return "\r".join(segments).encode() + b"\r"


def psa_latin1(control: str = "RW-LAB-0070") -> bytes:
    """File 10's shape: ISO-8859-1 bytes in PID-5 with MSH-18 8859/1."""
    sent = "20270205090000-0600"
    segments = [
        msh(control, sent, charset="8859/1"),
        "PID|1||MRN0003003^^^NIST MPI^MR||Núñez^Inés^M||19560211|F",
        *order(1, "F22345", "2857-1^PSA^LN", [obx(1, PSA, "0.05")], sent),
    ]
    return "\r".join(segments).encode("latin-1") + b"\r"


def with_z_segment(control: str = "RW-LAB-0080") -> bytes:
    """File 12's shape: a ZRW segment between PID and ORC."""
    sent = "20270203140200-0600"
    segments = [
        msh(control, sent),
        PID,
        "ZRW|1|SURVEILLANCE|BREAST-ASCO|consent=Y",
        *order(1, "F32345", "2857-1^PSA^LN", [obx(1, PSA, "0.06")], sent),
    ]
    return "\r".join(segments).encode() + b"\r"


def ct_report(control: str = "RIS-7730012", status: str = "F", finding: str = "") -> bytes:
    """File 08's shape: CT CAP report, OBR-4 with two CPT repetitions, impression as free text;
    `finding` adds a coded CWE finding OBX (what a structured-reporting RIS sends)."""
    segments = [
        "MSH|^~\\&|RIS|CANCER CTR RAD|RW|CANCER CTR|20270116094100-0500||ORU^R01^ORU_R01|"
        f"{control}|P|2.5.1|||AL|NE||UNICODE UTF-8",
        "PID|1||MRN0006006^^^CANCERCTR^MR||Testpatient^Inés^^^^^L||19640522|F",
        "PV1|1|O|RAD^CT1^^CANCER CTR",
        "ORC|RE|ORD-55120^EHR|ACC-5512^RIS||CM",
        "OBR|1|ORD-55120^EHR|ACC-5512^RIS|74178^CT abdomen and pelvis with contrast^C4~71260^CT"
        " chest with contrast^C4|||20270114133000-0500|20270114135500-0500||||||||||ACC-5512|||"
        f"|20270116094000-0500||CT|{status}|||||||1234&Radiologist&Mara&&&Dr.",
        "OBX|1|TX|74178&GDT^CT CAP report body^C4|1|LIVER: segment 6 lesion now 18 mm (previously"
        f" 25 mm). No new lesions.||||||{status}|||20270114135500-0500",
        "OBX|2|TX|74178&IMP^Impression^C4|1|Findings compatible with partial response."
        f"||||||{status}",
    ]
    if finding:
        segments.append(f"OBX|3|CWE|59776-5^Procedure findings^LN|1|{finding}||||||{status}")
    return "\r".join(segments).encode() + b"\r"


def siu(trigger: str, control: str, start: str = "20270114133000-0500") -> bytes:
    """File 13's shape (LF segment ends, PID-3 with two repetitions, AIS-3 procedure, TQ1) with
    file 14's hex escape `\\XC7\\` in AIS-3's text."""
    segments = [
        "MSH|^~\\&|SCHApp|CANCER CTR SCHED|EHRApp|RW|20261201100000-0500||"
        f"SIU^{trigger}^SIU_{trigger}|"
        f"{control}|P|2.5.1||||||8859/1",
        f"SCH|12345|APPT-36996||||Add|ROUTINE|Normal|30|min|^^30^{start}||||||||||||||Booked"
        "|ORD-55120^EHR|ACC-5512^RIS",
        f"TQ1|||||||{start}",
        "PID|1||123-45-6789^^^SSA^SS~MRN0006006^^^CANCERCTR^MR||Testpatient^Ines^^^^^L||19640522|F",
        "RGS|001|",
        f"AIS|001|A|77067^MAMOGRAFIA BILATERAL (RASTREIO \\XC7\\)^C4|{start}|||30|min||Booked",
    ]
    return "\n".join(segments).encode("latin-1") + b"\n"


def batch(*messages: bytes) -> bytes:
    """An FHS/BHS batch file with CRLF segment ends and a UTF-8 byte-order mark."""
    head = (
        b"FHS|^~\\&|NIST Test Lab APP|NIST Lab Facility\r\n"
        b"BHS|^~\\&|NIST Test Lab APP|NIST Lab Facility\r\n"
    )
    body = b"".join(m.replace(b"\r", b"\r\n") for m in messages)
    tail = f"BTS|{len(messages)}\r\nFTS|1\r\n".encode()
    return b"\xef\xbb\xbf" + head + body + tail


CONFIG = """
pseudonym: {key_env: RW_TEST_PSEUDONYM_KEY}
quarantine: {path: @QDIR@, key_env: RW_TEST_QUARANTINE_KEY, retention_days: 30}
ledger: @LEDGER@
feeds:
  - name: MAIN-LAB
    sending_facility: NIST Lab Facility
    mrn: {type: MR, assigning_authority: NIST MPI}
    mrn_namespace: CANCERCTR
    time_zone: America/Chicago
  - name: RIS
    sending_facility: CANCER CTR RAD
    mrn: {type: MR, assigning_authority: CANCERCTR}
    time_zone: America/New_York
    procedures: {"74178": ct_chest_abdomen_pelvis, "71260": ct_chest_abdomen_pelvis}
    findings: {"RID49481": suspicious, "RID50261": no_evidence_of_disease}
  - name: SCHED
    sending_facility: CANCER CTR SCHED
    mrn: {type: MR, assigning_authority: CANCERCTR}
    time_zone: America/New_York
    procedures: {"77067": mammogram}
"""


def frame_of(message: bytes) -> bytes:
    """One MLLP frame (written out here, not taken from the code under test)."""
    return b"\x0b" + message + b"\x1c\r"

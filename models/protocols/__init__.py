"""Surveillance protocols as versioned data: schema, parsing, selection and the schedule engine.

Pure: this package parses protocol *text*; reading the packaged YAML files from disk lives in
`remission_watch.protocol_files`.
"""

from models.protocols.catalog import Catalog
from models.protocols.conditions import AppliesTo, Conditions
from models.protocols.errors import ProtocolError, ProtocolMismatchError, UnknownProtocolError
from models.protocols.parse import parse_protocol
from models.protocols.profile import ProtocolProfile
from models.protocols.schedule import Window, next_window
from models.protocols.schema import (
    DoNotRemind,
    Phase,
    Protocol,
    Rule,
    SatisfiedBy,
    WindowSpec,
)
from models.protocols.value_sets import Marker, ValueSets, parse_value_sets

__all__ = [
    "AppliesTo",
    "Catalog",
    "Conditions",
    "DoNotRemind",
    "Marker",
    "Phase",
    "Protocol",
    "ProtocolError",
    "ProtocolMismatchError",
    "ProtocolProfile",
    "Rule",
    "SatisfiedBy",
    "UnknownProtocolError",
    "ValueSets",
    "Window",
    "WindowSpec",
    "next_window",
    "parse_protocol",
    "parse_value_sets",
]

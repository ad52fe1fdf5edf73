"""Contact points as they are stored: e-mail addresses checked by `email-validator`, phone
numbers in E.164 by `phonenumbers`. Errors never repeat the value (it is a contact detail).

What is stored is what is sent to: the channel compares the plugin's target with it before
every send (`notifier.channels.target_mismatch`).
"""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class ContactError(ValueError):
    """A contact point that cannot be stored; the message names the rule, never the value."""


def canonical_email(text: str) -> str:
    """The address to store and send to, or ContactError.

    RFC 5321/5322 syntax as `email-validator` checks it; no DNS look-up (saving a recipient must
    not depend on the network). Refused: quoted local parts, IP-literal domains and non-ASCII
    local parts (these need SMTPUTF8, which the SMTP client does not offer), so every stored
    address goes through `RCPT TO` unchanged. The local part keeps its case (it may be
    case-sensitive); an internationalised domain is stored in its ASCII (IDNA) form. `.test`
    domains are allowed (RFC 6761: never delivered; used by tests and the demo).
    """
    try:
        result = validate_email(
            text.strip(),
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            test_environment=True,
        )
    except EmailNotValidError:
        raise ContactError(
            "not a deliverable e-mail address (RFC 5322 syntax, ASCII before the @, "
            "a domain name after it)"
        ) from None
    address = result.ascii_email or result.normalized
    return str(address)


def canonical_phone(text: str) -> str:
    """The number in E.164 (`+` and digits), or ContactError.

    A number must carry its country code (`+1 555 201 7788`): without one, which country is a
    guess. The check is `phonenumbers`' possible-number test (length for the country), not its
    valid-number test, so the reserved 555 numbers used in examples pass.
    """
    cleaned = text.strip()
    if not cleaned.startswith("+"):
        raise ContactError("a phone number must start with + and its country code (E.164)")
    try:
        number = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException:
        raise ContactError("not a phone number in E.164 form") from None
    if not phonenumbers.is_possible_number(number):
        raise ContactError("not a possible phone number for its country code")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

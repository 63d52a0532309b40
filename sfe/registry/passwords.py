"""Password hashing (argon2id) and the password policy of NIST SP 800-63B.

Policy: at least 8 characters (15 recommended), at most 128, any characters (no composition rules:
they make passwords harder to remember, not harder to guess), refused when it is a commonly used
password (the 30,000 most common passwords of zxcvbn's list, also with digits or symbols merely
added at either end, plus the service's own name) or when it contains the account's email or name.
Passwords are NFKC-normalised before checking and hashing, so the same typed text always matches.
"""

from __future__ import annotations

import string
import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
RECOMMENDED_LENGTH = 15
MAX_LENGTH = 128
POLICY_TEXT = (
    f"At least {MIN_LENGTH} characters ({RECOMMENDED_LENGTH} or more recommended: a few unrelated "
    f"words make a strong, memorable passphrase), at most {MAX_LENGTH}. Any characters are allowed; "
    "common passwords and passwords containing your email or name are refused."
)
# Words specific to this service (NIST: "context-specific words, such as the name of the service").
SERVICE_WORDS = frozenset(
    {"sfe", "flexibility", "flexexchange", "flexibilityexchange", "systemwideflexibilityexchange"}
)
_DECORATION = string.digits + string.punctuation + string.whitespace

# argon2-cffi's defaults are RFC 9106's second recommended profile: argon2id, t=3, m=64 MiB, p=4,
# 16-byte salt, 32-byte hash. Changing them later is safe: needs_rehash() upgrades hashes at login.
_HASHER = PasswordHasher()


class PasswordRejected(ValueError):
    """The password does not meet the policy; ``problems`` are sentences safe to show the user."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the frequency list as a Python module (lower-case entries, most common first).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | SERVICE_WORDS


def is_common(password: str) -> bool:
    """A commonly used password, possibly with digits/symbols added at the ends ('Password123!')."""
    lowered = _normalise(password).casefold()
    common = _common_passwords()
    return lowered in common or lowered.strip(_DECORATION) in common


def problems(password: str, *, email: str | None = None, display_name: str | None = None) -> list[str]:
    """Every way ``password`` breaks the policy (empty when it is acceptable)."""
    text = _normalise(password)
    found: list[str] = []
    if len(text) < MIN_LENGTH:
        found.append(
            f"The password must have at least {MIN_LENGTH} characters "
            f"({RECOMMENDED_LENGTH} or more recommended); it has {len(text)}."
        )
    if len(text) > MAX_LENGTH:
        found.append(f"The password must have at most {MAX_LENGTH} characters; it has {len(text)}.")
    if text and is_common(text):
        found.append("This is a commonly used password, which attackers try first. Choose another one.")
    lowered = text.casefold()
    personal = []
    if email:
        email = email.strip().casefold()
        personal += [email, email.split("@", 1)[0]]
    if display_name:
        personal.append("".join(display_name.split()).casefold())
    if any(len(word) >= 3 and word in "".join(lowered.split()) for word in personal):
        found.append("The password must not contain your email address or your name.")
    return found


def validate(password: str, *, email: str | None = None, display_name: str | None = None) -> None:
    """Raise PasswordRejected unless ``password`` meets the policy."""
    found = problems(password, email=email, display_name=display_name)
    if found:
        raise PasswordRejected(found)


def hash_password(password: str) -> str:
    return _HASHER.hash(_normalise(password))


def verify(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False on a mismatch or an unusable stored hash."""
    try:
        return _HASHER.verify(password_hash, _normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (upgrade it at next login)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return hash_password("not a real password, only spends the time a verification takes")


def burn_verification_time(password: str) -> None:
    """Spend the time of one verification, so an unknown account answers as slowly as a known one."""
    verify(_dummy_hash(), password)

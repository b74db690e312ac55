"""The cache: where engines, converted models and records live, written atomically under per-artifact locks."""

from .artifacts import Store, canonical_json, identity_name, read_record, recording, requested_root, sidecar_of
from .files import ENV_VAR, MARKER, SHARED_ENV_VAR, atomic_write, crc32_of

__all__ = [
    "ENV_VAR",
    "MARKER",
    "SHARED_ENV_VAR",
    "Store",
    "atomic_write",
    "canonical_json",
    "crc32_of",
    "identity_name",
    "read_record",
    "recording",
    "requested_root",
    "sidecar_of",
]

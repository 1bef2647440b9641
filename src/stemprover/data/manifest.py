"""A pairs folder's ``manifest.jsonl``: one JSON record per pair, checked against the schema.

The schema file holds the record's shape; its enums (splits, stem types, producers, artifact
types) are filled from :mod:`stemprover.vocabulary`, so the names live in one place.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from stemprover.errors import StemProverError
from stemprover.vocabulary import ARTIFACTS, PRODUCERS, SEPARATED_STEMS, SPLITS

MANIFEST = "manifest.jsonl"
SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")


@functools.cache
def schema() -> dict:
    """The record schema with the vocabulary's enums."""
    out = json.loads(SCHEMA_PATH.read_text())
    props = out["properties"]
    props["split"]["enum"] = list(SPLITS)
    props["stem"]["enum"] = list(SEPARATED_STEMS)
    props["producer"]["enum"] = list(PRODUCERS)
    props["artifacts"]["propertyNames"]["enum"] = list(ARTIFACTS)
    return out


def write_schema(folder: Path) -> None:
    """Put the schema beside a manifest, for readers outside StemProver."""
    (folder / SCHEMA_PATH.name).write_text(json.dumps(schema(), indent=2) + "\n")


def read_manifest(folder: Path) -> list[dict]:
    """The records of a pairs folder, validated against the schema."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise StemProverError(f"not a pairs folder (no {MANIFEST})", folder)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise StemProverError(f"line {number} is not JSON ({err.msg})", path) from None
    validate_manifest(records)
    return records


@functools.cache
def _validator():
    """The schema's validator, the schema checked once (``jsonschema.validate`` checks it
    again for every record: 5.5 ms a record, 11 s per read of the recipe's four training
    folders' 1952 records, twice per training stage; now 0.2 s)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def validate_manifest(records: list[dict]) -> None:
    import jsonschema

    validator = _validator()
    for i, rec in enumerate(records):
        error = jsonschema.exceptions.best_match(validator.iter_errors(rec))
        if error is not None:
            raise StemProverError(f"manifest record {i} ({rec.get('id')}): {error.message}")

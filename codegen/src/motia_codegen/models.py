"""JSON-Schema dicts (legacy step schemas, stream definitions) as msgspec Structs, by datamodel-code-generator.

Every schema of a project goes through one `generate` call, so nested objects shared between schemas become
one class and names never clash; the module it writes is split into its imports and its definitions, which
the client generator merges into its own module.
"""

from __future__ import annotations

import ast
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motia.openapi import SchemaSet

DEFS_REF = "#/$defs/{name}"


class SchemaError(Exception):
    """datamodel-code-generator could not turn the schemas into Structs (the message names them)."""


@dataclass
class Models:
    """Generated definitions: `names` maps each requested name to the class (or alias) that defines it."""

    source: str = ""
    imports: dict[str, set[str]] = field(default_factory=dict)  # module -> names (`from module import names`)
    names: dict[str, str] = field(default_factory=dict)
    defined: set[str] = field(default_factory=set)


def generate_models(schemas: dict[str, dict[str, Any]], origins: dict[str, str] | None = None) -> Models:
    """`{"CreateUserBody": {...JSON Schema...}}` -> msgspec Structs. Nothing is imported when there is nothing
    to generate (datamodel-code-generator and pydantic take a while to import). `origins` names where each
    schema is declared, for the error when generation fails."""
    if not schemas:
        return Models()
    try:
        return _generate(schemas)
    except Exception as exc:
        where = ", ".join(f"{name} ({(origins or {}).get(name, '?')})" for name in sorted(schemas))
        raise SchemaError(f"cannot generate msgspec Structs from the JSON Schemas of {where}: "
                          f"{type(exc).__name__}: {exc}") from exc


def _generate(schemas: dict[str, dict[str, Any]]) -> Models:
    from datamodel_code_generator import DataModelType, InputFileType, PythonVersion, generate
    from datamodel_code_generator.format import Formatter
    from datamodel_code_generator.parser import LiteralType

    hoister = SchemaSet(ref_template=DEFS_REF)
    definitions: dict[str, Any] = {}
    for name in sorted(schemas):
        hoisted = hoister.hoist(schemas[name], name)
        if hoisted != {"$ref": DEFS_REF.format(name=name)}:
            definitions[name] = hoisted
    definitions.update(hoister.components)
    root = {"$defs": {name: definitions[name] for name in sorted(definitions)}}
    with tempfile.TemporaryDirectory(prefix="motia-codegen-") as scratch:
        metadata_file = Path(scratch) / "models.json"
        source = generate(
            json.dumps(root),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.MsgspecStruct,
            target_python_version=PythonVersion.PY_310,
            formatters=[Formatter.BUILTIN],
            disable_timestamp=True,
            skip_root_model=True,
            enum_field_as_literal=LiteralType.All,
            use_schema_description=True,
            use_field_description=True,
            emit_model_metadata=metadata_file,
        )
        metadata = json.loads(metadata_file.read_text())
    if not isinstance(source, str):  # pragma: no cover - one input makes one module
        raise TypeError("datamodel-code-generator returned several modules")
    generated = {entry.get("source_ref"): entry.get("class_name") for entry in _entries(metadata)}
    models = _split(source)
    for name in schemas:
        models.names[name] = generated.get(DEFS_REF.format(name=name)) or name
    missing = [name for name, cls in models.names.items() if cls not in models.defined]
    for name in missing:  # a schema generated nothing it could be named by: any JSON value
        models.names[name] = "Any"
        models.imports.setdefault("typing", set()).add("Any")
    return models


def _entries(metadata: Any) -> list[dict[str, Any]]:
    """The model entries of `--emit-model-metadata` output, wherever the version puts the list."""
    if isinstance(metadata, list):
        return [m for m in metadata if isinstance(m, dict)]
    if isinstance(metadata, dict):
        for value in metadata.values():
            if isinstance(value, list) and value and isinstance(value[0], dict) and "class_name" in value[0]:
                return value
    return []


def _split(source: str) -> Models:
    """The generated module's imports (minus `__future__`) and the code after them."""
    tree = ast.parse(source)
    models = Models()
    end = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            end = node.end_lineno or end
            if node.module != "__future__":
                models.imports.setdefault(node.module, set()).update(
                    a.name if a.asname is None else f"{a.name} as {a.asname}" for a in node.names)
        elif isinstance(node, ast.Import):
            end = node.end_lineno or end
            for alias in node.names:
                models.imports.setdefault("", set()).add(alias.name)
        elif isinstance(node, ast.ClassDef):
            models.defined.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            models.defined.add(node.target.id)
        elif isinstance(node, ast.Assign):
            models.defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    lines = source.splitlines()[end:]
    models.source = "\n".join(lines).strip("\n") + "\n" if any(line.strip() for line in lines) else ""
    return models

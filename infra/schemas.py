"""Export a JSON Schema per event of the catalog, for the carrier's integrators.

  python -m infra.schemas OUT_DIR     (make schemas)

Each schema is the envelope with `data` replaced by the topic's payload model, so an integrator
validates exactly what travels on the topic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared import catalog as catalog_module
from shared.events import Envelope


def event_schema(topic: str) -> dict:
    spec = catalog_module.load().topic(topic)
    envelope = Envelope.model_json_schema()
    payload = spec.payload_model.model_json_schema(ref_template="#/$defs/{model}")
    defs = {**envelope.pop("$defs", {}), **payload.pop("$defs", {})}
    envelope["properties"]["type"] = {"const": topic, "description": "The topic name"}
    envelope["properties"]["data"] = payload
    envelope["title"] = f"{topic} event"
    envelope["description"] = spec.description
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if defs:
        envelope["$defs"] = defs
    return envelope


def export(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in catalog_module.load().topics:
        path = out_dir / f"{topic}.schema.json"
        path.write_text(json.dumps(event_schema(topic), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")
    for written in export(target):
        print(written)

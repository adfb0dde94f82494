"""How long `motia codegen openapi|asyncapi|client` takes, on the examples and on a generated 100-step project.

    python bench/codegen.py [--steps 100] [--repeat 3]

Each command runs as a user runs it (`python -m motia.cli codegen ...`, a fresh process: start-up, step
discovery, generation, writing), best of `--repeat`. The generated project has typed API steps (a body Struct,
an emitted topic), typed `@on` subscribers in other files, one legacy JSON-Schema step in ten (the client turns
those into Structs with datamodel-code-generator) and a stream per ten steps.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (("openapi", "openapi.json"), ("asyncapi", "asyncapi.json"), ("client", "motia_client.py"))


def write_project(root: Path, steps: int) -> None:
    """`steps` steps: pairs of an API step emitting `item<n>.created` and an `@on` step consuming it, every tenth
    step a legacy `config` + `handler` with JSON-Schema body and payload instead."""
    directory = root / "steps"
    directory.mkdir(parents=True)
    for n in range(steps):
        pair = n - n % 2
        if n % 10 == 9:
            source = f'''
                config = {{
                    "name": "Legacy{n}",
                    "triggers": [
                        {{"type": "api", "path": "/legacy/{n}", "method": "POST",
                          "bodySchema": {{"type": "object", "properties": {{"note": {{"type": "string"}},
                                          "tags": {{"type": "array", "items": {{"type": "string"}}}}}},
                                          "required": ["note"]}}}},
                        {{"type": "event", "subscribes": ["legacy{n}.noted"],
                          "input": {{"type": "object", "properties": {{"note": {{"type": "string"}}}}}}}},
                    ],
                    "emits": ["legacy{n}.noted"],
                }}


                async def handler(input, ctx):
                    return {{"status": 202, "body": {{"ok": True}}}}
                '''
        elif n % 2 == 0:
            source = f'''
                import msgspec

                from motia import ApiRequest, FlowContext, Stream, api


                class Item{n}(msgspec.Struct):
                    id: str
                    name: str
                    quantity: int = 1
                    tags: list[str] = []


                class NewItem{n}(msgspec.Struct):
                    name: str
                    quantity: int = 1


                {f"items{n} = Stream[Item{n}]('items{n}')" if n % 10 == 0 else ""}


                @api("POST", "/items{n}/:id", status=201, emits=["item{n}.created"], flows=["flow{n // 20}"])
                async def create_item{n}(req: ApiRequest[NewItem{n}], ctx: FlowContext) -> Item{n}:
                    """Create item {n}."""
                    item = Item{n}(id=req.path_params["id"], name=req.body.name, quantity=req.body.quantity)
                    await ctx.emit("item{n}.created", item)
                    return item
                '''
        else:
            source = f'''
                from motia import FlowContext, on

                from .item_{pair:03d}_step import Item{pair}


                @on("item{pair}.created", flows=["flow{n // 20}"])
                async def on_item{n}(item: Item{pair}, ctx: FlowContext) -> None:
                    ctx.logger.info("item", id=item.id)
                '''
        name = f"legacy_{n:03d}_step.py" if n % 10 == 9 else f"item_{n:03d}_step.py"
        (directory / name).write_text(textwrap.dedent(source).lstrip())


def time_command(cwd: Path, command: str, output: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "motia.cli", "codegen", command, "-o", output], cwd=cwd,
                                capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{command} failed in {cwd}:\n{result.stderr}")
        best = min(best, elapsed)
    return best


def time_startup(repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "motia.cli", "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; best of {args.repeat}; wall time of a fresh process per command")
    print(f"{'project':<24} {'openapi':>9} {'asyncapi':>9} {'client':>9}")
    print(f"{'(motia --help)':<24} {time_startup(args.repeat):>8.2f}s")
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("hello", "seed", "orders"):
            cwd = ROOT / "examples" / name
            times = [time_command(cwd, command, str(Path(scratch) / f"{name}-{out}"), args.repeat)
                     for command, out in COMMANDS]
            print(f"{'examples/' + name:<24} " + " ".join(f"{t:>8.2f}s" for t in times))
        project = Path(scratch) / "generated"
        write_project(project, args.steps)
        times = [time_command(project, command, out, args.repeat) for command, out in COMMANDS]
        print(f"{f'{args.steps} generated steps':<24} " + " ".join(f"{t:>8.2f}s" for t in times))
        sizes = {out: (project / out).stat().st_size for _, out in COMMANDS}
        print("generated sizes: " + ", ".join(f"{out} {size / 1024:.0f} KiB" for out, size in sizes.items()))


if __name__ == "__main__":
    main()

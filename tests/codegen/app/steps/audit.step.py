# The legacy forms: a `*.step.py` file, JSON-Schema dicts for the body, the responses and a queue payload.
config = {
    "name": "Audit",
    "description": "Records an audit entry",
    "triggers": [
        {
            "type": "api",
            "path": "/audit/:kind",
            "method": "POST",
            "bodySchema": {
                "type": "object",
                "properties": {"who": {"$ref": "#/$defs/Actor"}, "what": {"type": "string"}},
                "required": ["who", "what"],
                "$defs": {"Actor": {"type": "object", "properties": {"name": {"type": "string"}}}},
            },
            "responseSchema": {202: {"type": "object", "properties": {"queued": {"type": "boolean"}}}},
            "queryParams": [{"name": "dry_run", "description": "Validate only"}],
        },
        {
            "type": "event",
            "subscribes": ["audit.logged"],
            "input": {
                "type": "object",
                "properties": {"entry": {"type": "string"}, "level": {"enum": ["info", "warn"]}},
                "required": ["entry"],
            },
        },
    ],
    "emits": ["audit.logged"],
    "virtualEmits": ["audit.archived"],
    "flows": ["audit"],
}


async def handler(input, ctx):
    if ctx.trigger.type == "api":
        await ctx.emit("audit.logged", {"entry": input.body["what"]})
        return {"status": 202, "body": {"queued": True}}
    return None

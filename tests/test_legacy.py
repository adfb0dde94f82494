"""The seed's and Motia's config forms compile to the same step model as the decorators."""

from __future__ import annotations

import pytest

from motia import (
    ApiTrigger,
    CronTrigger,
    EventTrigger,
    HandlerConfig,
    InfrastructureConfig,
    QueueConfig,
    QueueTrigger,
    StateTrigger,
    StepConfig,
    StepError,
    StreamTrigger,
    api,
    cron,
    model,
    on,
    on_state,
    on_stream,
    step_wrapper,
)
from motia.dsl import step_of
from motia.legacy import compile_step
from motia.model import Emit, QueryParam, SourceLocation, Step

SOURCE = SourceLocation("/app/steps/thing_step.py", 12)


def handler(data, ctx):
    return data


def compile_dict(config: dict) -> Step:
    return compile_step(config, handler, source=SOURCE)


def only_trigger(config: dict):
    (trigger,) = compile_dict({"name": "S", **config}).triggers
    return trigger


# --- StepConfig + step_wrapper (the seed) ------------------------------------------------------------


def test_step_wrapper_returns_the_handler_unchanged():
    def wrapped(req, ctx):
        return "ok"

    config = StepConfig(name="Wrapped", triggers=[ApiTrigger(path="/w")])
    assert step_wrapper(config, "/app/steps/w.step.py", wrapped) is wrapped
    assert wrapped(None, None) == "ok"


def test_step_wrapper_attaches_a_step_readable_with_step_of():
    def wrapped(req, ctx):
        return None

    config = StepConfig(name="Wrapped", triggers=[ApiTrigger(path="/w", method="POST")], emits=["w.done"])
    step_wrapper(config, "/app/steps/w.step.py", wrapped)
    step = step_of(wrapped)
    assert isinstance(step, Step)
    assert step.name == "Wrapped"
    assert step.handler is wrapped
    assert [(t.method, t.path) for t in step.triggers] == [("POST", "/w")]
    assert step.emits == [Emit("w.done")]


def test_step_wrapper_locates_the_step_at_the_given_file_and_the_handler_line():
    def wrapped(req, ctx):
        return None

    step_wrapper(StepConfig(name="Wrapped"), "/app/steps/w.step.py", wrapped)
    assert step_of(wrapped).source == SourceLocation("/app/steps/w.step.py", wrapped.__code__.co_firstlineno)


def test_step_config_carries_description_flows_and_virtual_subscribes():
    config = StepConfig(name="Described", description="Does things", flows=["users"], virtual_subscribes=["user.seen"])
    step = compile_step(config, handler)
    assert (step.description, step.flows, step.virtual_subscribes) == ("Does things", ["users"], ["user.seen"])


def test_step_config_with_no_triggers_compiles_to_a_step_with_no_triggers():
    assert compile_step(StepConfig(name="Lonely"), handler).triggers == []


# --- module-level dict config ------------------------------------------------------------------------


def test_dict_config_compiles_to_a_step_at_the_given_source():
    step = compile_dict({"name": "Dict", "triggers": [{"type": "api", "path": "/d"}], "flows": ["f"]})
    assert step.name == "Dict"
    assert step.handler is handler
    assert step.source == SOURCE
    assert step.flows == ["f"]
    assert isinstance(step.triggers[0], model.HttpTrigger)


def test_dict_config_accepts_the_api_helper_in_its_triggers():
    def long_enough(req, ctx):
        return True

    trigger = only_trigger({"triggers": [api("get", "/x/:id", condition=long_enough)]})
    assert isinstance(trigger, model.HttpTrigger)
    assert (trigger.method, trigger.path, trigger.condition) == ("GET", "/x/:id", long_enough)


def test_dict_config_accepts_the_seed_keywords_of_the_api_helper():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    trigger = only_trigger({"triggers": [api("POST", "/x", body_schema=schema, response_schema={201: schema})]})
    assert trigger.body == schema
    assert trigger.responses == {201: schema}


def test_dict_config_accepts_model_triggers_as_they_are():
    trigger = model.CronTrigger(expression="0 * * * *")
    assert only_trigger({"triggers": [trigger]}) is trigger


# --- trigger type aliases ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["api", "http"])
def test_api_and_http_are_the_same_trigger_type(kind):
    trigger = only_trigger({"triggers": [{"type": kind, "path": "/users/:id", "method": "delete"}]})
    assert isinstance(trigger, model.HttpTrigger)
    assert (trigger.method, trigger.path) == ("DELETE", "/users/:id")


def test_api_trigger_method_defaults_to_get():
    assert only_trigger({"triggers": [{"type": "api", "path": "/x"}]}).method == "GET"


@pytest.mark.parametrize("kind", ["event", "queue", "durable:subscriber"])
def test_event_queue_and_durable_subscriber_are_the_same_trigger_type(kind):
    trigger = only_trigger({"triggers": [{"type": kind, "topic": "user.created"}]})
    assert isinstance(trigger, model.QueueTrigger)
    assert trigger.topic == "user.created"


def test_subscribes_makes_one_queue_trigger_per_topic():
    step = compile_dict({"name": "S", "triggers": [{"type": "event", "subscribes": ["a", "b"]}]})
    assert [type(t) for t in step.triggers] == [model.QueueTrigger, model.QueueTrigger]
    assert [t.topic for t in step.triggers] == ["a", "b"]


def test_topics_makes_one_queue_trigger_per_topic():
    step = compile_dict({"name": "S", "triggers": [{"type": "queue", "topics": ["a", "b"]}]})
    assert [t.topic for t in step.triggers] == ["a", "b"]


def test_a_single_topic_string_in_subscribes_is_one_topic():
    assert only_trigger({"triggers": [{"type": "event", "subscribes": "a.b"}]}).topic == "a.b"


@pytest.mark.parametrize("key", ["cron", "expression"])
def test_cron_and_expression_are_the_same_cron_field(key):
    trigger = only_trigger({"triggers": [{"type": "cron", key: "0 9 * * *"}]})
    assert isinstance(trigger, model.CronTrigger)
    assert trigger.expression == "0 9 * * *"
    assert trigger.timezone == "UTC"


def test_state_trigger_keeps_scope_and_key():
    trigger = only_trigger({"triggers": [{"type": "state", "scope": "orders", "key": "o-1"}]})
    assert isinstance(trigger, model.StateTrigger)
    assert (trigger.scope, trigger.key) == ("orders", "o-1")


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "stream", "streamName": "todos", "groupId": "inbox", "itemId": "t-1"},
        {"type": "stream", "stream_name": "todos", "group_id": "inbox", "item_id": "t-1"},
    ],
    ids=["camelCase", "snake_case"],
)
def test_stream_trigger_keys_in_either_case(raw):
    trigger = only_trigger({"triggers": [raw]})
    assert isinstance(trigger, model.StreamTrigger)
    assert (trigger.stream_name, trigger.group_id, trigger.item_id) == ("todos", "inbox", "t-1")


# --- emits and virtual emits -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["emits", "enqueues"])
def test_emits_and_enqueues_are_the_same_field(key):
    step = compile_dict({"name": "S", key: ["a", {"topic": "b", "label": "Maybe B", "conditional": True}]})
    assert step.emits == [Emit("a"), Emit("b", "Maybe B", True)]


def test_emits_and_enqueues_together_are_both_kept():
    step = compile_dict({"name": "S", "emits": ["a"], "enqueues": ["b"]})
    assert [e.topic for e in step.emits] == ["a", "b"]


def test_step_config_emits_and_enqueues_are_the_same_field():
    assert compile_step(StepConfig(name="S", enqueues=["a"]), handler).emits == [Emit("a")]
    assert compile_step(StepConfig(name="S", emits=["a"]), handler).emits == [Emit("a")]


@pytest.mark.parametrize("key", ["virtual_emits", "virtualEmits", "virtualEnqueues", "virtual_enqueues"])
def test_every_spelling_of_virtual_emits_is_accepted(key):
    step = compile_dict({"name": "S", key: ["x", {"topic": "y", "label": "why"}]})
    assert step.virtual_emits == [Emit("x"), Emit("y", "why")]
    assert step.emits == []


def test_virtual_subscribes_in_camel_case():
    assert compile_dict({"name": "S", "virtualSubscribes": ["in"]}).virtual_subscribes == ["in"]


# --- camelCase and snake_case keys -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "responses", "query"),
    [("bodySchema", "responseSchema", "queryParams"), ("body_schema", "response_schema", "query_params")],
    ids=["camelCase", "snake_case"],
)
def test_api_trigger_schema_keys_in_either_case(body, responses, query):
    body_schema = {"type": "object", "required": ["name"]}
    trigger = only_trigger(
        {
            "triggers": [
                {
                    "type": "api",
                    "path": "/users",
                    "method": "POST",
                    body: body_schema,
                    responses: {"201": {"type": "object"}},
                    query: [{"name": "page", "description": "Page number"}, "limit"],
                }
            ]
        }
    )
    assert trigger.body == body_schema
    assert trigger.responses == {201: {"type": "object"}}
    assert trigger.query == [QueryParam("page", "Page number"), QueryParam("limit")]


def test_api_trigger_without_a_body_schema_infers_the_body_from_the_handler():
    assert only_trigger({"triggers": [{"type": "api", "path": "/x"}]}).body is model.INFER


@pytest.mark.parametrize(
    "infrastructure",
    [
        {"handler": {"timeout": 5}, "queue": {"maxRetries": 5, "backoffDelayMs": 10}},
        {"handler": {"timeout": 5}, "queue": {"max_retries": 5, "backoff_delay_ms": 10}},
        InfrastructureConfig(handler=HandlerConfig(timeout=5), queue=QueueConfig(max_retries=5, backoff_delay_ms=10)),
    ],
    ids=["camelCase", "snake_case", "classes"],
)
def test_step_infrastructure_sets_handler_limits_and_queue_config(infrastructure):
    step = compile_dict(
        {"name": "S", "triggers": [{"type": "event", "subscribes": ["a", "b"]}], "infrastructure": infrastructure}
    )
    assert step.handler_config == HandlerConfig(timeout=5)
    expected = QueueConfig(max_retries=5, backoff_delay_ms=10)
    assert [t.config for t in step.triggers] == [expected, expected]


def test_step_infrastructure_queue_config_reaches_the_queue_triggers_of_a_mixed_step():
    step = compile_dict(
        {
            "name": "S",
            "triggers": [{"type": "api", "path": "/x"}, {"type": "event", "topic": "a"}],
            "infrastructure": {"queue": {"maxRetries": 1}},
        }
    )
    assert [type(t) for t in step.triggers] == [model.HttpTrigger, model.QueueTrigger]
    assert step.triggers[1].config == QueueConfig(max_retries=1)


def test_a_triggers_own_queue_config_wins_over_the_step_infrastructure():
    step = compile_dict(
        {
            "name": "S",
            "triggers": [{"type": "queue", "topic": "a", "config": {"maxRetries": 7}}],
            "infrastructure": {"queue": {"maxRetries": 1}},
        }
    )
    assert step.triggers[0].config == QueueConfig(max_retries=7)


def test_trigger_level_infrastructure_queue_becomes_the_trigger_config():
    trigger = only_trigger(
        {"triggers": [{"type": "event", "subscribes": ["a"], "infrastructure": {"queue": {"type": "fifo"}}}]}
    )
    assert trigger.config == QueueConfig(type="fifo")


def test_queue_trigger_without_queue_settings_has_no_config():
    assert only_trigger({"triggers": [{"type": "queue", "topic": "a"}]}).config is None


# --- legacy trigger classes imported from motia ------------------------------------------------------


def test_api_trigger_class_compiles_to_an_http_trigger():
    query = [QueryParam("q", "search")]
    trigger = only_trigger(
        {"triggers": [ApiTrigger(path="/search", method="post", body_schema={"type": "object"}, query_params=query)]}
    )
    assert isinstance(trigger, model.HttpTrigger)
    assert (trigger.method, trigger.path, trigger.body, trigger.query) == (
        "POST",
        "/search",
        {"type": "object"},
        query,
    )


def test_event_trigger_class_subscribes_makes_one_queue_trigger_per_topic():
    step = compile_step(StepConfig(name="S", triggers=[EventTrigger(subscribes=["a", "b"])]), handler)
    assert [(type(t), t.topic) for t in step.triggers] == [(model.QueueTrigger, "a"), (model.QueueTrigger, "b")]


def test_queue_trigger_class_with_topic_and_config():
    legacy = QueueTrigger(topic="a", config=QueueConfig(type="fifo", max_retries=2))
    trigger = only_trigger({"triggers": [legacy]})
    assert isinstance(trigger, model.QueueTrigger)
    assert (trigger.topic, trigger.config) == ("a", QueueConfig(type="fifo", max_retries=2))


def test_event_trigger_class_with_infrastructure_queue():
    legacy = EventTrigger(subscribes=["a"], infrastructure=InfrastructureConfig(queue=QueueConfig(concurrency=1)))
    assert only_trigger({"triggers": [legacy]}).config == QueueConfig(concurrency=1)


@pytest.mark.parametrize("legacy", [CronTrigger(cron="0 9 * * *"), CronTrigger(expression="0 9 * * *")])
def test_cron_trigger_class_with_cron_or_expression(legacy):
    trigger = only_trigger({"triggers": [legacy]})
    assert isinstance(trigger, model.CronTrigger)
    assert trigger.expression == "0 9 * * *"


def test_state_trigger_class_compiles_to_a_state_trigger():
    trigger = only_trigger({"triggers": [StateTrigger(scope="orders")]})
    assert isinstance(trigger, model.StateTrigger)
    assert (trigger.scope, trigger.key) == ("orders", None)


def test_stream_trigger_class_compiles_to_a_stream_trigger():
    trigger = only_trigger({"triggers": [StreamTrigger(stream_name="todos", group_id="inbox")]})
    assert isinstance(trigger, model.StreamTrigger)
    assert (trigger.stream_name, trigger.group_id) == ("todos", "inbox")


def test_step_config_infrastructure_class_sets_the_handler_limits():
    config = StepConfig(name="S", infrastructure=InfrastructureConfig(handler=HandlerConfig(timeout=2, ram=256)))
    assert compile_step(config, handler).handler_config == HandlerConfig(timeout=2, ram=256)


# --- Motia 0.x root-level form -----------------------------------------------------------------------


def test_root_level_api_config_is_one_http_trigger():
    step = compile_dict({"type": "api", "name": "Old", "path": "/old/:id", "method": "PUT", "emits": ["old.put"]})
    (trigger,) = step.triggers
    assert isinstance(trigger, model.HttpTrigger)
    assert (step.name, trigger.method, trigger.path) == ("Old", "PUT", "/old/:id")
    assert step.emits == [Emit("old.put")]


def test_root_level_event_config_subscribes_to_each_topic():
    step = compile_dict({"type": "event", "name": "Old", "subscribes": ["a", "b"]})
    assert [t.topic for t in step.triggers] == ["a", "b"]


def test_root_level_cron_config_is_one_cron_trigger():
    (trigger,) = compile_dict({"type": "cron", "name": "Old", "cron": "*/5 * * * *"}).triggers
    assert trigger.expression == "*/5 * * * *"


def test_noop_step_has_no_triggers_and_keeps_its_virtual_edges():
    step = compile_dict({"type": "noop", "name": "Human", "virtualEmits": ["approved"], "virtualSubscribes": ["ask"]})
    assert step.triggers == []
    assert (step.virtual_emits, step.virtual_subscribes) == ([Emit("approved")], ["ask"])


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [{"triggers": []}, {"name": ""}, {"name": "   "}], ids=["absent", "empty", "blank"])
def test_missing_name_is_a_step_error_at_the_source(config):
    with pytest.raises(StepError) as error:
        compile_dict(config)
    assert error.value.location == str(SOURCE)
    assert "name" in error.value.message


def test_unknown_trigger_type_is_a_step_error_naming_the_step_and_the_type():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Weird", "triggers": [{"type": "webhook", "path": "/x"}]})
    assert error.value.location == str(SOURCE)
    assert "'Weird'" in error.value.message
    assert "'webhook'" in error.value.message


def test_trigger_without_a_type_is_a_step_error():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Typeless", "triggers": [{"path": "/x"}]})
    assert "'Typeless'" in error.value.message


@pytest.mark.parametrize(
    "raw",
    [{"type": "event"}, {"type": "queue", "subscribes": []}, EventTrigger()],
    ids=["no-topic-key", "empty-subscribes", "class"],
)
def test_event_trigger_without_a_topic_is_a_step_error(raw):
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Deaf", "triggers": [raw]})
    assert error.value.location == str(SOURCE)
    assert "'Deaf'" in error.value.message
    assert "subscribes" in error.value.message


def test_api_trigger_without_a_path_is_a_step_error():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Pathless", "triggers": [{"type": "api", "method": "GET"}]})
    assert "'Pathless'" in error.value.message
    assert "path" in error.value.message


def test_cron_trigger_without_an_expression_is_a_step_error():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Clockless", "triggers": [{"type": "cron"}]})
    assert "'Clockless'" in error.value.message


@pytest.mark.parametrize(
    "config",
    [
        {"triggers": [{"type": "event", "topic": "a", "config": {"maxRetries": -1}}]},
        {"triggers": [{"type": "event", "topic": "a"}], "infrastructure": {"queue": {"maxRetries": -1}}},
        {"triggers": [{"type": "event", "topic": "a", "config": {"type": "lifo"}}]},
        {"triggers": [QueueTrigger(topic="a", config=QueueConfig(max_retries=-1))]},
        {"infrastructure": InfrastructureConfig(queue=QueueConfig(delay_seconds=901))},
    ],
    ids=["trigger-dict", "step-infrastructure", "unknown-type", "trigger-class", "infrastructure-class"],
)
def test_invalid_queue_config_is_a_step_error(config):
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Retrying", **config})
    assert error.value.location == str(SOURCE)
    assert "'Retrying'" in error.value.message
    assert "queue config" in error.value.message


def test_invalid_handler_limits_in_an_infrastructure_dict_are_a_step_error():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Slow", "infrastructure": {"handler": {"timeout": 0}}})
    assert error.value.location == str(SOURCE)
    assert "'Slow'" in error.value.message


def test_invalid_handler_limits_in_an_infrastructure_class_are_a_step_error():
    config = StepConfig(name="Slow", infrastructure=InfrastructureConfig(handler=HandlerConfig(timeout=-1)))
    with pytest.raises(StepError) as error:
        compile_step(config, handler, source=SOURCE)
    assert error.value.location == str(SOURCE)


def test_query_param_without_a_name_is_a_step_error():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "Q", "triggers": [{"type": "api", "path": "/x", "queryParams": [{"description": "d"}]}]})
    assert error.value.location == str(SOURCE)
    assert "'Q'" in error.value.message


def test_response_schema_that_is_not_a_mapping_is_a_step_error():
    with pytest.raises(StepError) as error:
        compile_dict({"name": "R", "triggers": [{"type": "api", "path": "/x", "responseSchema": [{}]}]})
    assert error.value.location == str(SOURCE)
    assert "'R'" in error.value.message


def test_step_wrapper_errors_point_at_the_given_file():
    def wrapped(req, ctx):
        return None

    with pytest.raises(StepError) as error:
        step_wrapper(StepConfig(name="Bad", triggers=[{"type": "nope"}]), "/app/steps/bad.step.py", wrapped)
    assert error.value.location == f"/app/steps/bad.step.py:{wrapped.__code__.co_firstlineno}"
    assert "'Bad'" in error.value.message


def test_non_callable_handler_is_a_step_error():
    with pytest.raises(StepError) as error:
        compile_step({"name": "NoHandler"}, "handler", source=SOURCE)  # type: ignore[arg-type]
    assert error.value.location == str(SOURCE)
    assert "'NoHandler'" in error.value.message


# --- decorators and legacy configs agree -------------------------------------------------------------


def trigger_fields(trigger) -> tuple:
    """The fields that decide what a trigger listens to and how it is delivered."""
    if isinstance(trigger, model.HttpTrigger):
        return ("http", trigger.method, trigger.path, trigger.body, trigger.condition)
    if isinstance(trigger, model.QueueTrigger):
        return ("queue", trigger.topic, trigger.config, trigger.condition)
    if isinstance(trigger, model.CronTrigger):
        return ("cron", trigger.expression, trigger.timezone)
    if isinstance(trigger, model.StateTrigger):
        return ("state", trigger.scope, trigger.key)
    return ("stream", trigger.stream_name, trigger.group_id, trigger.item_id)


def always(data, ctx):
    return True


def test_decorated_and_legacy_steps_produce_equal_triggers():
    @api("POST", "/orders/:id", condition=always)
    @on(["order.created", "order.updated"], queue={"max_retries": 5, "type": "fifo"})
    @cron("0 9 * * *")
    @on_state(scope="orders")
    @on_stream("todos", group_id="inbox")
    def decorated(data, ctx):
        return None

    legacy = compile_dict(
        {
            "name": "decorated",
            "triggers": [
                {"type": "api", "path": "/orders/:id", "method": "post", "condition": always},
                {"type": "event", "subscribes": ["order.created", "order.updated"]},
                {"type": "cron", "cron": "0 9 * * *"},
                {"type": "state", "scope": "orders"},
                {"type": "stream", "streamName": "todos", "groupId": "inbox"},
            ],
            "infrastructure": {"queue": {"maxRetries": 5, "type": "fifo"}},
        }
    )
    expected = [trigger_fields(t) for t in step_of(decorated).triggers]
    assert [trigger_fields(t) for t in legacy.triggers] == expected
    assert len(expected) == 6


def test_step_config_and_dict_config_produce_equal_steps():
    from_class = compile_step(
        StepConfig(
            name="Same",
            triggers=[ApiTrigger(path="/s", method="PATCH"), EventTrigger(subscribes=["s"])],
            emits=["s.done"],
            virtual_emits=["s.maybe"],
            flows=["f"],
        ),
        handler,
        source=SOURCE,
    )
    from_dict = compile_dict(
        {
            "name": "Same",
            "triggers": [{"type": "http", "path": "/s", "method": "PATCH"}, {"type": "queue", "topic": "s"}],
            "enqueues": ["s.done"],
            "virtualEnqueues": ["s.maybe"],
            "flows": ["f"],
        }
    )
    assert [trigger_fields(t) for t in from_class.triggers] == [trigger_fields(t) for t in from_dict.triggers]
    assert (from_class.emits, from_class.virtual_emits, from_class.flows) == (
        from_dict.emits,
        from_dict.virtual_emits,
        from_dict.flows,
    )

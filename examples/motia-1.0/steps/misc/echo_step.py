from motia import ApiResponse, StepConfig, http, step

echo_step = step(
    StepConfig(name="Echo", triggers=[http("POST", "/echo")], description="step(config).handle(fn)")
).handle(lambda request, ctx: ApiResponse(status=200, body={"echo": request.body}))

// The Node iii-sdk (npm) as a second, independent client of the embedded engine, driven by
// tests/protocol/test_node_sdk.py: it connects to $III_URL, registers functions, an HTTP route guarded by
// middleware and an HTTP-invoked function ($ENDPOINT_URL), prints "READY" once the engine lists them, then runs
// each JSON line read from stdin as `iii.trigger(request)` and prints {"result"} or {"error"} per line.
import { createInterface } from 'node:readline'
import { registerWorker } from 'iii-sdk'

const iii = registerWorker(process.env.III_URL, {
  workerName: process.env.WORKER_NAME ?? 'node-client',
  otel: { enabled: false },
  enableMetricsReporting: false,
})

const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`)

iii.registerFunction('node::echo', async (data, metadata) => ({ echo: data, metadata: metadata ?? null }), {
  description: 'echoes its input and metadata',
})
iii.registerFunction('node::guard', async (input) => {
  if (input.request.headers['x-deny']) {
    return { action: 'respond', response: { status_code: 403, body: { denied: input.request.method } } }
  }
  return { action: 'continue' }
})
iii.registerFunction('node::items', async (req) => ({
  status_code: 201,
  headers: { 'x-served-by': 'node' },
  body: { id: req.path_params.id, name: req.body?.name ?? null },
}))
iii.registerTrigger({
  type: 'http',
  function_id: 'node::items',
  config: { api_path: '/node/items/:id', http_method: 'POST', middleware_function_ids: ['node::guard'] },
})
if (process.env.ENDPOINT_URL) {
  iii.registerFunction('node::remote', {
    url: process.env.ENDPOINT_URL,
    method: 'POST',
    timeout_ms: 5000,
    auth: { type: 'api_key', header: 'x-api-key', value_key: 'NODE_TEST_API_KEY' },
  })
}

const expected = ['node::echo', 'node::guard', 'node::items', ...(process.env.ENDPOINT_URL ? ['node::remote'] : [])]
for (let attempt = 0; ; attempt++) {
  const listed = await iii.trigger({ function_id: 'engine::functions::list', payload: { prefix: 'node::' } })
  const ids = new Set(listed.functions.map((f) => f.function_id))
  if (expected.every((id) => ids.has(id))) break
  if (attempt > 200) throw new Error(`not registered: ${JSON.stringify([...ids])}`)
  await new Promise((resolve) => setTimeout(resolve, 25))
}
print('READY')

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue
  try {
    print({ result: (await iii.trigger(JSON.parse(line))) ?? null })
  } catch (error) {
    print({ error: { code: error.code ?? 'UNKNOWN', message: error.message } })
  }
}
await iii.shutdown()
process.exit(0)

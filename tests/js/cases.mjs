// Shared by the client scripts: run named cases in order and print one JSON object
// {name: outcome} on stdout, where an outcome is what the client library handed back.

export function outcome(res) {
  return {
    status: res.status,
    data: res.data === undefined ? null : res.data,
    count: res.count === undefined ? null : res.count,
    error: res.error
      ? {
          code: res.error.code ?? null,
          message: res.error.message ?? null,
          details: res.error.details ?? null,
          hint: res.error.hint ?? null,
        }
      : null,
  };
}

export async function runCases(cases) {
  const results = {};
  for (const [name, build] of Object.entries(cases)) {
    try {
      results[name] = outcome(await build());
    } catch (err) {
      results[name] = { thrown: String(err && err.stack ? err.stack : err) };
    }
  }
  process.stdout.write(JSON.stringify(results));
}

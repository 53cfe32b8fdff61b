// Runs one AG-UI run with the official TypeScript client (@ag-ui/client HttpAgent)
// and prints what the client ended up with, as JSON on stdout.
//
// Input (argv[2], JSON): {url, threadId, runId, initialState, headers, forwardedProps, message}
// Output: {state, events: [{type, version}], warnings: [...], error}
import { HttpAgent } from "@ag-ui/client";

const spec = JSON.parse(process.argv[2]);
const warnings = [];
// @ag-ui/client reports a delta it could not apply with a console warning and
// goes on: capture them, so the test can tell a silent divergence.
for (const level of ["warn", "error"]) {
  const original = console[level];
  console[level] = (...args) => {
    warnings.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(" "));
    original.apply(console, args);
  };
}

const agent = new HttpAgent({
  url: spec.url,
  threadId: spec.threadId,
  initialState: spec.initialState ?? {},
  initialMessages: [{ id: "m1", role: "user", content: spec.message ?? "buy milk" }],
  headers: spec.headers ?? {},
});

const events = [];
let error = null;
try {
  await agent.runAgent(
    { runId: spec.runId, forwardedProps: spec.forwardedProps ?? {} },
    {
      onEvent({ event }) {
        events.push({ type: event.type, version: event.metadata?.agui_state?.version ?? null });
      },
    },
  );
} catch (e) {
  error = String(e?.message ?? e);
}
process.stdout.write(JSON.stringify({ state: agent.state, events, warnings, error }));

/**
 * A stop signal is never lost when `serve` (and the long-running dev commands) take SIGTERM and
 * SIGINT over from the entry point's "exit on signal" (src/cli/io.ts takeOverStopSignals). Found
 * while timing start to ready (issue #20): a SIGTERM sent right after `runner listening` left the
 * runner running (its /ready answering, never draining) until SIGKILL. Removing every listener
 * first stops Node's signal watcher, and a signal already caught but not yet dispatched went
 * nowhere. The class: whatever moment the signal arrives — before the take-over (pending), after
 * it — it reaches the new handler exactly once, SIGTERM or SIGINT; a second stop signal still
 * ends the process at once (Node's default), as the entry point's `once` handlers did.
 * Each case is a real process that signals itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';

const IO = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'cli', 'io.ts')).href;

/** Runs `body` in a process whose entry point exits 143 on SIGTERM and 130 on SIGINT, as bin/kubiya-runner.js does. */
function run(body: string): { status: number | null; signal: string | null; out: string } {
  const script = `
import { takeOverStopSignals } from ${JSON.stringify(IO)};
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
const busy = (ms) => { const t = Date.now(); while (Date.now() - t < ms); };
${body}
setTimeout(() => { console.log('lost'); process.exit(3); }, 2000);
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, signal: r.signal, out: r.stdout.trim() };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} caught but not yet dispatched when the handlers are taken over reaches the new one`, () => {
    const r = run(`
process.kill(process.pid, '${signal}');
busy(100); // Node catches the signal now; it is dispatched on the next turn of the event loop
takeOverStopSignals((s) => { console.log('stopped by ' + s); process.exit(0); });`);
    assert.deepEqual(r, { status: 0, signal: null, out: `stopped by ${signal}` });
  });

  test(`${signal} after the take-over reaches the new handler once; a second stop signal ends the process`, () => {
    const r = run(`
let calls = 0;
takeOverStopSignals((s) => {
  calls++;
  console.log('stopping on ' + s + ' #' + calls);
  setTimeout(() => process.kill(process.pid, 'SIGTERM'), 10); // the operator insists
  setTimeout(() => { console.log('still running'); process.exit(4); }, 1000);
});
process.kill(process.pid, '${signal}');`);
    assert.equal(r.out, `stopping on ${signal} #1`);
    assert.equal(r.signal, 'SIGTERM', 'the second signal ended it (default action)');
  });
}

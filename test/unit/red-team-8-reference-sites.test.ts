/**
 * Red team 8, finding 3 (docs/reviews/2026-11-30-red-team-8.md). Class: an output reference
 * written where the runner never substitutes one is accepted in silence. docs/workflows.md: a
 * reference stands "in a plain env value or an argument of a later step", and one "that is not
 * well-formed (`${steps.a.outputs}`) is refused with 422 VALIDATE_SCHEMA". Only the step's own
 * `env` values and `args` are read (src/validate/output-refs.ts `referenceSites`); the same text in
 * `command`, in a sidecar's or init container's env/args/command, or in an exec probe is neither
 * checked nor substituted: the container gets `${steps.a.outputs.v}` literally (in `sh -c` a "bad
 * substitution"), a malformed one passes, and so does a reference to a SECRET output in `command`
 * (harmless today because it is never substituted; a later change that substitutes `command` too
 * would put the secret in argv, which the audit log does not mask).
 *
 * Variants: every container string site of a step × a good, a malformed and a secret reference.
 * Control: the two documented sites accept a good reference and refuse a malformed one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate } from '../../src/validate/validate.ts';

const R = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };
const side = { name: 'sc', image: 'alpine:3.19.1', resources: R };

/** Where a container string may stand, other than the step's own env values and args. */
const UNREAD: Record<string, (text: string) => Record<string, unknown>> = {
  command: (t) => ({ command: ['echo', t] }),
  'sidecar env': (t) => ({ sidecars: [{ ...side, env: { X: t } }] }),
  'sidecar args': (t) => ({ sidecars: [{ ...side, args: [t] }] }),
  'sidecar command': (t) => ({ sidecars: [{ ...side, command: ['echo', t] }] }),
  'init env': (t) => ({ initContainers: [{ ...side, name: 'ic', env: { X: t } }] }),
  'init args': (t) => ({ initContainers: [{ ...side, name: 'ic', args: [t] }] }),
  'exec probe': (t) => ({ sidecars: [{ ...side, readinessProbe: { exec: { command: ['sh', '-c', t] } } }] }),
};
const REFS = { good: '${steps.a.outputs.v}', malformed: '${steps.a.outputs}', secret: '${steps.a.outputs.s}' };

function check(extra: Record<string, unknown>) {
  return validate({
    id: 'w',
    name: 'w',
    runId: 'r',
    steps: [
      { name: 'a', image: 'alpine:3.19.1', resources: R, outputs: [{ name: 'v' }, { name: 's', secret: true }] },
      { name: 'b', image: 'alpine:3.19.1', resources: R, ...extra },
    ],
  });
}

describe('red team 8 finding 3: output references where none is substituted', () => {
  test('control: the documented sites take a good reference and refuse a malformed one', () => {
    for (const site of [(t: string) => ({ env: { X: t } }), (t: string) => ({ args: [t] })]) {
      assert.equal(check(site(REFS.good)).ok, true);
      const bad = check(site(REFS.malformed));
      assert.equal(bad.ok ? 'accepted' : bad.error.code, 'VALIDATE_SCHEMA');
    }
  });

  test('every other site refuses a reference (it would reach the container as literal text)', () => {
    const accepted: string[] = [];
    for (const [site, at] of Object.entries(UNREAD))
      for (const [kind, ref] of Object.entries(REFS)) {
        const r = check(at(ref));
        if (r.ok || r.error.code !== 'VALIDATE_SCHEMA') accepted.push(`${site}: ${kind}`);
      }
    assert.deepEqual(accepted, []);
  });
});

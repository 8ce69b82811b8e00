import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { test } from 'node:test';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { validate } from '../../src/validate/validate.ts';

const step = { name: 'analyze', image: 'python:3.11-slim' };
const wf = (over: Record<string, unknown>) => ({ id: 'wf-1', name: 'n', runId: 'run-1', steps: [step], ...over });

test('every example workflow under examples/ is valid', async () => {
  const dir = new URL('../../examples/', import.meta.url);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 7);
  for (const f of files) {
    const r = validate(await readWorkflowFile(new URL(f, dir).pathname));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : JSON.stringify(r.error.details)}`);
  }
});

test('docs/workflow.md: the example claim is valid as written', async () => {
  const text = await readFile(new URL('../../docs/workflow.md', import.meta.url), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(text)?.[1];
  assert.ok(block !== undefined);
  const r = validate(parse(block));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error.details));
});

const rejects: [string, unknown, string][] = [
  ['unknown key on a step (strict)', wf({ steps: [{ ...step, privileged: true }] }), 'workflow.steps.0'],
  ['unknown top-level key', wf({ hostNetwork: true }), 'workflow'],
  ['no steps', wf({ steps: [] }), 'workflow.steps'],
  ['step name not a DNS label', wf({ steps: [{ ...step, name: 'Bad_Name' }] }), 'workflow.steps.0.name'],
  ['image with whitespace', wf({ steps: [{ ...step, image: 'python 3' }] }), 'workflow.steps.0.image'],
  ['duplicate step names', wf({ steps: [step, step] }), 'workflow.steps.1.name'],
  ['dependsOn an unknown step', wf({ steps: [{ ...step, dependsOn: ['nope'] }] }), 'workflow.steps.0.dependsOn.0'],
  [
    'mount of an undeclared volume',
    wf({ steps: [{ ...step, volumes: [{ name: 'd', mount: '/d', volume: 'x' }] }] }),
    'workflow.steps.0.volumes.0.volume',
  ],
  [
    'relative mount path',
    wf({
      volumes: [{ name: 'v', size: '1Gi' }],
      steps: [{ ...step, volumes: [{ name: 'd', mount: 'data', volume: 'v' }] }],
    }),
    'workflow.steps.0.volumes.0.mount',
  ],
  [
    'mount path with ..',
    wf({
      volumes: [{ name: 'v', size: '1Gi' }],
      steps: [{ ...step, volumes: [{ name: 'd', mount: '/a/../etc', volume: 'v' }] }],
    }),
    'workflow.steps.0.volumes.0.mount',
  ],
  [
    'bad quantity',
    wf({ steps: [{ ...step, resources: { limits: { memory: 'lots' } } }] }),
    'workflow.steps.0.resources.limits.memory',
  ],
  ['env name not an identifier', wf({ steps: [{ ...step, env: { 'A-B': 'x' } }] }), 'workflow.steps.0.env.A-B'],
  [
    'too many steps',
    wf({ steps: Array.from({ length: 65 }, (_, i) => ({ ...step, name: `s${i}` })) }),
    'workflow.steps',
  ],
  ['not an object', 'a string', 'workflow'],
];
for (const [name, claim, path] of rejects) {
  test(`validate rejects ${name} at ${path}`, () => {
    const r = validate(claim);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'VALIDATE_SCHEMA');
      const issues = r.error.details?.issues ?? [];
      assert.ok(
        issues.some((i) => i.path === path),
        `expected an issue at ${path}, got ${JSON.stringify(issues)}`,
      );
    }
  });
}

// Issue 14 §5: text that cannot be stored faithfully is refused before the schema (VALIDATE_UNICODE).
const unicode: [string, unknown, string | undefined][] = [
  ['an emoji (a well-formed pair) in an argument', wf({ steps: [{ ...step, args: ['ok 😀'] }] }), undefined],
  // REDTEAM finding 16 (Trojan Source): bidi formatting characters in what runs, in every container kind
  ...[
    '\u202a',
    '\u202b',
    '\u202c',
    '\u202d',
    '\u202e',
    '\u2066',
    '\u2067',
    '\u2068',
    '\u2069',
    '\u200e',
    '\u200f',
    '\u061c',
  ].flatMap((c): [string, unknown, string][] => {
    const hex = c.charCodeAt(0).toString(16).toUpperCase();
    return [
      [
        `U+${hex} in an argument`,
        wf({ steps: [{ ...step, args: [`rm -rf /tmp/x ${c}# keep`] }] }),
        'workflow.steps.0.args.0',
      ],
      [
        `U+${hex} in a command word`,
        wf({ steps: [{ ...step, command: ['sh', '-c', `echo ok${c}`] }] }),
        'workflow.steps.0.command.2',
      ],
      [`U+${hex} in an env value`, wf({ steps: [{ ...step, env: { MODE: `a${c}b` } }] }), 'workflow.steps.0.env.MODE'],
    ];
  }),
  [
    'a bidi override in a sidecar argument',
    wf({ steps: [{ ...step, sidecars: [{ name: 'db', image: 'postgres:15', args: ['\u202eabc'] }] }] }),
    'workflow.steps.0.sidecars.0.args.0',
  ],
  [
    'an isolate in an init container command',
    wf({ steps: [{ ...step, initContainers: [{ name: 'i', image: 'alpine:3', command: ['a\u2066b'] }] }] }),
    'workflow.steps.0.initContainers.0.command.0',
  ],
  [
    'an isolate in a sidecar env value',
    wf({ steps: [{ ...step, sidecars: [{ name: 'db', image: 'postgres:15', env: { A: '\u2067x' } }] }] }),
    'workflow.steps.0.sidecars.0.env.A',
  ],
  [
    'newlines and tabs in a script argument (controls that scripts need)',
    wf({ steps: [{ ...step, args: ['set -e\n\techo ok\n'] }] }),
    undefined,
  ],
  [
    'Hebrew and Arabic letters in an argument (right-to-left text, no formatting characters)',
    wf({ steps: [{ ...step, args: ['שלום', 'مرحبا'] }] }),
    undefined,
  ],
  [
    'a bidi override in a dependsOn entry is a schema matter, not this rule',
    wf({ steps: [{ ...step, dependsOn: ['\u202eabc'] }] }),
    undefined,
  ],
  ['CJK in the display name', wf({ name: '週報' }), undefined],
  [
    'a lone high surrogate at the end of an argument',
    wf({ steps: [{ ...step, args: ['ab\udbff'] }] }),
    'workflow.steps.0.args.0',
  ],
  [
    'a lone low surrogate in a dependsOn entry',
    wf({ steps: [{ ...step, dependsOn: ['\udc00'] }] }),
    'workflow.steps.0.dependsOn.0',
  ],
  [
    'a lone surrogate in a key deep down',
    wf({ steps: [{ ...step, sidecars: [{ name: 'a', image: 'b:1', env: { ['\ud800']: 'x' } }] }] }),
    'workflow.steps.0.sidecars.0.env.\\ud800',
  ],
  ['a NUL in an env value', wf({ steps: [{ ...step, env: { A: 'a\u0000' } }] }), 'workflow.steps.0.env.A'],
  ['a NUL in a key', wf({ ['a\u0000']: 1 }), 'workflow.a\\u0000'],
  ['a control character in the display name', wf({ name: 'a\u001b[31mred' }), 'workflow.name'],
  ['an isolate (U+2066) in the display name', wf({ name: 'a\u2066b' }), 'workflow.name'],
  ['a bare string claim', '\udbff', 'workflow'],
];
for (const [name, claim, path] of unicode) {
  test(`unicode: ${name} → ${path ?? 'accepted by the text check'}`, () => {
    const r = validate(claim);
    if (path === undefined) {
      assert.ok(r.ok || r.error.code !== 'VALIDATE_UNICODE', JSON.stringify(!r.ok && r.error));
      return;
    }
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'VALIDATE_UNICODE');
    const issues = r.error.details?.issues ?? [];
    assert.ok(
      issues.some((i) => i.path === path),
      `expected ${path} in ${JSON.stringify(issues)}`,
    );
    const text = JSON.stringify(r.error);
    assert.ok(
      text.isWellFormed() && !text.replace(/\\\\/g, '').includes('\\u0000'),
      'the error itself holds no lone surrogate and no NUL',
    );
  });
}

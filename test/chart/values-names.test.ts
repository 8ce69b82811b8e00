/**
 * Red team 15: the chart's free-text object names. `audit.storage.storageClass`,
 * `policy.bundleConfigMap`, `audit.checkpoint.existingSecret` and `runner.existingSecret` were
 * `type: string` in the schema and written into the manifests unquoted, so a value could change
 * the object around it: `storageClass: "gp3\n        dataSourceRef: {…}"` added a dataSourceRef to
 * the audit volume's claim (an audit log pre-filled from another volume), `bundleConfigMap: "bcm,
 * optional: true"` made the policy bundle's ConfigMap optional, `existingSecret: "k, optional:
 * true"` the checkpoint key's Secret; `gp3 #x` rendered `gp3`, `null`/`~` the default class.
 * The class: a name the chart writes into an object is a DNS subdomain (or empty where empty
 * means unset) and is written quoted, so what renders is exactly the value given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chartWithValues } from '../support/chart-values.ts';

type Doc = { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> };
const render = chartWithValues<Doc>('kubiya-chart-names-');

type Volume = { name: string; configMap?: Record<string, unknown>; secret?: Record<string, unknown> };
const statefulSet = (docs: Doc[]) =>
  docs.find((d) => d?.kind === 'StatefulSet')!.spec as {
    volumeClaimTemplates: { spec: Record<string, unknown> }[];
    template: {
      spec: {
        volumes: Volume[];
        containers: { env?: { name: string; valueFrom?: { secretKeyRef?: { name: string } } }[] }[];
      };
    };
  };

/** Each name: its values, where the rendered object carries it, and that object's keys. */
const NAMES: {
  path: string;
  values: (v: string) => Record<string, unknown>;
  rendered: (docs: Doc[]) => Record<string, unknown>;
  field: string;
}[] = [
  {
    path: 'audit.storage.storageClass',
    values: (v) => ({ audit: { storage: { storageClass: v } } }),
    rendered: (docs) => statefulSet(docs).volumeClaimTemplates[0]!.spec,
    field: 'storageClassName',
  },
  {
    path: 'policy.bundleConfigMap',
    values: (v) => ({ policy: { bundleConfigMap: v } }),
    rendered: (docs) =>
      statefulSet(docs).template.spec.volumes.find((x) => x.configMap && x.name === 'policy-bundle')!.configMap!,
    field: 'name',
  },
  {
    path: 'audit.checkpoint.existingSecret',
    values: (v) => ({ audit: { checkpoint: { existingSecret: v } } }),
    rendered: (docs) => statefulSet(docs).template.spec.volumes.find((x) => x.name === 'audit-key')!.secret!,
    field: 'secretName',
  },
  {
    path: 'runner.existingSecret',
    values: (v) => ({ runner: { existingSecret: v } }),
    rendered: (docs) => {
      const env = statefulSet(docs).template.spec.containers[0]!.env!.find((e) => e.valueFrom?.secretKeyRef);
      return env!.valueFrom!.secretKeyRef!;
    },
    field: 'name',
  },
];

const HOSTILE = [
  'gp3\n        dataSourceRef: {kind: PersistentVolumeClaim, name: forged-audit}',
  'bcm, optional: true',
  'k }, items: [{key: a, path: b}], x: {',
  'gp3 #fast',
  '~',
  '*a',
  "gp3'",
  'Gp3',
  'a_b',
  '-a',
  `${'a'.repeat(254)}`,
];

for (const n of NAMES) {
  test(`${n.path}: hostile spellings are refused by the schema naming the key`, async () => {
    const wrong: string[] = [];
    for (const v of HOSTILE) {
      const r = await render(n.values(v));
      const at = `'/${n.path.split('.').join('/')}'`;
      if (r.ok || !r.err.includes(at)) wrong.push(`${JSON.stringify(v)}: ${r.ok ? 'rendered' : r.err.slice(0, 160)}`);
    }
    assert.deepEqual(wrong, []);
  });

  test(`${n.path}: a valid name renders exactly as given, and nothing else in its object changes`, async () => {
    const base = await render(n.values('plain-name'));
    assert.ok(base.ok);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // Valid names YAML would read as something else unquoted (rendered 0, null, true, 1000, 16).
          fc.constantFrom('0', 'null', 'true', 'no', '1e3', '0x10', '1.5'),
          fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?){0,2}$/),
        ),
        async (name) => {
          const r = await render(n.values(name));
          assert.ok(r.ok, r.ok ? '' : r.err);
          const object = n.rendered(r.docs);
          assert.equal(object[n.field], name);
          assert.deepEqual({ ...object, [n.field]: 'plain-name' }, n.rendered(base.docs));
        },
      ),
      { numRuns: 12, examples: [['0'], ['null'], ['true']] },
    );
  });
}

test('the concrete case: an audit storage class with a newline no longer adds a dataSourceRef to the audit volume', async () => {
  const r = await render({ audit: { storage: { storageClass: HOSTILE[0] } } });
  assert.equal(r.ok, false);
});

test('runner.workflow.namespace equal to the release namespace is refused (step pods beside the runner, its Role over its own Secrets)', async () => {
  // render() installs into the release namespace "default".
  const same = await render({ runner: { workflow: { namespace: 'default' } } });
  assert.equal(same.ok, false);
  assert.match(same.ok ? '' : same.err, /runner\.workflow\.namespace must not be the release namespace \(default\)/);
  const other = await render({ runner: { workflow: { namespace: 'steps' } } });
  assert.ok(other.ok);
});

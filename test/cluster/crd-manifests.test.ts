/**
 * CRDs reach the API server as their manifests say them (src/dev/bootstrap.ts installCrds).
 *
 * The class: a manifest in the API's JSON field names handed to client-node's typed API, which
 * serialises a body by its model's property names, so every key whose JSON name differs from the
 * model's (`enum` ↔ `_enum`, `default` ↔ `_default`, `x-kubernetes-*` ↔ `x_kubernetes_*`) is
 * dropped without an error. The example: the local control plane's WorkflowRun CRD (every cluster
 * test and the demo) had no phase `enum`, while Helm's install has it; a bench's "schema-free" CRD
 * lost `x-kubernetes-preserve-unknown-fields` and pruned what it stored.
 *
 * The variants are generated from client-node's own model (V1JSONSchemaProps' attribute map): every
 * attribute whose JSON name differs must have a sample below, so a client-node upgrade that adds one
 * fails this file until it is covered.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { V1JSONSchemaProps } from '@kubernetes/client-node';
import { kubeJson } from '../../src/adapters/kube-json.ts';
import { crdManifests, installCrds, type CrdManifest } from '../../src/dev/bootstrap.ts';
import { CRD_ONLY_ARGS, renderChart } from '../../src/dev/manifest.ts';
import { requireTools, testCluster, type TestCluster } from '../support/cluster.ts';

type Schema = Record<string, unknown>;

/** A structural schema (as a property of the CRD's spec) carrying each renamed key, by its JSON name. */
const SAMPLES: Readonly<Record<string, Schema>> = {
  enum: { type: 'string', enum: ['a', 'b'] },
  default: { type: 'string', default: 'a' },
  'x-kubernetes-embedded-resource': {
    type: 'object',
    'x-kubernetes-embedded-resource': true,
    'x-kubernetes-preserve-unknown-fields': true,
  },
  'x-kubernetes-int-or-string': { 'x-kubernetes-int-or-string': true },
  'x-kubernetes-list-map-keys': {
    type: 'array',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
  },
  'x-kubernetes-list-type': { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
  'x-kubernetes-map-type': {
    type: 'object',
    'x-kubernetes-map-type': 'atomic',
    additionalProperties: { type: 'string' },
  },
  'x-kubernetes-preserve-unknown-fields': { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  'x-kubernetes-validations': {
    type: 'string',
    maxLength: 64,
    'x-kubernetes-validations': [{ rule: 'self.size() < 10', message: 'at most 9 characters' }],
  },
};

/** Renamed keys a CRD schema may not carry at all (apiextensions validation refuses them). */
const REFUSED_BY_API_SERVER: Readonly<Record<string, Schema>> = {
  $ref: { $ref: '#/definitions/x' },
  $schema: { type: 'string', $schema: 'http://json-schema.org/draft-04/schema#' },
};

const RENAMED = V1JSONSchemaProps.getAttributeTypeMap()
  .filter((a) => a.name !== a.baseName)
  .map((a) => a.baseName)
  .sort();

const crd = (name: string, properties: Record<string, Schema>): CrdManifest => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${name}s.crd-test.kubiya.ai` },
  spec: {
    group: 'crd-test.kubiya.ai',
    scope: 'Namespaced',
    names: { kind: name[0]!.toUpperCase() + name.slice(1), plural: `${name}s`, singular: name },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties } },
          },
        },
      },
    ],
  },
});

interface StoredCrd {
  spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
}
const stored = (env: TestCluster, name: string) =>
  kubeJson<StoredCrd>(env.kc, {
    method: 'GET',
    path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
  });

let env: TestCluster;
before(async () => {
  env = await testCluster();
});
after(() => env?.close());

test("every key client-node's model renames is covered: a sample, or refused by the API server", () => {
  assert.ok(RENAMED.length >= 11, `the model renames ${RENAMED.length} keys: the class is real`);
  assert.deepEqual(RENAMED, [...Object.keys(SAMPLES), ...Object.keys(REFUSED_BY_API_SERVER)].sort());
});

test('a CRD carrying every renamed key is stored with each of them, nested in properties', async () => {
  const manifest = crd('renamed', SAMPLES);
  await installCrds(env.cluster.kubeconfig, [manifest]);
  const got = await stored(env, manifest.metadata.name);
  const spec = (got.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, Schema>).spec!;
  for (const [key, sample] of Object.entries(SAMPLES))
    assert.deepEqual((spec.properties as Record<string, Schema>)[key], sample, `${key} kept as the manifest says`);
});

test('a renamed key the API server forbids is refused, not dropped into an accepted CRD', async () => {
  for (const [key, sample] of Object.entries(REFUSED_BY_API_SERVER)) {
    const name = `refused${key.replace(/\W/g, '')}`;
    await assert.rejects(
      installCrds(env.cluster.kubeconfig, [crd(name, { [key]: sample })]),
      (e: { code?: number }) => e.code === 422,
      `${key}: 422 from the API server`,
    );
  }
});

test("regression: the local control plane's WorkflowRun CRD is the chart's, enum and format included", async () => {
  const [chart] = crdManifests(await renderChart(requireTools().helm, CRD_ONLY_ARGS), 'chart');
  assert.ok(chart !== undefined);
  const got = await stored(env, chart.metadata.name);
  const want = chart.spec as StoredCrd['spec'];
  assert.deepEqual(
    got.spec.versions.map((v) => v.schema.openAPIV3Schema),
    want.versions.map((v) => v.schema.openAPIV3Schema),
  );
  assert.match(JSON.stringify(got.spec.versions), /"enum":\["Pending","Running"/, 'the phase enum is there');
});

test('installCrds refuses an empty list (a caller that found no CRD)', async () => {
  await assert.rejects(installCrds(env.cluster.kubeconfig, []), /no CustomResourceDefinition/);
});

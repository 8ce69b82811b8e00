// The class (red team 17, finding 12): a size written as zero where zero means "no limit" or
// "nothing". `runner.storage.workspaceSize: "0"` became the /workspace emptyDir's sizeLimit "0",
// which the kubelet reads as no limit at all, and the step was allowed. Siblings: a workflow
// volume of size zero (a PVC the API server refuses at create, after admission). Every spelling
// of zero is refused where it is written; the chart refuses the same (test/chart/config-drift.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { validate } from '../../src/validate/validate.ts';
import { MINIMAL_CONFIG_YAML } from '../support/config.ts';

const ZEROS = ['0', '0Gi', '0Mi', '0.0', '00', '0m', '0.000Ki', '0E', 0];
const SIZES = ['1', '1Gi', '10Gi', '0.5Gi', '100Mi', '1m'];

describe('a size of zero is refused where it would mean no limit or nothing', () => {
  // runner.storage.tmpSize (red team 18, finding 7): the /tmp emptyDir under readOnlyRootFilesystem
  for (const key of ['workspaceSize', 'tmpSize'] as const) {
    const config = (size: unknown) => {
      const doc = parse(MINIMAL_CONFIG_YAML) as { runner: Record<string, unknown> };
      doc.runner.storage = { [key]: size };
      return loadConfig(stringify(doc), {});
    };
    for (const z of ZEROS)
      test(`runner.storage.${key} ${JSON.stringify(z)} → CONFIG_INVALID naming the key`, () => {
        const r = config(z);
        assert.equal(r.ok, false);
        if (!r.ok)
          assert.match(
            r.error.message,
            new RegExp(`runner\\.storage\\.${key}: ${typeof z === 'number' ? '' : 'must not be zero'}`),
          );
      });
    test(`non-zero runner.storage.${key} sizes are accepted`, () => {
      for (const s of SIZES) assert.ok(config(s).ok, s);
    });
  }

  const workflow = (size: unknown) =>
    validate({
      id: 'w',
      name: 'w',
      runId: 'r',
      steps: [{ name: 'a', image: 'python:3.11-slim', volumes: [{ name: 'data', mount: '/data', volume: 'data' }] }],
      volumes: [{ name: 'data', size }],
    });
  for (const z of ZEROS.filter((v) => typeof v === 'string'))
    test(`workflow volume size ${JSON.stringify(z)} → VALIDATE_SCHEMA at workflow.volumes.0.size`, () => {
      const r = workflow(z);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, 'VALIDATE_SCHEMA');
        assert.match(r.error.message, /workflow\.volumes\.0\.size: must not be zero/);
      }
    });
  test('non-zero volume sizes are accepted', () => {
    for (const s of SIZES) assert.ok(workflow(s).ok, `${s}: ${JSON.stringify(workflow(s))}`);
  });
});

// npm run fuzz [-- --runs N] [-- --minutes M] [-- --settings-runs K]: the long fuzz run.
//   1. N mutated tokens + N hostile signed specs through the whole pipeline (default 50,000 each),
//      each phase bounded to M minutes (default 30);
//   2. K mistyped policy-settings documents (default 500) loaded as the runner loads them (the
//      compiled WASM bundle and a data.json, through PolicyStore and its settings schema check):
//      every one must be refused; and loaded again WITHOUT the check (the data given straight to
//      the WASM), each checked against steps the default settings deny, which must stay denied.
//      Skipped, and said so, when the opa tool is not built.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet } from 'jose';
import { buildBundle } from '../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../src/adapters/opa-wasm.ts';
import { PolicyStore } from '../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { jwks, newSigningKey } from '../src/dev/sign.ts';
import { fuzz, fuzzSettings, type SettingsOutcome } from '../test/support/fuzz.ts';
import defaults from '../policies/data.json' with { type: 'json' };

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg('--runs', 50_000);
const minutes = arg('--minutes', 30);
const settingsRuns = arg('--settings-runs', 500);

const key = await newSigningKey('EdDSA', 'k1');
const t0 = Date.now();
const out = await fuzz(runs, key, createLocalJWKSet(jwks([key])), undefined, minutes * 60_000);
const pipeline = {
  ...out,
  badPods: out.badPods.slice(0, 5),
  badPodCount: out.badPods.length,
  interrupted: out.cases < 2 * runs,
  seconds: (Date.now() - t0) / 1000,
};

let settings:
  | (Omit<SettingsOutcome, 'opened' | 'accepted'> & {
      opened: string[];
      openedCount: number;
      accepted: string[];
      acceptedCount: number;
      seconds: number;
    })
  | { skipped: string };
let opened = 0;
let accepted = 0;
const tools = resolveTools(['opa']);
if (!tools.ok) settings = { skipped: tools.error.message };
else {
  const t1 = Date.now();
  const work = await mkdtemp(join(tmpdir(), 'kubiya-fuzz-'));
  try {
    const { file } = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
    const dataPath = join(work, 'data.json');
    const bundle = await readBundle(file);
    const result = await fuzzSettings(
      settingsRuns,
      defaults.kubiya.settings,
      async (s) => {
        await writeFile(dataPath, JSON.stringify({ kubiya: { settings: s } }));
        const store = new PolicyStore(file, { loaded: () => undefined, rejected: () => undefined }, dataPath);
        return store.load().catch(() => undefined);
      },
      undefined,
      (s) => loadEngine({ ...bundle, data: { kubiya: { settings: s } } }),
    );
    opened = result.opened.length;
    accepted = result.accepted.length;
    settings = {
      ...result,
      opened: result.opened.slice(0, 5),
      openedCount: opened,
      accepted: result.accepted.slice(0, 5),
      acceptedCount: accepted,
      seconds: (Date.now() - t1) / 1000,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

console.log(JSON.stringify({ pipeline, settings }, null, 2));
const failures =
  out.crashed +
  out.internal +
  out.hung +
  out.podsFromRejections +
  out.uncoded +
  out.leaked +
  out.badPods.length +
  opened +
  accepted;
if (failures > 0) process.exitCode = 1;

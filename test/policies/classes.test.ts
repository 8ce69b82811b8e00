import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { wasmCapabilities } from '../../src/adapters/opa-cli.ts';
import { loadEngine, readBundle, type BundleFiles } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import type { Decision } from '../../src/evaluate/decision.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import type { Step } from '../../src/validate/schema.ts';
import { validate } from '../../src/validate/validate.ts';
import fc from 'fast-check';
import { parseImageRef } from '../../src/oci/image-ref.ts';
import { ARGV_CASES, NAME_CASES, VALUE_CASES } from '../support/credentials.ts';
import { ENTRY_CASES, REF_CASES } from '../support/image-refs.ts';
import { CIDR_CASES, HOST_CASES, WRONG_SETTINGS } from '../support/settings-variants.ts';
import { LOCKED_CODES } from '../../src/policy/settings.ts';
import { STEP_RESOURCES as R, TEST_POD_CONTEXT as ctx } from '../support/pod-context.ts';

/**
 * Issue 14's classes through the compiled WASM (what the runner evaluates), beside the unit tests
 * of the same tables in TypeScript: settings that reach the policy unchecked, the reference
 * grammar, entry matching, and the credential patterns.
 */
const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

function decide(
  engine: PolicyEngine,
  step: Step,
  pod?: (p: ReturnType<typeof buildPod>) => void,
): { allow: boolean; codes: string[]; error?: string } {
  const wf = validate({ id: 'wf', name: 'n', runId: 'run', steps: [step] });
  assert.ok(wf.ok, JSON.stringify(!wf.ok && wf.error));
  const built = buildPod(wf.value, wf.value.steps[0]!, ctx);
  pod?.(built);
  const r = evaluate(policyInput('r', wf.value, wf.value.steps[0]!, built), engine);
  if (r.kind === 'allow') return { allow: true, codes: r.decision.violations.map((v) => v.code) };
  if (r.kind === 'deny') return { allow: false, codes: r.decision.violations.map((v) => v.code) };
  return { allow: false, codes: [], error: r.error.code };
}

/** Steps each denied by the default settings; unchecked settings must never turn one into an allow. */
const PROBES: readonly { name: string; step: Step; pod?: (p: ReturnType<typeof buildPod>) => void }[] = [
  {
    name: 'egress anywhere',
    step: { name: 's', image: 'python:3.11', resources: R, egress: [{ cidr: '0.0.0.0/0', ports: [443] }] },
  },
  {
    name: 'wildcard egress',
    step: { name: 's', image: 'python:3.11', resources: R, egress: [{ host: '*.github.com', ports: [443] }] },
  },
  {
    name: 'hostPath',
    step: { name: 's', image: 'python:3.11', resources: R },
    pod: (p) => p.spec!.volumes!.push({ name: 'h', hostPath: { path: '/' } }),
  },
  { name: ':latest', step: { name: 's', image: 'python:latest', resources: R } },
  { name: 'unknown registry', step: { name: 's', image: 'evil.example.com/x:1', resources: R } },
  { name: 'two GPUs', step: { name: 's', image: 'python:3.11', resources: { ...R, gpu: 2 } } },
  {
    name: 'memory over the cap',
    step: { name: 's', image: 'python:3.11', resources: { ...R, limits: { memory: '64Gi' } } },
  },
  { name: 'no memory limit', step: { name: 's', image: 'python:3.11', resources: { requests: R.requests } } },
  {
    name: 'literal credential',
    step: { name: 's', image: 'python:3.11', resources: R, args: ['postgres://u:pw@db/x'] },
  },
  {
    name: 'secret not allowed',
    step: { name: 's', image: 'python:3.11', resources: R, envFrom: [{ secret: 'prod-db' }] },
  },
  {
    name: 'too many volumes',
    step: { name: 's', image: 'python:3.11', resources: R },
    pod: (p) => p.spec!.volumes!.push({ name: 'n', nfs: { server: 'x', path: '/' } }),
  },
];

describe('issue 14 classes through the compiled WASM policy', () => {
  let work: string;
  let bundle: BundleFiles;
  let engine: PolicyEngine;
  let defaults: Record<string, unknown>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-classes-'));
    const { file } = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
    bundle = await readBundle(file);
    engine = await loadEngine(bundle);
    defaults = (bundle.data as { kubiya: { settings: Record<string, unknown> } }).kubiya.settings;
  });
  after(async () => rm(work, { recursive: true, force: true }));

  const merged = (over: unknown): unknown => {
    if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
    const out: Record<string, unknown> = { ...defaults };
    for (const [k, v] of Object.entries(over)) {
      const base = defaults[k];
      out[k] =
        typeof v === 'object' && v !== null && !Array.isArray(v) && typeof base === 'object' && base !== null
          ? { ...base, ...v }
          : v;
    }
    return out;
  };

  test('the reported example: egress.allowAnyDestination "false" no longer opens the internet', async () => {
    const bad = await loadEngine({
      ...bundle,
      data: { kubiya: { settings: merged({ egress: { allowAnyDestination: 'false' } }) } },
    });
    const d = decide(bad, PROBES[0]!.step);
    assert.equal(d.allow, false);
    assert.ok(d.codes.includes('EGRESS_ANY_DESTINATION'));
  });

  test(`${WRONG_SETTINGS.length} wrongly typed settings, loaded unchecked: no probe denied by default is allowed, and every decision is well formed (never POLICY_MALFORMED_DECISION)`, async () => {
    for (const probe of PROBES)
      assert.equal(decide(engine, probe.step, probe.pod).allow, false, `${probe.name} is denied by default`);
    for (const variant of WRONG_SETTINGS) {
      const e = await loadEngine({ ...bundle, data: { kubiya: { settings: merged(variant.settings) } } });
      for (const probe of PROBES) {
        const d = decide(e, probe.step, probe.pod);
        assert.equal(d.error, undefined, `${variant.name} / ${probe.name}: ${d.error ?? ''}`);
        assert.equal(d.allow, false, `${variant.name} / ${probe.name} must stay denied: ${d.codes.join(', ')}`);
      }
    }
  });

  test('enforcement actions other than deny/warn/audit read as deny, not as a malformed decision', async () => {
    for (const action of ['Deny', 'dryrun', 'deny ', 'WARN', null, 1]) {
      const e = await loadEngine({
        ...bundle,
        data: { kubiya: { settings: merged({ enforcement: { IMAGE_TAG_NOT_PINNED: action } }) } },
      });
      const d = decide(e, PROBES[3]!.step);
      assert.equal(d.error, undefined, String(action));
      assert.deepEqual(d, { allow: false, codes: ['IMAGE_TAG_NOT_PINNED'] }, String(action));
    }
  });

  /** The decision for `step` with `patch` applied to the policy input after validate (inputs that never went through validate: replay, hand-written). */
  const decideRaw = (
    e: PolicyEngine,
    step: Step,
    patch: (input: { step: Record<string, unknown> }) => void,
  ): Decision => {
    const wf = validate({ id: 'wf', name: 'n', runId: 'run', steps: [step] });
    assert.ok(wf.ok);
    const input = policyInput(
      'r',
      wf.value,
      wf.value.steps[0]!,
      buildPod(wf.value, wf.value.steps[0]!, ctx),
    ) as unknown as { step: Record<string, unknown> };
    patch(input);
    return (e.evaluate(input, 'kubiya/main/decision') as { result: Decision }[])[0]!.result;
  };

  test('REDTEAM 8: enforcement loaded unchecked cannot downgrade a guard or an egress code (the reported example opened 0.0.0.0/0)', async () => {
    const enforcement = Object.fromEntries(LOCKED_CODES.map((c) => [c, 'warn']));
    for (const action of ['warn', 'audit']) {
      const e = await loadEngine({
        ...bundle,
        data: {
          kubiya: {
            settings: merged({ enforcement: Object.fromEntries(Object.keys(enforcement).map((c) => [c, action])) }),
          },
        },
      });
      const anywhere = decideRaw(e, PROBES[0]!.step, () => undefined);
      assert.equal(anywhere.allow, false, action);
      assert.deepEqual(
        anywhere.violations.map((v) => [v.code, v.action]),
        [['EGRESS_ANY_DESTINATION', 'deny']],
      );
      for (const host of ['pastebin.com', '*.github.com']) {
        const d = decideRaw(e, { ...PROBES[0]!.step, egress: [{ host, ports: [443] }] }, () => undefined);
        assert.equal(d.allow, false, `${action} ${host}`);
        assert.ok(
          d.violations.every((v) => v.action === 'deny'),
          JSON.stringify(d.violations),
        );
      }
      const invalid = decideRaw(e, { name: 's', image: 'python:3.11', resources: R }, (i) => {
        i.step.image = 'Evil/Image:1';
      });
      assert.equal(invalid.allow, false);
      assert.deepEqual(
        invalid.violations.map((v) => [v.code, v.action]),
        [['IMAGE_REFERENCE_INVALID', 'deny']],
      );
    }
    // unchecked settings that the policy itself flags stay denied even when told to audit the flag
    const bad = await loadEngine({
      ...bundle,
      data: {
        kubiya: {
          settings: merged({
            images: { deniedImages: ['ghcr.io/acme/*'] },
            enforcement: { POLICY_SETTINGS_INVALID: 'audit' },
          }),
        },
      },
    });
    assert.equal(decideRaw(bad, { name: 's', image: 'python:3.11', resources: R }, () => undefined).allow, false);
    // a code that is not locked still follows enforcement
    const warnDenied = await loadEngine({
      ...bundle,
      data: {
        kubiya: {
          settings: merged({
            images: { deniedImages: ['docker.io/library/python'] },
            enforcement: { IMAGE_DENIED: 'warn' },
          }),
        },
      },
    });
    assert.equal(decideRaw(warnDenied, { name: 's', image: 'python:3.11', resources: R }, () => undefined).allow, true);
  });

  test('REDTEAM 9: a malformed or /0 CIDR, or a host that is not a DNS name, in unchecked data denies every step and never reaches the egress list', async () => {
    for (const entry of [
      { cidr: '0.0.0.0/99', ports: [443] },
      { cidr: '10.0.0.1/8', ports: [443] },
      { host: '...', ports: [443] },
      { host: '*.*.com', ports: [443] },
      { host: 'api.github.com', ports: [443], cidrs: ['0.0.0.0/0'] },
      { host: 'api.github.com', ports: [443], cidrs: ['10.0.0.0/33'] },
    ]) {
      const e = await loadEngine({
        ...bundle,
        data: {
          kubiya: { settings: merged({ egress: { allowed: [entry, { host: 'api.github.com', ports: [443] }] } }) },
        },
      });
      const d = decideRaw(
        e,
        { name: 's', image: 'python:3.11', resources: R, egress: [{ host: 'api.github.com', ports: [443] }] },
        () => undefined,
      );
      assert.equal(d.allow, false, JSON.stringify(entry));
      assert.ok(
        d.violations.some((v) => v.code === 'POLICY_SETTINGS_INVALID'),
        JSON.stringify(d.violations),
      );
      assert.ok(
        !JSON.stringify(d.egress).includes('0.0.0.0/0') && !JSON.stringify(d.egress).includes('/33'),
        JSON.stringify(d.egress),
      );
    }
  });

  test('REDTEAM 10: a deny entry sees Docker Hub through every host name, and :443 cannot slip past it', async () => {
    const deny = await loadEngine({
      ...bundle,
      data: {
        kubiya: {
          settings: merged({
            images: {
              allowedRegistries: ['docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'ghcr.io'],
              deniedImages: ['docker.io/library/alpine', 'ghcr.io/acme'],
            },
          }),
        },
      },
    });
    for (const image of [
      'registry-1.docker.io/library/alpine:3.19.1',
      'registry.hub.docker.com/alpine:3.19.1',
      `Registry-1.Docker.IO/alpine@sha256:${'b'.repeat(64)}`,
    ]) {
      assert.deepEqual(decide(deny, { name: 's', image, resources: R }).codes, ['IMAGE_DENIED'], image);
    }
    for (const image of ['ghcr.io:443/acme/x:1', 'GHCR.IO:443/acme/x:1', 'ghcr.io:0443/acme/x:1']) {
      const d = decideRaw(deny, { name: 's', image: 'python:3.11', resources: R }, (i) => {
        i.step.image = image;
      });
      assert.deepEqual(
        d.violations.map((v) => v.code),
        ['IMAGE_REFERENCE_INVALID'],
        image,
      );
    }
  });

  test('deny and allow entries match every spelling, on path boundaries (the reported examples)', async () => {
    const withImages = async (images: unknown) =>
      loadEngine({ ...bundle, data: { kubiya: { settings: merged({ images }) } } });
    const deny = await withImages({ deniedImages: ['docker.io/library/alpine'] });
    for (const image of [
      'docker.io/alpine:3.19.1',
      'alpine:3.19.1',
      `library/alpine@sha256:${'b'.repeat(64)}`,
      'index.docker.io/library/alpine:3.19.1',
    ]) {
      assert.deepEqual(decide(deny, { name: 's', image, resources: R }).codes, ['IMAGE_DENIED'], image);
    }
    assert.deepEqual(decide(deny, { name: 's', image: 'alpine/git:2.45', resources: R }).codes, []);
    const acme = await withImages({ allowedRegistries: ['ghcr.io/acme'] });
    assert.deepEqual(decide(acme, { name: 's', image: 'ghcr.io/acme/tool:1.0', resources: R }).codes, []);
    assert.deepEqual(decide(acme, { name: 's', image: 'ghcr.io/acme-tools/x:1.0', resources: R }).codes, [
      'IMAGE_REGISTRY_NOT_ALLOWED',
    ]);
    // in every container kind
    const sidecar = decide(
      deny,
      {
        name: 's',
        image: 'python:3.11',
        resources: R,
        sidecars: [{ name: 'db', image: 'docker.io/alpine:3' }],
        initContainers: [{ name: 'i', image: 'library/alpine:3' }],
      },
      (p) => {
        for (const c of p.spec!.initContainers ?? []) c.resources = structuredClone(R);
      },
    );
    assert.deepEqual(sidecar.codes, ['IMAGE_DENIED', 'IMAGE_DENIED']);
  });

  describe('the Rego parser and matcher against the TypeScript tables (a probe bundle with the library as entrypoints)', () => {
    let probe: PolicyEngine;
    before(async () => {
      const dir = join(work, 'probe');
      await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
      await mkdir(join(dir, 'probe'), { recursive: true });
      await writeFile(
        join(dir, 'probe', 'probe.rego'),
        [
          'package probe',
          'import data.kubiya.lib',
          'import data.kubiya.rules.secrets',
          'parsed := {ref: p | some ref in input.refs; p := lib.parse_image(ref)}',
          'matches := [[e, r] | some [e, r] in input.pairs; lib.image_entry_matches(lib.parse_image_entry(e), lib.parse_image(r))]',
          'entries := {e: p | some e in input.entries; p := lib.parse_image_entry(e)}',
          'values := {t: ids | some t in input.values; ids := sort([p.id | some p in secrets.value_patterns; regex.match(p.pattern, t)])}',
          'names := {n: ids | some n in input.names; ids := sort([p.id | some p in secrets.name_patterns; regex.match(p.pattern, n)])}',
          'cidrs := {c: v | some c in input.cidrs; v := lib.valid_cidr(c)}',
          'hosts := {h: v | some h in input.hosts; v := lib.valid_host(h)}',
          '',
        ].join('\n'),
      );
      const caps = await wasmCapabilities(opa, join(work, 'caps.json'));
      const out = join(work, 'probe.tar.gz');
      await run(opa, [
        'build',
        '-t',
        'wasm',
        '-e',
        'probe/parsed',
        '-e',
        'probe/matches',
        '-e',
        'probe/entries',
        '-e',
        'probe/values',
        '-e',
        'probe/names',
        '-e',
        'probe/cidrs',
        '-e',
        'probe/hosts',
        '--capabilities',
        caps,
        '--revision',
        'probe',
        '--ignore',
        '*_test.rego',
        '-o',
        out,
        dir,
      ]);
      probe = await loadEngine(await readBundle(out));
    });
    const result = <T>(entrypoint: string, input: unknown): T =>
      (probe.evaluate(input, entrypoint) as { result: T }[])[0]!.result;

    test(`${REF_CASES.length} references: the Rego accepts, refuses and normalises exactly as src/oci/image-ref.ts`, () => {
      const parsed = result<
        Record<string, { registry: string; repository: string; tag: string; digest: string; canonical: string }>
      >('probe/parsed', { refs: REF_CASES.map((c) => c.ref) });
      for (const c of REF_CASES) {
        const got = parsed[c.ref];
        if (c.canonical === null) {
          assert.equal(got, undefined, `${JSON.stringify(c.ref)} must be refused`);
          continue;
        }
        assert.ok(got, `${JSON.stringify(c.ref)} must parse`);
        assert.equal(got.canonical, c.canonical, c.ref);
        for (const k of ['registry', 'repository', 'tag', 'digest'] as const)
          if (c[k] !== undefined) assert.equal(got[k], c[k], `${c.ref} ${k}`);
      }
    });

    test('property: on 3,000 generated spellings the Rego and TypeScript parsers agree (accept, refuse, canonical form)', () => {
      const parts = [
        'a',
        'Z',
        '0',
        '.',
        '-',
        '_',
        '__',
        ':',
        '/',
        '@',
        'sha256:',
        'a'.repeat(64),
        'library/',
        'docker.io/',
        'index.docker.io/',
        'localhost',
        ':5000',
        '..',
        'ghcr.io/',
        'x'.repeat(120),
      ];
      const refs = fc.sample(
        fc.array(fc.constantFrom(...parts), { minLength: 1, maxLength: 12 }).map((a) => a.join('')),
        { numRuns: 3000, seed: 14 },
      );
      let accepted = 0;
      for (let i = 0; i < refs.length; i += 500) {
        const chunk = [...new Set(refs.slice(i, i + 500))];
        const parsed = result<Record<string, { canonical: string }>>('probe/parsed', { refs: chunk });
        for (const ref of chunk) {
          const ts = parseImageRef(ref);
          assert.equal(parsed[ref]?.canonical, ts.ok ? ts.ref.canonical : undefined, JSON.stringify(ref));
          if (ts.ok) accepted++;
        }
      }
      assert.ok(accepted > 100, `${accepted} generated references were valid (the generator reaches both sides)`);
    });

    test('entries match in Rego exactly as in TypeScript', () => {
      const pairs = ENTRY_CASES.flatMap((c) => [...c.covers, ...c.misses].map((r) => [c.entry, r]));
      const got = new Set(result<string[][]>('probe/matches', { pairs }).map(([e, r]) => `${e ?? ''} ${r ?? ''}`));
      for (const c of ENTRY_CASES) {
        for (const r of c.covers) assert.ok(got.has(`${c.entry} ${r}`), `${c.entry} covers ${r}`);
        for (const r of c.misses) assert.ok(!got.has(`${c.entry} ${r}`), `${c.entry} misses ${r}`);
      }
    });

    test(`the egress grammar in Rego agrees with the schema's table: ${CIDR_CASES.length} CIDRs, ${HOST_CASES.length} hosts`, () => {
      const cidrs = result<Record<string, boolean>>('probe/cidrs', { cidrs: CIDR_CASES.map((c) => c.cidr) });
      for (const c of CIDR_CASES) assert.equal(cidrs[c.cidr] === true, c.valid, JSON.stringify(c.cidr));
      const hosts = result<Record<string, boolean>>('probe/hosts', { hosts: HOST_CASES.map((h) => h.host) });
      for (const h of HOST_CASES) assert.equal(hosts[h.host] === true, h.valid, JSON.stringify(h.host));
    });

    test(`the default credential patterns in RE2 (WASM) agree with the table: ${VALUE_CASES.length} values, ${NAME_CASES.length} env names`, () => {
      const values = result<Record<string, string[]>>('probe/values', { values: VALUE_CASES.map((c) => c.text) });
      for (const c of VALUE_CASES) assert.deepEqual(values[c.text], [...c.ids].sort(), JSON.stringify(c.text));
      const names = result<Record<string, string[]>>('probe/names', { names: NAME_CASES.map((c) => c.name) });
      for (const c of NAME_CASES) assert.deepEqual(names[c.name], [...c.ids].sort(), c.name);
    });
  });

  test('SECRET_LITERAL through the prefilter: all cases in one step, and each alone, flag exactly the credential literals', () => {
    const args = VALUE_CASES.map((c) => c.text);
    const env = Object.fromEntries(NAME_CASES.map((c) => [c.name, 'x']));
    const wf = validate({
      id: 'wf',
      name: 'n',
      runId: 'run',
      steps: [{ name: 's', image: 'python:3.11', resources: R, args, env }],
    });
    assert.ok(wf.ok);
    const r = evaluate(
      policyInput('r', wf.value, wf.value.steps[0]!, buildPod(wf.value, wf.value.steps[0]!, ctx)),
      engine,
    );
    assert.ok(r.kind !== 'error', JSON.stringify(r));
    const violations = r.decision.violations;
    const flagged = new Set(violations.filter((v) => v.code === 'SECRET_LITERAL').map((v) => v.path));
    const expected = new Set([
      ...VALUE_CASES.flatMap((c, i) => (c.ids.length > 0 ? [`step.args[${i}]`] : [])),
      ...NAME_CASES.flatMap((c) => (c.ids.length > 0 ? [`step.env.${c.name}`] : [])),
    ]);
    assert.deepEqual([...flagged].sort(), [...expected].sort());
    for (const c of VALUE_CASES) {
      const alone = decide(engine, { name: 's', image: 'python:3.11', resources: R, command: ['sh', '-c', c.text] });
      assert.equal(alone.codes.includes('SECRET_LITERAL'), c.ids.length > 0, JSON.stringify(c.text));
    }
  });

  test(`SECRET_LITERAL across the words of a command line (REDTEAM 1): ${ARGV_CASES.length} cases, in the main container and a sidecar, and the benign ones allowed`, () => {
    for (const c of ARGV_CASES) {
      const words = { ...(c.command ? { command: [...c.command] } : {}), ...(c.args ? { args: [...c.args] } : {}) };
      const main = decide(engine, { name: 's', image: 'python:3.11', resources: R, ...words });
      assert.equal(
        main.codes.includes('SECRET_LITERAL'),
        c.secret !== undefined,
        `${JSON.stringify(words)}: ${main.codes.join(',')}`,
      );
      if (c.secret === undefined) assert.ok(main.allow, JSON.stringify(words));
      const side = decide(engine, {
        name: 's',
        image: 'python:3.11',
        resources: R,
        sidecars: [{ name: 'x', image: 'python:3.11', resources: R, ...words }],
      });
      assert.equal(side.codes.includes('SECRET_LITERAL'), c.secret !== undefined, `sidecar ${JSON.stringify(words)}`);
    }
  });

  test('env names (REDTEAM 1): PGPASSWORD, GH_PAT, SIGNING_KEY... with a literal value are denied, KEYBOARD and CACHE_KEY are not', () => {
    for (const c of NAME_CASES) {
      const d = decide(engine, { name: 's', image: 'python:3.11', resources: R, env: { [c.name]: 'hunter2' } });
      assert.equal(d.codes.includes('SECRET_LITERAL'), c.ids.length > 0, c.name);
    }
  });

  test('the bundle policy build writes (with settings.schema.json added) is still a bundle OPA itself reads, names unchanged', async () => {
    const { file } = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'inspect.tar.gz'));
    const { stdout } = await run(opa, ['inspect', '--format', 'json', file]);
    const info = JSON.parse(stdout) as { manifest: { revision: string; wasm?: { module: string }[] } };
    assert.equal(info.manifest.revision, bundle.revision);
    assert.deepEqual([...new Set(info.manifest.wasm?.map((w) => w.module))], ['/policy.wasm']);
  });

  test('a bundle whose data breaks the settings schema is not built (POLICY_SETTINGS_INVALID)', async () => {
    const dir = join(work, 'bad');
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    const data = JSON.parse(await readFile(join(dir, 'data.json'), 'utf8')) as {
      kubiya: { settings: { egress: Record<string, unknown> } };
    };
    data.kubiya.settings.egress.allowAnyDestination = 'false';
    await writeFile(join(dir, 'data.json'), JSON.stringify(data));
    await assert.rejects(
      buildBundle(opa, dir, join(work, 'bad.tar.gz')),
      (e: Error & { code?: string }) =>
        e.code === 'POLICY_SETTINGS_INVALID' && e.message.includes('kubiya.settings.egress.allowAnyDestination'),
    );
  });

  test('kubiya-runner policy build refuses bad settings: exit 2, POLICY_SETTINGS_INVALID with every path, no bundle written', async () => {
    const dir = join(work, 'cli-bad');
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    const data = JSON.parse(await readFile(join(dir, 'data.json'), 'utf8')) as {
      kubiya: { settings: { egress: Record<string, unknown>; enforcement: Record<string, unknown> } };
    };
    data.kubiya.settings.egress.allowAnyDestination = 'false';
    data.kubiya.settings.enforcement.IMAGE_TAG_NOT_PINNED = 'Deny';
    await writeFile(join(dir, 'data.json'), JSON.stringify(data));
    const out = join(work, 'cli-bad.tar.gz');
    const r = await run(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'policy', 'build', '--policies', dir, '--out', out],
      { env: { ...process.env, NO_COLOR: '1' } },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^POLICY_SETTINGS_INVALID: .*kubiya\.settings\.egress\.allowAnyDestination.*kubiya\.settings\.enforcement\.IMAGE_TAG_NOT_PINNED/,
    );
    await assert.rejects(readFile(out));
  });

  test('a rule package brings its settings fragment: built into the bundle, its settings checked, its wrong types refused', async () => {
    const dir = join(work, 'ext');
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    await mkdir(join(dir, 'kubiya', 'rules', 'timeouts'), { recursive: true });
    await writeFile(
      join(dir, 'kubiya', 'rules', 'timeouts', 'settings.schema.json'),
      JSON.stringify({ type: 'object', additionalProperties: false, properties: { required: { type: 'boolean' } } }),
    );
    await writeFile(
      join(dir, 'kubiya', 'rules', 'timeouts', 'timeouts.rego'),
      'package kubiya.rules.timeouts\n\nimport data.kubiya.lib\n\nviolations contains lib.violation("timeouts", "STEP_TIMEOUT_MISSING", "step.timeout", "set a timeout") if {\n\tlib.enabled(lib.section("timeouts"), "required")\n\tnot input.step.timeout\n}\n',
    );
    const data = JSON.parse(await readFile(join(dir, 'data.json'), 'utf8')) as {
      kubiya: { settings: Record<string, unknown> };
    };
    data.kubiya.settings.timeouts = { required: true };
    await writeFile(join(dir, 'data.json'), JSON.stringify(data));
    const { file } = await buildBundle(opa, dir, join(work, 'ext.tar.gz'));
    const ext = await readBundle(file);
    assert.deepEqual((ext.settingsSchema as { properties: Record<string, unknown> }).properties.timeouts, {
      type: 'object',
      additionalProperties: false,
      properties: { required: { type: 'boolean' } },
    });
    assert.deepEqual(decide(await loadEngine(ext), { name: 's', image: 'python:3.11', resources: R }).codes, [
      'STEP_TIMEOUT_MISSING',
    ]);
    data.kubiya.settings.timeouts = { required: 'true' };
    await writeFile(join(dir, 'data.json'), JSON.stringify(data));
    await assert.rejects(buildBundle(opa, dir, join(work, 'ext2.tar.gz')), /kubiya\.settings\.timeouts\.required/);
  });
});

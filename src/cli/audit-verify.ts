import { Command, Option } from 'commander';
import type { ChainRead } from '../adapters/audit-chains.ts';
import {
  assessChains,
  DEFAULT_MAX_UNCOVERED_RECORDS,
  DEFAULT_MAX_UNCOVERED_SECONDS,
  type Finding,
  type VerifyRules,
} from '../audit/assess.ts';
import { keyId } from '../audit/keys.ts';
import { printable } from '../audit/query.ts';
import { loadChains, publicKey, readAnchors } from './audit-read.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';

interface VerifyOptions {
  readonly output: string;
  readonly publicKey?: string;
  readonly allowUncoveredTail?: boolean;
  readonly maxUncoveredRecords: number;
  readonly maxUncoveredSeconds: number;
  readonly expectHead: string[];
  readonly minSeq?: number;
  readonly against?: string;
}

const count = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError('AUDIT_QUERY_INVALID', `${name} must be a whole number`);
  return n;
};

const HEX64 = /^[0-9a-f]{64}$/;

/** One chain as `--output json` prints it: the verification, the chain's identity and what to save. */
function chainJson(c: ChainRead, key: string | undefined): Record<string, unknown> {
  const r = c.log.report;
  return {
    dir: c.dir,
    intact: r.ok,
    ...r,
    genesis: c.genesis,
    kids: [...new Set(c.checkpoints.map((p) => p?.kid))],
    ...(key !== undefined ? { keyId: key } : {}),
    save: r.ok && r.records > 0 ? { expectHead: r.head, minSeq: r.lastSeq } : null,
  };
}

/**
 * How one chain's first line starts. `ok` only when the whole command succeeds: a chain that is
 * intact but named by a failing finding (rolled back, tail uncovered...) is `FAILED`, and an intact
 * chain beside a failing finding about no one chain (an `--expect-head` found nowhere) is
 * `intact`: the command fails, so no line of it says ok.
 */
type Verdict = 'ok' | 'intact' | 'FAILED';

/** The text lines of one chain's verification (as before, plus the key id and what to save). */
function chainText(
  c: ChainRead,
  key: string | undefined,
  paint: ReturnType<typeof painter>,
  mismatch: boolean,
  verdict: Verdict,
): string[] {
  const r = c.log.report;
  if (mismatch)
    return [
      `${paint('red', 'NOT VERIFIED')}: ${c.dir}: the key given did not sign its checkpoints (AUDIT_KEY_MISMATCH)`,
    ];
  if (!r.ok)
    return [
      `${paint('red', 'BROKEN')}: ${c.dir}: first bad record is seq ${r.firstBad?.seq ?? '?'} (${r.firstBad?.where ?? ''}): ${r.firstBad?.reason ?? ''}`,
    ];
  const lines = [
    `${verdict === 'ok' ? paint('green', 'ok') : verdict === 'FAILED' ? paint('red', 'FAILED') : verdict}: ${c.dir}: ${r.records} records in ${r.segments} segment(s), chain intact, head ${r.head.slice(0, 16)}…`,
    key === undefined
      ? `checkpoints: ${r.checkpoints.total} present, signatures NOT checked (give --public-key)`
      : `checkpoints: ${r.checkpoints.verified} of ${r.checkpoints.total} verified with kid ${key}, last at seq ${r.checkpoints.lastSeq}`,
  ];
  const u = r.checkpoints.uncovered;
  if (u !== null)
    lines.push(
      `records ${u.from}..${u.to} are not covered by a ${key === undefined ? 'checkpoint (and no signature was checked)' : 'signed checkpoint'}: records appended there with a correct seq, prev and hash would verify`,
    );
  for (const a of r.checkpoints.adopted)
    lines.push(
      `records ${a.from}..${a.to} were adopted at restart, not attested: covered by a checkpoint whose signer found them on disk when it started (hash chain checked only)`,
    );
  return lines;
}

/** The flags to keep for the next verification, so a rollback to before today is detected. */
function saveLine(chains: readonly ChainRead[]): string | undefined {
  const ok = chains.filter((c) => c.log.report.ok && c.log.report.records > 0);
  if (ok.length !== chains.length || ok.length === 0) return undefined;
  const heads = ok.map((c) => `--expect-head ${c.log.report.head}`).join(' ');
  const min = ok.length === 1 ? ` --min-seq ${ok[0]?.log.report.lastSeq ?? 0}` : '';
  return `keep for the next verification (detects a rollback): ${heads}${min}`;
}

function print(io: Io, chains: readonly ChainRead[], findings: readonly Finding[], opts: VerifyOptions, key?: string) {
  const ok = !findings.some((f) => f.fails);
  if (opts.output === 'json') {
    const list = chains.map((c) => chainJson(c, key));
    const only = list.length === 1 ? list[0] : undefined;
    const body = only !== undefined ? { ...only, ok, findings } : { ok, findings, chains: list };
    io.out(JSON.stringify(body));
    return;
  }
  const paint = painter(io);
  for (const c of chains) {
    const mismatch = findings.some((f) => f.code === 'AUDIT_KEY_MISMATCH' && f.dir === c.dir);
    const verdict: Verdict = findings.some((f) => f.fails && f.dir === c.dir) ? 'FAILED' : ok ? 'ok' : 'intact';
    for (const l of chainText(c, key, paint, mismatch, verdict)) io.out(printable(l));
  }
  for (const f of findings) {
    const line = printable(`${f.fails ? '' : 'note: '}${f.code}: ${f.message}`);
    if (f.fails) io.err(paint('red', line));
    else io.out(line);
  }
  const save = saveLine(chains);
  if (ok && save !== undefined) io.out(save);
}

/** Verifies every chain given and applies the rules; prints the result, returns the exit code. */
async function runVerify(io: Io, dirs: readonly string[], opts: VerifyOptions): Promise<number> {
  const bad = opts.expectHead.find((h) => !HEX64.test(h));
  if (bad !== undefined)
    throw new CliError('AUDIT_QUERY_INVALID', `--expect-head ${JSON.stringify(bad)} is not a 64-hex head`);
  if (opts.minSeq !== undefined && dirs.length > 1)
    throw new CliError(
      'AUDIT_QUERY_INVALID',
      '--min-seq names a seq of one chain: give one directory, or use --expect-head',
    );
  const anchors = opts.against !== undefined ? await readAnchors(opts.against) : [];
  const key = await publicKey(opts.publicKey);
  let n = 0;
  const progress = (): boolean => {
    if (io.color && ++n % 100_000 === 0) io.err(`verified ${n} records ...`);
    return false;
  };
  const heads = [...opts.expectHead, ...anchors.map((a) => a.expectHead)];
  const chains = await loadChains(dirs, key, progress, heads);
  const rules: VerifyRules = {
    keyId: key !== undefined ? keyId(key) : undefined,
    allowUncoveredTail: opts.allowUncoveredTail === true,
    maxUncoveredRecords: opts.maxUncoveredRecords,
    maxUncoveredSeconds: opts.maxUncoveredSeconds,
    expectHeads: opts.expectHead,
    minSeq: opts.minSeq,
    anchors,
  };
  const findings = assessChains(chains, rules);
  print(io, chains, findings, opts, rules.keyId);
  return findings.some((f) => f.fails) ? EXIT.failed : EXIT.ok;
}

/** `audit verify <dirs...>`: each chain on its own, then coverage, key and rollback rules over all. */
export function verifyCommand(io: Io, setCode: (c: number) => void): Command {
  return new Command('verify')
    .argument('<dirs...>', 'audit directories, one per replica')
    .description(
      'check the hash chain across segments and the signed checkpoints of each directory; names the first bad record, a key mix-up, an uncovered tail and a rollback',
    )
    .option('--public-key <file>', 'PEM public key of the checkpoint signer (without it, signatures are not checked)')
    .option(
      '--allow-uncovered-tail',
      'with --public-key: state, do not fail on, a log without checkpoints or with a tail far behind its last one',
    )
    .option(
      '--max-uncovered-records <n>',
      'more records than this after the last checkpoint is far behind',
      count('--max-uncovered-records'),
      DEFAULT_MAX_UNCOVERED_RECORDS,
    )
    .option(
      '--max-uncovered-seconds <s>',
      'a last record more than this after the last checkpoint is far behind',
      count('--max-uncovered-seconds'),
      DEFAULT_MAX_UNCOVERED_SECONDS,
    )
    .option(
      '--expect-head <hash>',
      'a head saved from an earlier verification: it must still be a record of the log (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      '--against <file>',
      'the saved output of an earlier `audit verify --output json`: each chain it lists must still hold the head and seq it saw',
    )
    .option(
      '--min-seq <n>',
      'the log must reach at least this seq (saved from an earlier verification; one directory)',
      count('--min-seq'),
    )
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      examples(
        'kubiya-runner audit verify /var/lib/kubiya/audit --public-key audit-signing.pub.pem',
        'kubiya-runner audit verify audit-0 audit-1 --public-key audit-signing.pub.pem --output json',
        'kubiya-runner audit verify .kubiya/demo/audit --output json > verified.json',
        'kubiya-runner audit verify .kubiya/demo/audit --against verified.json',
      ) +
        '\nverify: 0 intact and covered, 1 a record or checkpoint is bad, a key mix-up, an uncovered tail or a rollback (each named).',
    )
    .action(async (dirs: string[], opts: VerifyOptions) => setCode(await runVerify(io, dirs, opts)));
}

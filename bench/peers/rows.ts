/**
 * The rows of the peers scenario by their command-line names (issue 20 §1): runner, bare and
 * in-tree (this folder), gatekeeper (bench/peers/gatekeeper.ts, helper `gk`) and argo-defaults /
 * argo-tuned (bench/peers/argo.ts, helper `argo`). The two peer modules are loaded only if present
 * on this branch, so the harness runs (and typechecks) without them: a missing module is a skipped
 * row with the reason, never a stand-in.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster } from '../../src/dev/cluster.ts';
import type { RunnerKit } from '../runner-env.ts';
import { bareRow } from './bare-row.ts';
import { inTreeRow } from './intree-row.ts';
import type { PeerRow } from './peer.ts';
import { runnerRow } from './runner-row.ts';

export const ROW_NAMES = ['runner', 'bare', 'intree', 'gatekeeper', 'argo-defaults', 'argo-tuned'] as const;
export type RowName = (typeof ROW_NAMES)[number];

/** A row as the harness runs it: its name, the row (or why it is absent), and whether parity is judged. */
export interface RowEntry {
  readonly slug: RowName;
  readonly row: PeerRow | undefined;
  /** Why the row cannot run (its skipReason(), or its module is not on this branch). */
  readonly skip: string | undefined;
  /** false for the bare row: it has no policy (its answers are reported, not judged). */
  readonly parity: boolean;
}

/** Parses "runner,bare" into row names (throws on an unknown name). */
export function parseRows(list: string): RowName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names)
    if (!(ROW_NAMES as readonly string[]).includes(n))
      throw new Error(`unknown row "${n}" (rows: ${ROW_NAMES.join(', ')})`);
  return names as RowName[];
}

async function optionalModule(file: string): Promise<Record<string, unknown> | string> {
  const url = new URL(file, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return `bench/peers/${file} is not on this branch`;
  return (await import(url.href)) as Record<string, unknown>;
}

async function gatekeeper(): Promise<PeerRow | string> {
  const m = await optionalModule('gatekeeper.ts');
  if (typeof m === 'string') return m;
  const make = (m.gatekeeperRow ?? m.default) as (() => PeerRow) | undefined;
  return typeof make === 'function' ? make() : 'bench/peers/gatekeeper.ts exports no gatekeeperRow()';
}

async function argo(which: 'argo-defaults' | 'argo-tuned'): Promise<PeerRow | string> {
  const m = await optionalModule('argo.ts');
  if (typeof m === 'string') return m;
  const make = m.argoRows as (() => PeerRow[]) | undefined;
  if (typeof make !== 'function') return 'bench/peers/argo.ts exports no argoRows()';
  const rows = make();
  const tuned = (r: PeerRow): boolean => /tuned/i.test(r.name);
  const row = which === 'argo-tuned' ? rows.find(tuned) : rows.find((r) => !tuned(r));
  return row ?? `argoRows() has no ${which === 'argo-tuned' ? '"tuned"' : 'defaults'} row`;
}

async function make(slug: RowName, kit: RunnerKit, cluster: Cluster): Promise<PeerRow | string> {
  switch (slug) {
    case 'runner':
      return runnerRow(kit, cluster);
    case 'bare':
      return bareRow();
    case 'intree':
      return inTreeRow();
    case 'gatekeeper':
      return gatekeeper();
    case 'argo-defaults':
    case 'argo-tuned':
      return argo(slug);
  }
}

/** The rows named, in order, each with its skip reason asked once. */
export async function loadRows(names: readonly RowName[], kit: RunnerKit, cluster: Cluster): Promise<RowEntry[]> {
  const out: RowEntry[] = [];
  for (const slug of names) {
    const row = await make(slug, kit, cluster);
    if (typeof row === 'string') out.push({ slug, row: undefined, skip: row, parity: true });
    else out.push({ slug, row, skip: await row.skipReason(), parity: slug !== 'bare' });
  }
  return out;
}

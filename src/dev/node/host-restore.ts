import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeletCgroups, OUTSIDE_PATHS, readHostState, type AppliedChanges, type HostState } from './host-state.ts';
import { run } from './run.ts';

/** Chains, sets and tables of ours: the kubelet's, kube-proxy's, kube-router's and the CNI plugins'. */
const OURS = /^(KUBE-|CNI-|kube-router|kube-proxy)/i;

/** Splits one iptables-save rule line into arguments (double quotes group, as iptables-save writes them). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line))
    out.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : (m[2] ?? ''));
  return out;
}

/**
 * Writes back the sysctls whose value differs from `before`; those that did not exist before are
 * left. With `applied` (an unattended clear of a node left by an ended run): only a sysctl the node
 * set and that still holds the value it set — one changed since by anyone else is left as it is,
 * and named in `left`. Without (the owner's own `down`, or an operator's): every difference.
 * `root` is the sysctl tree (`/proc/sys`; a directory of files in tests).
 */
export function restoreSysctls(
  before: HostState['sysctls'],
  now: HostState['sysctls'],
  applied?: AppliedChanges,
  root = '/proc/sys',
): { readonly restored: string[]; readonly left: string[] } {
  const restored: string[] = [];
  const left: string[] = [];
  for (const [key, value] of Object.entries(before)) {
    const current = now[key];
    if (current === undefined || current === value) continue;
    if (applied !== undefined && applied.sysctls[key] !== current) {
      const set = applied.sysctls[key];
      left.push(
        set === undefined
          ? `sysctl ${key}: ${current.trim()} was not set by the node (recorded ${value.trim()}): left as it is`
          : `sysctl ${key}: ${current.trim()} was changed since the node set ${set.trim()} (recorded ${value.trim()}): left as it is`,
      );
      continue;
    }
    try {
      writeFileSync(join(root, key.replaceAll('.', '/')), value);
      restored.push(`${key}=${value.trim()}`);
    } catch {
      // read-only: cannot have been changed by us
    }
  }
  return { restored, left };
}

/** Unmounts, deepest first, every mount point that appeared since `before` under one of `roots`. */
export async function unmountNew(beforeMounts: readonly string[], roots: readonly string[]): Promise<void> {
  const now = (await readHostState()).mounts;
  const targets = now
    .filter((m) => !beforeMounts.includes(m))
    .map((m) => m.split(' ')[0] ?? '')
    .filter((t) => roots.some((r) => t === r || t.startsWith(`${r}/`)))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) {
    const r = await run('umount', [t]);
    if (r.code !== 0) await run('umount', ['-l', t]);
  }
}

/** Removes, from one family's iptables, the rules and chains of ours that were not there before. */
async function restoreIptables(family: 'ip' | 'ip6', before: string): Promise<void> {
  const bin = family === 'ip' ? 'iptables' : 'ip6tables';
  const had = new Set(before.split('\n'));
  const now = (await run(`${bin}-save`, [])).stdout.split('\n');
  let table = '';
  const rules: [string, string[]][] = [];
  const chains: [string, string][] = [];
  for (const line of now) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0] ?? '';
      if (OURS.test(chain) && !had.has(line.replace(/ \[\d+:\d+\]$/, ''))) chains.push([table, chain]);
    } else if (line.startsWith('-A ') && !had.has(line) && /KUBE-|CNI-|kubiya-cni0/.test(line))
      rules.push([table, splitRule(line).slice(1)]);
  }
  for (const [t, args] of rules) await run(bin, ['-w', '-t', t, '-D', ...args]);
  for (const [t, chain] of chains) await run(bin, ['-w', '-t', t, '-F', chain]);
  for (const [t, chain] of chains) await run(bin, ['-w', '-t', t, '-X', chain]);
}

/**
 * Removes the iptables rules/chains, nft tables and ipsets of ours that were not there before;
 * iptables-nft tables that did not exist before and are now empty (builtin chains, no rules) go too.
 * Never flushes a table that holds anything else.
 */
export async function restoreFirewall(before: HostState): Promise<void> {
  for (const family of ['ip', 'ip6'] as const) await restoreIptables(family, before.iptables[family]);
  const after = await readHostState();
  for (const family of ['ip', 'ip6'] as const) {
    const text = after.iptables[family];
    let table = '';
    const content = new Map<string, string[]>();
    for (const line of text.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1);
      else if (line !== 'COMMIT' && table !== '') content.set(table, [...(content.get(table) ?? []), line]);
    }
    for (const [t, body] of content) {
      const existed = before.nftTables.includes(`table ${family} ${t}`);
      const empty = body.every((l) => /^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ACCEPT$/.test(l));
      if (!existed && empty) await run('nft', ['delete', 'table', family, t]);
    }
  }
  for (const t of after.nftTables)
    if (!before.nftTables.includes(t) && OURS.test(t.split(' ')[2] ?? ''))
      await run('nft', ['delete', ...t.split(' ')]);
  for (const s of after.ipsets) if (!before.ipsets.includes(s) && OURS.test(s)) await run('ipset', ['destroy', s]);
}

/** Kills what is left in the kubelet's cgroups (our containers only) and removes the cgroups, deepest first. */
export async function removeCgroups(before: readonly string[]): Promise<void> {
  const roots = kubeletCgroups().filter((c) => !before.includes(c));
  const dirs: string[] = [];
  const walk = (d: string): void => {
    dirs.push(d);
    for (const e of readdirSync(d)) if (statSync(join(d, e)).isDirectory()) walk(join(d, e));
  };
  for (const r of roots) walk(r);
  for (const d of dirs) {
    try {
      for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
        process.kill(Number(pid), 'SIGKILL');
    } catch {
      // empty or gone
    }
  }
  dirs.sort((a, b) => b.length - a.length);
  for (let attempt = 0; attempt < 20; attempt++) {
    let left = 0;
    for (const d of dirs) {
      try {
        if (existsSync(d)) rmdirSync(d);
      } catch {
        left++;
      }
    }
    if (left === 0) return;
    await sleep(100);
  }
}

/**
 * Removes the directories written outside the node's own that did not exist before. With `applied`
 * (an unattended clear): only those the node was recorded creating — one that appeared after its
 * last record may be another runtime's, and is left and named in the answer. `paths` is the list
 * to consider (OUTSIDE_PATHS; others in tests).
 */
export async function removeOutsidePaths(
  before: readonly string[],
  applied?: AppliedChanges,
  paths: readonly string[] = OUTSIDE_PATHS,
): Promise<string[]> {
  const left: string[] = [];
  for (const p of paths) {
    if (before.includes(p) || !existsSync(p)) continue;
    if (applied !== undefined && !applied.paths.includes(p)) {
      left.push(`path ${p}: not recorded as created by the node: left as it is`);
      continue;
    }
    await rm(p, { recursive: true, force: true });
  }
  return left;
}

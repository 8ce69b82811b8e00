import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isNode, isScalar, parseAllDocuments, visit, type Document, type Node } from 'yaml';
import { maskKeyMaterial, valueHoldsPrivateKey } from '../policy/key-material.ts';
import { execFileOwned, mkdirWithin, namingSources } from './exit-cleanup.ts';

/**
 * The private-key check of `policy build --values` (docs/adr/0011-values-read-by-helm.md): helm is
 * the reader of the values. A second parser (the `yaml` library) read them differently from helm
 * four times (duplicate keys, YAML 1.1 merge keys and `!!binary`, go-yaml's merge order, an alias
 * count), so what the chart takes is now what helm itself reads: a scratch chart whose one template
 * prints `.Values` as JSON, rendered with the file alone, no schema and no other template, so no
 * other refusal of the chart can come first and hide one.
 */

/** The scratch chart: `.Values` as JSON, under a key (a top-level `kind` or `metadata` value would otherwise be read as the manifest's). */
const READER_CHART: Record<string, string> = {
  'Chart.yaml': 'apiVersion: v2\nname: values-reader\nversion: 0.0.0\n',
  'templates/values.json': '{"values":{{ toJson .Values }}}\n',
};

/**
 * The most of helm's reading taken (its JSON). A values file is at most
 * OPERATOR_FILE_MAX_BYTES.config (8 MiB) with its aliases expanded (expandedSize, checked before
 * helm runs), and JSON at most sextuples a character (`\u0000`); past this, the reading is refused.
 */
export const HELM_READING_MAX_BYTES = 64 * 1024 * 1024;

/** Helm's reading of one values file, or why it does not read it (helm's message, masked, naming `source`). */
export type HelmReading =
  { readonly ok: true; readonly values: unknown } | { readonly ok: false; readonly why: string };

/**
 * The values of the file at `path` as helm reads them for an install: go-yaml through
 * sigs.k8s.io/yaml, the first document only, a duplicate key's last value, `<<` merged in
 * go-yaml's order, `!!binary` decoded, nulls and all. The scratch chart is written under `dir`
 * (private: withTempDir). `source` names the file in the message; key material is masked.
 */
export async function helmReading(
  helm: string,
  file: { readonly source: string; readonly path: string },
  dir: string,
): Promise<HelmReading> {
  const chart = join(dir, 'values-reader');
  await mkdirWithin(dir, join(chart, 'templates'));
  for (const [name, text] of Object.entries(READER_CHART))
    await writeFile(join(chart, name), text, { mode: 0o600, flag: 'w' });
  const args = ['template', 'values', chart, '--values', file.path];
  return execFileOwned(helm, args, { maxBuffer: HELM_READING_MAX_BYTES }).then(
    ({ stdout }) => {
      const at = stdout.indexOf('\n{"values":');
      if (at < 0) return { ok: false, why: 'helm printed no values' };
      return { ok: true, values: (JSON.parse(stdout.slice(at + 1)) as { values: unknown }).values };
    },
    (e: { code?: unknown; stderr?: string; message?: string }) => {
      if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
        return { ok: false, why: `helm's reading of it is over ${HELM_READING_MAX_BYTES / 1024 / 1024} MiB` };
      const said = namingSources((e.stderr ?? e.message ?? '').trim(), [{ copy: file.path, source: file.source }]);
      return { ok: false, why: maskKeyMaterial(said) };
    },
  );
}

/** The index of the first entry of `policy.verificationKeys` in helm's reading that holds private key material, or -1. */
export function privateKeyEntry(values: unknown): number {
  const keys = (values as { policy?: { verificationKeys?: unknown } } | null)?.policy?.verificationKeys;
  if (keys === undefined || keys === null) return -1;
  // The schema wants a list; a mapping or a string there is refused by it, and is checked whole here.
  if (!Array.isArray(keys)) return valueHoldsPrivateKey(keys) ? 0 : -1;
  return keys.findIndex((k) => valueHoldsPrivateKey(k));
}

/** A pair's key is the plain scalar `name`. */
const named = (key: unknown, name: string): boolean => isScalar(key) && key.value === name;

/** A list item as the check reads it: the bytes of a `!!binary` scalar as UTF-8; anything else as it is. */
const asText = (k: unknown): unknown => (k instanceof Uint8Array ? Buffer.from(k).toString('utf8') : k);

/**
 * The index of a private key in a `verificationKeys` list that the file SPELLS but helm does not
 * read — the first of a duplicate key's values, a document after the first (red team 18, finding
 * 9; red team 19, finding 1), a merge source the explicit key outranks: the key is exposed all
 * the same. Only adds refusals to
 * helm's reading, never replaces it: a document this parser cannot read, or whose aliases it
 * will not expand (more than 100 per anchor: the `yaml` library's bound), is left to helm's
 * reading, never refused here (red team 20, finding 8). -1: none found.
 */
export function privateKeyInText(text: string): number {
  for (const doc of parseAllDocuments(text, { uniqueKeys: false, version: '1.1', merge: true })) {
    if (doc.errors.length > 0) continue;
    for (const keys of verificationKeysLists(doc)) {
      if (!Array.isArray(keys)) continue;
      const i = keys.findIndex((k) => valueHoldsPrivateKey(asText(k)));
      if (i >= 0) return i;
    }
  }
  return -1;
}

/**
 * The value of every `verificationKeys` pair written in `doc`, at any depth — duplicates, a merge
 * key's source whichever side of the explicit key it stands, an anchored mapping — resolved
 * (aliases followed); a value whose aliases the parser will not expand is left out.
 */
function verificationKeysLists(doc: Document): unknown[] {
  const lists: unknown[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (!named(pair.key, 'verificationKeys')) return;
      try {
        lists.push(isNode(pair.value) ? pair.value.toJS(doc, { maxAliasCount: 100 }) : pair.value);
      } catch {
        // more aliases than the parser expands: helm's reading decides
      }
    },
  });
  return lists;
}

/**
 * The size of `text` with every alias replaced by what it names (source characters, all
 * documents), counted without expanding anything; counting stops once past `limit`. helm's go-yaml
 * bounds aliases by a ratio of decoded nodes only, so 100 aliases of one 4 MiB string passed it and
 * took helm minutes and gigabytes (measured: 3 min 47 s, 5.9 GB resident, 424 MB out): the values
 * are refused before helm reads them when this exceeds the size a file may have at all, so aliases
 * make helm read no more than a file without them could hold (red team 20, finding 8: bound the
 * expansion, not the count of references). An alias of one of its own ancestors counts as unbounded.
 */
export function expandedSize(text: string, limit: number): number {
  let total = 0;
  for (const doc of parseAllDocuments(text, { uniqueKeys: false, version: '1.1', merge: true })) {
    const memo = new Map<Node, number>();
    const open = new Set<Node>();
    const size = (node: Node): number => {
      const known = memo.get(node);
      if (known !== undefined) return known;
      if (open.has(node)) return Infinity;
      open.add(node);
      let n = node.range ? node.range[2] - node.range[0] : 0;
      visit(node, {
        Alias(_, alias) {
          const target = alias.resolve(doc);
          n += target === undefined ? 0 : size(target);
          return n > limit ? visit.BREAK : undefined;
        },
      });
      open.delete(node);
      memo.set(node, n);
      return n;
    };
    total += isNode(doc.contents) ? size(doc.contents) : 0;
    if (total > limit) break;
  }
  return total;
}

/**
 * REDTEAM-3 finding 7's class, "settings the schema accepts that the Rego cannot decide": every
 * settings list the Rego reads as an object by one field (lib.keyed), with two valid entries that
 * share that field. Used by test/unit/settings-keyed.test.ts (the settings schema and the chart's
 * generated schema) and test/policies/keyed-settings.test.ts (the compiled policy with the same
 * duplicates loaded unchecked).
 */
export interface KeyedList {
  /** Section and list, as in data.kubiya.settings. */
  readonly section: string;
  readonly list: string;
  readonly key: string;
  /** Two entries with the same key, not identical (the reported shape). */
  readonly a: Record<string, unknown>;
  readonly b: Record<string, unknown>;
}

export const KEYED_LISTS: readonly KeyedList[] = [
  {
    section: 'serviceAccounts',
    list: 'allowed',
    key: 'name',
    a: { name: 'deployer' },
    b: { name: 'deployer', token: { audiences: ['x'] } },
  },
  {
    section: 'pullSecrets',
    list: 'allowed',
    key: 'name',
    a: { name: 'acme-registry' },
    b: { name: 'acme-registry', registries: ['ghcr.io/acme'] },
  },
  {
    section: 'placement',
    list: 'nodeSelectors',
    key: 'key',
    a: { key: 'pool', values: ['gpu'] },
    b: { key: 'pool', values: ['cpu'] },
  },
];

/** Settings holding `entries` as the list of `k`. */
export const settingsWith = (k: KeyedList, entries: readonly unknown[]): Record<string, unknown> => ({
  [k.section]: { [k.list]: entries },
});

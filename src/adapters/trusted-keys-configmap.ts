import { ApiException, CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { JWK } from 'jose';
import { fail, ok, type Result } from '../errors/result.ts';
import {
  merge,
  parseTrustedKey,
  serialiseTrustedKey,
  type TrustedKey,
  type TrustedKeyStore,
} from '../verify/trusted-keys.ts';

export interface ConfigMapTrustedKeysOptions {
  /** The ConfigMap's name: `<lease name>-trusted-keys` (the chart creates it and grants get/update on it only). */
  readonly name: string;
  /** The runner's own namespace (where its Lease is). */
  readonly namespace: string;
  /** Attempts at a write that lost an optimistic-concurrency race to another replica. */
  readonly attempts?: number;
}

/** The name of the trusted-key ConfigMap of a runner whose Lease has this name. */
export const trustedKeysName = (leaseName: string): string => `${leaseName}-trusted-keys`;

/**
 * The trusted-key store (DESIGN §2b) as one ConfigMap in the runner's namespace: one data entry
 * per key, named by its RFC 7638 thumbprint, holding `{ jwk, firstSeen, lastSeen }` as JSON.
 * Shared by every replica and kept across restarts. Writes use optimistic concurrency
 * (resourceVersion) and merge, so two replicas recording keys at once both land; entries only
 * ever grow or move lastSeen forward. An entry that does not parse is ignored (not trusted) and
 * kept as it is. Public keys only: a ConfigMap is enough (nothing secret), but whoever can write
 * it can add a trusted key, so it gets the same protection as the runner's configuration.
 */
export class ConfigMapTrustedKeys implements TrustedKeyStore {
  private readonly api: CoreV1Api;
  private readonly o: ConfigMapTrustedKeysOptions;
  private cache: { readonly keys: readonly TrustedKey[]; readonly object: V1ConfigMap | undefined } | undefined;
  /** Writes from this process, one at a time (the API server orders the others). */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(kc: KubeConfig, options: ConfigMapTrustedKeysOptions) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.o = options;
  }

  async list(fresh = false): Promise<Result<readonly TrustedKey[]>> {
    if (!fresh && this.cache !== undefined) return ok(this.cache.keys);
    const read = await this.read();
    return read.ok ? ok(read.value.keys) : read;
  }

  observe(keys: readonly JWK[], at: Date): Promise<Result<void>> {
    const run = this.writing.then(() => this.write(keys, at));
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async write(keys: readonly JWK[], at: Date): Promise<Result<void>> {
    for (let attempt = 0; attempt < (this.o.attempts ?? 5); attempt++) {
      let state = this.cache;
      if (state === undefined) {
        const read = await this.read();
        if (!read.ok) return read;
        state = read.value;
      }
      const next = await merge(state.keys, keys, at);
      // Entries only grow and lastSeen only moves forward: a copy that needs no write is enough.
      if (next === undefined) return ok(undefined);
      const data: Record<string, string> = { ...state.object?.data };
      for (const k of next) data[k.thumbprint] = serialiseTrustedKey(k);
      try {
        const { name, namespace } = this.o;
        const object =
          state.object === undefined
            ? await this.api.createNamespacedConfigMap({
                namespace,
                body: {
                  metadata: { name, namespace, labels: { 'app.kubernetes.io/component': 'trusted-keys' } },
                  data,
                },
              })
            : await this.api.replaceNamespacedConfigMap({ name, namespace, body: { ...state.object, data } });
        this.cache = { keys: next, object };
        return ok(undefined);
      } catch (thrown) {
        // Another replica wrote first: read again and merge into what it wrote.
        if (thrown instanceof ApiException && thrown.code === 409) {
          this.cache = undefined;
          continue;
        }
        return fail(
          'TRUSTED_KEYS_UNAVAILABLE',
          `could not write ConfigMap ${this.o.namespace}/${this.o.name}: ${describe(thrown)}`,
        );
      }
    }
    return fail(
      'TRUSTED_KEYS_UNAVAILABLE',
      `could not write ConfigMap ${this.o.namespace}/${this.o.name}: too many concurrent writers`,
    );
  }

  private async read(): Promise<
    Result<{ readonly keys: readonly TrustedKey[]; readonly object: V1ConfigMap | undefined }>
  > {
    const { name, namespace } = this.o;
    try {
      const object = await this.api.readNamespacedConfigMap({ name, namespace });
      const keys = Object.entries(object.data ?? {}).flatMap(
        ([thumbprint, text]) => parseTrustedKey(thumbprint, text) ?? [],
      );
      this.cache = { keys, object };
      return ok(this.cache);
    } catch (thrown) {
      if (thrown instanceof ApiException && thrown.code === 404) {
        this.cache = { keys: [], object: undefined };
        return ok(this.cache);
      }
      return fail('TRUSTED_KEYS_UNAVAILABLE', `could not read ConfigMap ${namespace}/${name}: ${describe(thrown)}`);
    }
  }
}

function describe(thrown: unknown): string {
  if (thrown instanceof ApiException) return `API server answered ${thrown.code}`;
  return thrown instanceof Error ? thrown.message.slice(0, 200) : 'unknown error';
}

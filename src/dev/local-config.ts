import type { ConfigInput } from '../config/schema.ts';
import { LOCAL_STORAGE_CLASS } from './bootstrap.ts';
import type { Cluster } from './cluster.ts';

/** The files a runner on the local control plane reads: the control plane's keys, the bundle, the audit directory. */
export interface LocalRunnerFiles {
  readonly name: string;
  readonly issuer: string;
  /** A JWKS document (`{"keys": [...]}`) with the control plane's public keys. */
  readonly jwksFile: string;
  /** `policy build`'s bundle.tar.gz (or a bundle directory). */
  readonly bundle: string;
  readonly auditDir: string;
  /** Ed25519 PKCS#8 PEM for signed audit checkpoints; none: no checkpoints. */
  readonly signingKeyFile?: string | undefined;
}

/**
 * The config document of a runner on the local control plane (`dev cluster up`), for the demo and
 * the cluster tests: only what the cluster and the files decide — its kubeconfig, namespaces and
 * storage class — is set; everything else is the schema's default once `parseConfig` reads it.
 */
export function localRunnerConfig(cluster: Cluster, files: LocalRunnerFiles): ConfigInput {
  return {
    runner: {
      name: files.name,
      workflow: { namespace: cluster.workflowsNamespace },
      storage: { storageClass: LOCAL_STORAGE_CLASS },
    },
    controlPlane: { issuer: files.issuer, jwksFile: files.jwksFile },
    policy: { bundle: files.bundle },
    audit: {
      dir: files.auditDir,
      ...(files.signingKeyFile === undefined ? {} : { checkpoint: { signingKeyFile: files.signingKeyFile } }),
    },
    kubernetes: { kubeconfig: cluster.kubeconfig, namespace: cluster.runnerNamespace },
  };
}

import { z } from 'zod';
import { auditSection } from './schema-audit.ts';
import { controlPlaneSection } from './schema-control-plane.ts';
import { dnsLabel } from './schema-fields.ts';
import { kubernetesSection } from './schema-kubernetes.ts';
import { policySection } from './schema-policy.ts';
import { runnerSection } from './schema-runner.ts';
import { serverSection } from './schema-server.ts';

/**
 * The runner's configuration. `runner.*` is keyed exactly as the seed's values.yaml (the Helm
 * chart passes that section through); the other sections are ours. Strict: unknown keys fail.
 * Each section's schema is in its own module (schema-<section>.ts); the two smallest, `egress`
 * and `log`, are here.
 */
export const configSchema = z.strictObject({
  runner: runnerSection,
  controlPlane: controlPlaneSection,
  policy: policySection,
  egress: z
    .strictObject({
      /** networkpolicy: ipBlock rules; cilium: CiliumNetworkPolicy toFQDNs for hostnames (issue #5). */
      mode: z.enum(['networkpolicy', 'cilium']).default('networkpolicy'),
      /** The namespace of the cluster DNS pods (k8s-app=kube-dns): the only DNS peer a step's policy allows. */
      dnsNamespace: dnsLabel.default('kube-system'),
    })
    .prefault({}),
  audit: auditSection,
  server: serverSection,
  kubernetes: kubernetesSection,
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

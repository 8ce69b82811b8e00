import type { V1Container, V1EnvVar, V1PodSpec, V1Probe, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { Step } from '../validate/schema.ts';
import { SERVICE_ACCOUNT_TOKEN_DIR, type ReadinessProbeSpec } from '../validate/workload.ts';

/**
 * The pod fields of issue 19 items 1, 2, 3 and 7 (docs/workflows.md), each from the step as
 * signed and decided by policy before the pod exists: pull secrets, node placement, the step's
 * identity (a projected token, never the legacy automount), sidecar ports and readiness.
 */

/** The projected token's volume, and where the step's own container finds it (read-only). */
export const SERVICE_ACCOUNT_TOKEN_VOLUME = 'kubiya-sa-token';
export { SERVICE_ACCOUNT_TOKEN_DIR };
/** Lifetime of a projected token when the step names none (seconds; the API server's default). */
export const DEFAULT_TOKEN_SECONDS = 3600;

/** imagePullSecrets and the placement fields of a pod spec, only those the step sets. */
export function placementFields(step: Step): Pick<V1PodSpec, 'imagePullSecrets' | 'nodeSelector' | 'tolerations'> {
  return {
    ...(step.imagePullSecrets !== undefined
      ? { imagePullSecrets: step.imagePullSecrets.map((name) => ({ name })) }
      : {}),
    ...(step.nodeSelector !== undefined ? { nodeSelector: { ...step.nodeSelector } } : {}),
    ...(step.tolerations !== undefined ? { tolerations: step.tolerations.map((t) => ({ ...t })) } : {}),
  };
}

/** The identity of a step's pod: the account name, and the token volume and mount when one is asked for. */
export interface Identity {
  readonly serviceAccountName: string;
  readonly volume?: V1Volume | undefined;
  readonly mount?: V1VolumeMount | undefined;
  /** The env variable that names the token file, when the step asks for one. */
  readonly env?: V1EnvVar | undefined;
}

/**
 * The step's ServiceAccount (or the configured one), with `automountServiceAccountToken: false`
 * set by the caller whatever this returns. A token asked for becomes one projected
 * serviceAccountToken source with the step's audience and lifetime: the kubelet rotates it, the
 * API server binds it to the pod (it dies with the pod), and it is valid for that audience only.
 */
export function identity(step: Step, configured: string): Identity {
  const sa = step.serviceAccount;
  if (sa === undefined) return { serviceAccountName: configured };
  if (typeof sa === 'string' || sa.token === undefined)
    return { serviceAccountName: typeof sa === 'string' ? sa : sa.name };
  return {
    serviceAccountName: sa.name,
    volume: {
      name: SERVICE_ACCOUNT_TOKEN_VOLUME,
      projected: {
        defaultMode: 0o440,
        sources: [
          {
            serviceAccountToken: {
              audience: sa.token.audience,
              expirationSeconds: sa.token.expirationSeconds ?? DEFAULT_TOKEN_SECONDS,
              path: 'token',
            },
          },
        ],
      },
    },
    mount: { name: SERVICE_ACCOUNT_TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_TOKEN_DIR, readOnly: true },
    ...(sa.token.env !== undefined ? { env: { name: sa.token.env, value: `${SERVICE_ACCOUNT_TOKEN_DIR}/token` } } : {}),
  };
}

type Sidecar = NonNullable<Step['sidecars']>[number];

function handler(p: ReadinessProbeSpec): Pick<V1Probe, 'tcpSocket' | 'exec'> {
  return 'tcpSocket' in p ? { tcpSocket: { port: p.tcpSocket.port } } : { exec: { command: [...p.exec.command] } };
}

const timing = (p: ReadinessProbeSpec): Omit<V1Probe, 'tcpSocket' | 'exec'> => ({
  ...(p.initialDelaySeconds !== undefined ? { initialDelaySeconds: p.initialDelaySeconds } : {}),
  ...(p.periodSeconds !== undefined ? { periodSeconds: p.periodSeconds } : {}),
  ...(p.timeoutSeconds !== undefined ? { timeoutSeconds: p.timeoutSeconds } : {}),
  ...(p.failureThreshold !== undefined ? { failureThreshold: p.failureThreshold } : {}),
});

/**
 * A sidecar's ports and probes. The readiness probe is rendered twice: as `readinessProbe` (the
 * sidecar's Ready condition) and as `startupProbe` with the same handler, because that is what
 * orders startup: for a native sidecar (KEP-753) the kubelet starts the next init container, and
 * finally the step's own container, only once the sidecar is started, which with a startupProbe
 * means the probe has succeeded. The startup probe polls every 2 s for up to 60 tries unless the
 * step says otherwise; a sidecar that never gets ready is restarted by the kubelet (its
 * restartPolicy is Always), the step's container never starts, and the step ends at its timeout
 * (STEP_DEADLINE_EXCEEDED; shown on a real kubelet in test/node/step-features.test.ts).
 */
export function sidecarFields(s: Sidecar): Pick<V1Container, 'ports' | 'readinessProbe' | 'startupProbe'> {
  const out: Pick<V1Container, 'ports' | 'readinessProbe' | 'startupProbe'> = {};
  if (s.ports !== undefined)
    out.ports = s.ports.map((p) => ({
      containerPort: p.port,
      ...(p.name !== undefined ? { name: p.name } : {}),
      protocol: p.protocol ?? 'TCP',
    }));
  const p = s.readinessProbe;
  if (p !== undefined) {
    out.readinessProbe = { ...handler(p), ...timing(p) };
    out.startupProbe = { ...handler(p), periodSeconds: 2, failureThreshold: 60, ...timing(p) };
  }
  return out;
}

/**
 * The pod context most policy and pod tests build steps with (the runner's defaults: namespace
 * kubiya-workflows, service account kubiya-workflow, 1800 s timeout), and the resources of a step
 * that every resource rule allows (requests 100m / 128Mi, a 256Mi memory limit).
 */
export const TEST_POD_CONTEXT = {
  runner: 'r',
  namespace: 'kubiya-workflows',
  serviceAccount: 'kubiya-workflow',
  defaultTimeoutSeconds: 1800,
};

export const STEP_RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
